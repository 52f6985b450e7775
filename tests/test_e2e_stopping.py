"""End to end: stopping the runner (`make run`, `make ui`) halfway, both ways it happens.

A terminal's Ctrl-C sends SIGINT to the whole foreground process group; a CI system, a process
supervisor or `kill <pid>` signals the runner's process alone. Either way the results must be as
complete as after a run that ended by itself, within seconds, with no process left behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from loadgen.runner.summary import HTTP_METHODS
from tests.support.figures import check_run_figures

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e

FILES_USERS_READ = ("run.json", "totals.json", "locust_exchange.json", "locust_summary.md", "locust_stats.csv",
                    "simulator_stats.json", "analysis/report.json", "analysis/report.md")
STOP_WITHIN_S = 20  # Locust's own grace period was 30 s: a signal that did not reach it shows as 30 s or more


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(kind: str, results: Path) -> tuple[subprocess.Popen[str], int | None]:
    """The runner as `make run` / `make run WORKERS=2` / `make ui` start it, in a session of its own
    (as a terminal's foreground job is a process group of its own); the web UI's port for `ui`."""
    common = ["--results-dir", str(results)]
    if kind == "ui":
        port = free_port()
        args = ["ui", "--web-port", str(port), *common]
    else:
        port = None
        args = ["run", "--duration", "60", "--users", "4", "--spawn-rate", "4", *common,
                *(["--workers", "2"] if kind == "workers" else [])]
    proc = subprocess.Popen([sys.executable, "-m", "loadgen", *args], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    return proc, port


def wait_for_load(kind: str, proc: subprocess.Popen[str], results: Path, port: int | None) -> None:
    """Until the run has sent load for a few seconds (for `ui`: after starting a test from the form)."""
    deadline = time.monotonic() + 60
    started = False
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if kind == "ui":
            started = started or start_ui_test(port)
            if started and ui_requests(port) > 20:
                return
        else:
            runs = [p for p in results.iterdir() if p.is_dir()]
            history = runs[0] / "locust_stats_history.csv" if runs else None
            if history and history.is_file() and len(history.read_text().splitlines()) > 40:
                return
        time.sleep(0.5)
    raise AssertionError("the run sent no load within 60 s")


def start_ui_test(port: int | None) -> bool:
    base = f"http://127.0.0.1:{port}"
    request = urllib.request.Request(f"{base}/swarm", data=b"user_count=4&spawn_rate=4", headers={"Origin": base})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return bool(json.load(resp)["success"])
    except OSError:
        return False  # not serving yet


def ui_requests(port: int | None) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests", timeout=5) as resp:
        stats = json.load(resp)["stats"]
    return next(row["num_requests"] for row in stats if row["name"] == "Aggregated")


CASES = [
    ("run", "runner", signal.SIGINT),  # kill -INT <pid>
    ("run", "runner", signal.SIGTERM),  # a CI system cancelling the job, a supervisor, docker stop
    ("run", "group", signal.SIGINT),  # Ctrl-C in the terminal
    ("workers", "runner", signal.SIGINT),
    ("workers", "runner", signal.SIGTERM),
    ("workers", "group", signal.SIGINT),
    ("ui", "runner", signal.SIGINT),
    ("ui", "runner", signal.SIGTERM),
    ("ui", "group", signal.SIGINT),
]


@pytest.mark.parametrize(("kind", "to", "signum"), CASES,
                         ids=[f"{k}-{signal.Signals(s).name}-to-{t}" for k, t, s in CASES])
def test_a_stopped_run_writes_every_result_and_leaves_nothing_running(tmp_path, kind, to, signum):
    proc, port = start(kind, tmp_path)
    try:
        wait_for_load(kind, proc, tmp_path, port)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) == (4 if kind == "workers" else 2), [c.cmdline() for c in children]
        sent_at = time.monotonic()
        (os.killpg if to == "group" else os.kill)(proc.pid, signum)
        out, err = proc.communicate(timeout=90)
        took_s = time.monotonic() - sent_at
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signum, out + err
    assert took_s < STOP_WITHIN_S, f"took {took_s:.1f} s to stop"
    assert "Traceback" not in out + err
    assert f"interrupted ({signal.Signals(signum).name})" in err
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"left running: {[p.cmdline() for p in alive]}"

    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    for name in FILES_USERS_READ:
        assert (run_dir / name).is_file(), name
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["interrupted"] is True and manifest["finished_at"]
    report = json.loads((run_dir / "analysis" / "report.json").read_text())
    (cut,) = [f for f in report["findings"] if f["kind"] == "run_cut_short"]
    assert "interrupted" in cut["message"]
    # Locust wrote its final figures, and the simulator was read after it ended: the two agree.
    totals = json.loads((run_dir / "totals.json").read_text())
    sent = sum(e["num_requests"] for e in totals if e["method"] in HTTP_METHODS)
    served = json.loads((run_dir / "simulator_stats.json").read_text())["exchanges"]["binance"]["requests_total"]
    assert sent > 10 and sent == served
    assert json.loads((run_dir / "locust_exchange.json").read_text())["exchanges"]["binance"]["requests"] == sent
    if (kind, to, signum) == ("run", "group", signal.SIGINT):  # a terminal's Ctrl-C keeps one set of figures
        check_run_figures(run_dir, output=out + err)
