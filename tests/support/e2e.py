"""Helpers for end-to-end tests: a real simulator process, real headless Locust and runner runs, canary keys."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

from exchanges import NAMES, get_adapter
from loadgen.runner.cli import SIDE_BY_SIDE_USERS_PER_EXCHANGE
from loadgen.runner.processes import SimulatorProcess, child_env

REPO_ROOT = Path(__file__).resolve().parents[2]
# Users of a side-by-side test run: what the runner gives `--exchange all` by default, every user kind of every
# exchange at least once.
ALL_USERS = SIDE_BY_SIDE_USERS_PER_EXCHANGE * len(NAMES)

# The simulator's demo-account variables per exchange (the users sign with them on the simulator); value is base64.
SIMULATOR_KEY_VARS: dict[str, dict[str, bool]] = {
    "binance": {"SIM_BINANCE_API_KEY": False, "SIM_BINANCE_API_SECRET": False},
    "bybit": {"SIM_BYBIT_API_KEY": False, "SIM_BYBIT_API_SECRET": False},
    "coinbase": {"SIM_COINBASE_API_KEY": False, "SIM_COINBASE_API_SECRET": True, "SIM_COINBASE_API_PASSPHRASE": False},
    "kraken": {"SIM_KRAKEN_API_KEY": False, "SIM_KRAKEN_API_SECRET": True},
    "okx": {"SIM_OKX_API_KEY": False, "SIM_OKX_API_SECRET": False, "SIM_OKX_API_PASSPHRASE": False},
}


def canary(label: str, b64: bool = False) -> str:
    raw = f"CANARY{label}{secrets.token_hex(12)}"
    return base64.b64encode(raw.encode() * 2).decode() if b64 else raw


@contextmanager
def simulator(tmp_path: Path, config_toml: str | None = None) -> Iterator[SimulatorProcess]:
    """A simulator on a free loopback port, stopped on exit."""
    config = None
    if config_toml is not None:
        config = tmp_path / "sim.toml"
        config.write_text(config_toml, encoding="utf-8")
    with SimulatorProcess(tmp_path / "simulator.log", config) as sim:
        yield sim


@contextmanager
def http_server(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Iterator[tuple[str, list]]:
    """A tiny HTTP server on 127.0.0.1 that answers every GET alike; its base URL and the paths asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


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
        env=child_env(),
    )
    return LocustRun(proc.returncode, proc.stdout + proc.stderr, run_dir)


@dataclass
class RunnerResult:
    returncode: int
    stdout: str
    stderr: str
    run_dir: Path  # the run's directory (the results directory when the run made none)
    process_list: list[str]  # every process's command line, sampled each second while the run was on

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def loadgen_run(results: Path, *args: str, env: dict[str, str] | None = None, timeout_s: float = 180) -> RunnerResult:
    """`python -m loadgen run --results-dir RESULTS ARGS` (what `make run` runs), bounded in time, with what `ps`
    showed while it ran."""
    results.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "loadgen", "run", "--results-dir", str(results), *args]
    out_path, err_path = results.parent / f"{results.name}.stdout", results.parent / f"{results.name}.stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=err, text=True)
        seen: list[str] = []
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None and time.monotonic() < deadline:
            for p in psutil.process_iter(["cmdline"]):
                seen.append(" ".join(p.info["cmdline"] or []))
            time.sleep(1)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    runs = [p for p in results.iterdir() if p.is_dir()]
    run_dir = runs[0] if len(runs) == 1 else results
    return RunnerResult(proc.returncode, out_path.read_text(), err_path.read_text(), run_dir, seen)
