"""Test-session setup.

Importing Locust monkey-patches the whole process with gevent (sockets, threads, selectors), which
breaks tests that serve the simulator with asyncio in a thread. So the tests that import Locust live
in `tests/gevent/` and run in a pytest process of their own: `make test` runs `pytest` (everything
else) and then `pytest tests/gevent`. A plain `pytest` never collects `tests/gevent/`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

GEVENT_DIR = Path(__file__).resolve().parent / "gevent"


def _names_gevent_dir(arg: str) -> bool:
    path = Path(arg.split("::", 1)[0]).resolve()
    return path == GEVENT_DIR or GEVENT_DIR in path.parents


def pytest_configure(config: pytest.Config) -> None:
    named = [_names_gevent_dir(a) for a in config.args]
    if any(named) and not all(named):
        raise pytest.UsageError("run tests/gevent in a pytest process of its own (see tests/conftest.py)")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path == GEVENT_DIR and not any(_names_gevent_dir(a) for a in config.args):
        return True
    return None
