"""Helpers for end-to-end tests: a real simulator process and real headless Locust runs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from exchanges import get_adapter
from loadgen.credentials import SIMULATOR_KEYS_VAR
from loadgen.processes import SimulatorProcess, child_env

REPO_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def simulator(tmp_path: Path, config_toml: str | None = None) -> Iterator[SimulatorProcess]:
    """A simulator on a free loopback port, stopped on exit."""
    config = None
    if config_toml is not None:
        config = tmp_path / "sim.toml"
        config.write_text(config_toml, encoding="utf-8")
    with SimulatorProcess(tmp_path / "simulator.log", config) as sim:
        yield sim


@dataclass
class LocustRun:
    returncode: int
    output: str
    run_dir: Path

    def totals(self) -> list[dict]:
        return json.loads((self.run_dir / "totals.json").read_text(encoding="utf-8"))

    def entry(self, method: str, name: str) -> dict | None:
        return next((e for e in self.totals() if e["method"] == method and e["name"] == name), None)


def run_locust(
    sim: SimulatorProcess,
    run_dir: Path,
    user_classes: list[str],
    users: int,
    run_time_s: int,
    exchange: str = "binance",
    extra: list[str] | None = None,
    timeout_s: float = 120,
) -> LocustRun:
    """Locust headless against the simulator, bounded in time; results in `run_dir`."""
    adapter = get_adapter(exchange)
    rest_base = f"{sim.base_url}{adapter.hosts.simulator_prefix}"
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "locustfiles" / f"{exchange}.py"),
        "--headless", "-u", str(users), "-r", str(users), "-t", f"{run_time_s}s",
        "--host", rest_base, "--ws-host", adapter.ws_base_for(rest_base),
        "--csv", str(run_dir / "locust"), "--csv-full-history", "--json-file", str(run_dir / "totals"),
        "--exit-code-on-error", "0", "--stop-timeout", "10", "--only-summary",
        *(extra or []), *user_classes,
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout_s, cwd=REPO_ROOT,
        env=child_env({SIMULATOR_KEYS_VAR: "1"}),
    )
    return LocustRun(proc.returncode, proc.stdout + proc.stderr, run_dir)
