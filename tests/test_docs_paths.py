"""README.md and docs/ name only files and folders of the repository that exist (so a move cannot leave them stale)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
GUIDES = ("README.md", *sorted(f"docs/{p.name}" for p in (REPO_ROOT / "docs").glob("*.md")))
RUN_FILES = {"analysis/report.md"}  # a run directory's file, named in README's table of what a run leaves
TOP = "loadgen|exchanges|simulator|analysis|locustfiles|tests|bench|docs"
PATH = re.compile(rf"(?<![\w/<.-])((?:{TOP})/[\w./-]*)(?![\w<*])")  # not a pattern such as tests/test_<venue>.py


@pytest.mark.parametrize("guide", GUIDES)
def test_every_path_a_guide_names_exists(guide: str) -> None:
    text = (REPO_ROOT / guide).read_text(encoding="utf-8")
    named = {m.rstrip(".") for m in PATH.findall(text) if "<" not in m} - RUN_FILES
    missing = sorted(p for p in named if not (REPO_ROOT / p).exists())
    assert not missing, f"{guide} names paths that do not exist: {missing}"
