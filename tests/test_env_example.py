"""`.env.example` lists every key variable the README names and every exchange's users read."""

from __future__ import annotations

import re
from pathlib import Path

from dotenv import dotenv_values

from exchanges import NAMES, get_adapter

REPO_ROOT = Path(__file__).resolve().parent.parent


def named_in_readme() -> set[str]:
    """Key variables as the README writes them, shorthand included: `BINANCE_API_KEY`/`_SECRET`."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    names = set()
    for match in re.finditer(r"`([A-Z]+_API)_([A-Z]+)`((?:/`_[A-Z]+`)*)", text):
        stem = match.group(1)
        names.add(f"{stem}_{match.group(2)}")
        names.update(f"{stem}{suffix}" for suffix in re.findall(r"`(_[A-Z]+)`", match.group(3)))
    return names


def test_env_example_lists_every_key_variable():
    listed = set(dotenv_values(REPO_ROOT / ".env.example"))
    readme = named_in_readme()
    assert {"KRAKEN_API_KEY", "KRAKEN_API_SECRET", "COINBASE_API_PASSPHRASE"} <= readme  # the shorthand is read
    users = {var for name in NAMES for var in get_adapter(name).user_key_vars}
    assert readme | users <= listed, sorted((readme | users) - listed)
