"""Test-session setup: runs that several tests read, and the gevent split.

Importing Locust monkey-patches the whole process with gevent (sockets, threads, selectors), which
breaks tests that serve the simulator with asyncio in a thread. So the tests that import Locust live
in `tests/gevent/` and run in a pytest process of their own: `make test` runs `pytest` (everything
else) and then `pytest tests/gevent`. A plain `pytest` never collects `tests/gevent/`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported where used: tests/gevent must import Locust (gevent's patching) before the rest
    from tests.support.e2e import RunnerResult

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


# --- Runs made once for the tests that read their files (each test checks its own part, none depends on another)

@pytest.fixture(scope="session")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> RunnerResult:
    """`python -m loadgen run --duration 8 --users 6 --spawn-rate 6`: Binance, the default scenario (read by
    tests/test_e2e_runner.py and tests/test_e2e_sim_saturation.py)."""
    from tests.support.e2e import loadgen_run

    return loadgen_run(tmp_path_factory.mktemp("default-run") / "results",
                       "--duration", "8", "--users", "6", "--spawn-rate", "6")


@pytest.fixture(scope="session")
def canary_keys() -> dict[str, str]:
    """A canary value for every simulator key variable: the all-exchanges run's users sign with them."""
    from tests.support.e2e import SIMULATOR_KEY_VARS, canary

    return {var: canary(var.split("_")[-1], b64) for variables in SIMULATOR_KEY_VARS.values()
            for var, b64 in variables.items()}


@pytest.fixture(scope="session")
def all_exchanges_run(tmp_path_factory: pytest.TempPathFactory, canary_keys: dict[str, str]) -> RunnerResult:
    """`python -m loadgen run --exchange all --duration 10 --spawn-rate ALL_USERS`: the default users of a
    side-by-side run (every user kind of every exchange at least once), all started at once, every exchange's
    simulator keys set to canaries (read by tests/test_e2e_runner.py and tests/test_e2e_secrets.py, which looks
    for the canaries in the files, the output and the process list)."""
    from tests.support.e2e import ALL_USERS, loadgen_run

    env = {**os.environ, **canary_keys, "PYTHONUNBUFFERED": "1"}
    return loadgen_run(tmp_path_factory.mktemp("all-exchanges-run") / "results", "--exchange", "all",
                       "--duration", "10", "--spawn-rate", str(ALL_USERS), env=env)
