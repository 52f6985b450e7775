"""The commands of docs/adding-an-exchange.md, run as a contributor types them from the repository's root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.docs import shell_commands

REPO_ROOT = Path(__file__).resolve().parent.parent
COMMANDS = shell_commands((REPO_ROOT / "docs" / "adding-an-exchange.md").read_text(encoding="utf-8"))


def test_the_guide_shows_commands():
    assert len(COMMANDS) >= 2


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a[3:]) for a in COMMANDS])
def test_each_command_of_the_guide_passes(argv: list[str]):
    assert argv[0] == ".venv/bin/python"  # the checkout's own environment, as `make dev` sets it up
    cmd = [sys.executable, *argv[1:], "-p", "no:cacheprovider"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
