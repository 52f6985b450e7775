"""End to end: the commands of docs/metrics.md, as a user types them, changed only where a test must: free ports for
the metrics port (9646), the simulator (8000) and the OTLP receiver (4318), 5 s runs instead of 60 s, and the runner's
results in a temporary folder. Each serves or sends the suite's figures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from loadgen.exposition.names import PREFIX
from tests.support.docs import shell_commands
from tests.support.e2e import REPO_ROOT, simulator
from tests.test_e2e_otel import otlp_receiver
from tests.test_e2e_prometheus import free_port

pytestmark = pytest.mark.e2e
COMMANDS = shell_commands((REPO_ROOT / "docs" / "metrics.md").read_text(encoding="utf-8"))


def as_run(argv: list[str], metrics_port: int, sim_base: str, otlp_url: str = "") -> tuple[list[str], dict[str, str]]:
    """The documented command with the test's ports and run time; its environment variables apart."""
    env = dict(a.split("=", 1) for a in argv if "=" in a and not a.startswith("-"))
    argv = [a for a in argv if not ("=" in a and not a.startswith("-"))]
    cmd = [sys.executable, "-m", "locust", *argv[1:]] if argv[0] == "locust" else [sys.executable, *argv[1:]]
    swaps = {"9646": str(metrics_port), "60s": "5s", "60": "5", "http://127.0.0.1:8000/binance": f"{sim_base}/binance"}
    cmd = [swaps.get(a, a) for a in cmd]
    env = {k: v.replace("http://127.0.0.1:4318/v1/metrics", otlp_url) for k, v in env.items()}
    return cmd, env


def scrape_until_done(proc: subprocess.Popen, port: int, timeout_s: float = 120) -> str:
    """The last /metrics page the process served before it quit."""
    page, deadline = "", time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
                page = reply.read().decode()
        except OSError:
            pass
        time.sleep(0.2)
    assert proc.wait(timeout=30) == 0
    return page


def requests_total(page: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in page.splitlines()
               if line.startswith(f"{PREFIX}requests_total{{"))


def test_the_guide_shows_the_three_commands() -> None:
    assert [c[:3] for c in COMMANDS] == [["python", "-m", "loadgen"], ["locust", "-f", "locustfiles/binance.py"],
                                         ["OTEL_METRICS_EXPORTER=otlp", "OTEL_TRACES_EXPORTER=none",
                                          "OTEL_LOGS_EXPORTER=none"]]


def test_the_runner_and_plain_locust_serve_the_final_figures_on_the_metrics_port(tmp_path: Path) -> None:
    port = free_port()
    cmd, _ = as_run(COMMANDS[0], port, "")
    cmd[cmd.index("run") + 1:cmd.index("run") + 1] = ["--results-dir", str(tmp_path / "results")]
    with (tmp_path / "runner.log").open("w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        assert requests_total(scrape_until_done(proc, port)) > 0, (tmp_path / "runner.log").read_text()[-3000:]
    with simulator(tmp_path) as sim:
        port = free_port()
        cmd, _ = as_run(COMMANDS[1], port, sim.base_url)
        with (tmp_path / "locust.log").open("w") as log:
            proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
            assert requests_total(scrape_until_done(proc, port)) > 0, (tmp_path / "locust.log").read_text()[-3000:]


def test_the_otel_command_sends_the_suites_figures(tmp_path: Path) -> None:
    with simulator(tmp_path) as sim, otlp_receiver() as (url, latest, scopes):
        cmd, env = as_run(COMMANDS[2], free_port(), sim.base_url, url)
        assert set(env) >= {"OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"}
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "exchange_stress" in scopes
    assert sum(v for (name, _), v in latest.items() if name == "exchange_stress.requests") > 0
