"""Helpers for end-to-end tests: a real simulator process and real headless Locust runs."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from exchanges import get_adapter
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
