"""End to end: Locust's own master/worker mode as processes, a lost worker, workers in another
network namespace, and the compose files."""

from __future__ import annotations

import csv
import json
import os
import shutil
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


def start_run(results: Path, *args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "loadgen", "run", "--results-dir", str(results), *args]
    return subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def run_dir_of(results: Path) -> Path:
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


def counts(run_dir: Path) -> tuple[int, int]:
    totals = json.loads((run_dir / "totals.json").read_text())
    sent = sum(e["num_requests"] for e in totals if e["method"] in HTTP_METHODS)
    served = json.loads((run_dir / "simulator_stats.json").read_text())["exchanges"]["binance"]["requests_total"]
    return sent, served


def test_master_and_two_workers_reconcile_with_the_simulator(tmp_path):
    proc = start_run(tmp_path, "--workers", "2", "--duration", "10", "--users", "8", "--spawn-rate", "8")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    run_dir = run_dir_of(tmp_path)
    sent, served = counts(run_dir)
    assert sent > 30 and sent == served
    workers = json.loads((run_dir / "locust_workers.json").read_text())
    assert workers["workers_seen"] == 2 and workers["workers_lost"] == 0
    totals = json.loads((run_dir / "totals.json").read_text())
    assert sum(w["requests"] for w in workers["workers"]) == sum(e["num_requests"] for e in totals)
    exchange = json.loads((run_dir / "locust_exchange.json").read_text())["exchanges"]["binance"]
    assert exchange["requests"] == sent  # the suite's own counters are aggregated at the master too
    assert json.loads((run_dir / "run.json").read_text())["workers"] == 2
    assert (run_dir / "worker-1.log").is_file() and (run_dir / "worker-2.log").is_file()
    figures = check_run_figures(run_dir, output=out)  # every file tells the same figures
    assert figures.requests > 20 and figures.aggregated >= figures.requests
    check_process_usage(run_dir, {"master": 1, "worker": 2})


def check_process_usage(run_dir: Path, roles: dict[str, int]) -> None:
    """Every Locust process's memory and open files, each second (the totals agree: check_run_figures); the
    simulator's in its own history (see loadgen/process_history.py)."""
    with (run_dir / "locust_process_history.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    by_process: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_process.setdefault(row["process"], []).append(row)
    assert sorted(r[0]["role"] for r in by_process.values()) == sorted(k for k, n in roles.items() for _ in range(n))
    for samples in by_process.values():
        assert len(samples) >= 8  # one a second over the run
        assert all(float(r["rss_mb"]) > 20 and int(r["fds"]) >= 3 for r in samples)
    with (run_dir / "simulator_history.csv").open(newline="") as f:
        sim = list(csv.DictReader(f))
    assert sim and all(float(r["rss_mb"]) > 20 and int(r["fds"]) >= 3 for r in sim)


def test_a_killed_worker_does_not_stop_the_run_and_is_reported(tmp_path):
    run_s = 16  # the worker is killed about 5 s into the run and found lost about 5 s later
    proc = start_run(tmp_path, "--workers", "2", "--duration", str(run_s), "--users", "8", "--spawn-rate", "8")
    deadline = time.monotonic() + 30
    workers: list[psutil.Process] = []
    while time.monotonic() < deadline and len(workers) < 2:
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True) if "--worker" in p.cmdline()]
        time.sleep(0.5)
    assert len(workers) == 2
    time.sleep(6)
    workers[0].kill()  # SIGKILL: no goodbye to the master
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "lost at +" in out
    run_dir = run_dir_of(tmp_path)
    report = json.loads((run_dir / "locust_workers.json").read_text())
    assert report["workers_lost"] == 1
    (lost,) = [w for w in report["workers"] if w["lost_at_s"] is not None]
    assert 0 < lost["lost_at_s"] < run_s and lost["users_at_loss"] > 0 and 0 < lost["user_share_at_loss"] < 1
    sent, served = counts(run_dir)
    assert 0 < sent <= served  # what the dead worker sent after its last report died with it
    assert "Locust sent" in out
    report = json.loads((run_dir / "analysis" / "report.json").read_text())  # the runner ends with the analysis
    (finding,) = [f for f in report["findings"] if f["kind"] == "worker_lost"]
    assert f"lost at {lost['lost_at_s']:g} s" in finding["message"]


def _can_make_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip) to create network namespaces"
    probe = f"est-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def test_a_worker_in_another_network_namespace(tmp_path):
    """The master and the simulator on this host, a worker on a 'remote host': a network namespace
    joined to this one by a veth pair. Only the addresses of that pair carry traffic."""
    reason = _can_make_namespaces()
    if reason:
        pytest.skip(reason)
    ns = f"est-worker-{os.getpid()}"
    host_if, ns_if = f"estH{os.getpid() % 10000}", f"estN{os.getpid() % 10000}"
    host_ip, ns_ip = "10.252.17.1", "10.252.17.2"  # the test's own point-to-point link
    setup = [
        ["ip", "netns", "add", ns],
        ["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if],
        ["ip", "link", "set", ns_if, "netns", ns],
        ["ip", "addr", "add", f"{host_ip}/30", "dev", host_if],
        ["ip", "link", "set", host_if, "up"],
        ["ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if],
        ["ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up"],
        ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
    ]
    sim = master = worker = None
    try:
        for cmd in setup:
            subprocess.run(cmd, check=True, capture_output=True)
        sim = subprocess.Popen([sys.executable, "-m", "simulator", "--host", host_ip, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT)
        ready = sim.stdout.readline()
        assert ready.startswith("simulator ready on "), ready
        sim_url = ready.split()[3]
        with socket.socket() as probe:
            probe.bind((host_ip, 0))
            master_port = probe.getsockname()[1]
        locustfile = str(REPO_ROOT / "locustfiles" / "binance.py")
        master = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", locustfile, "--master", "--headless", "-u", "4", "-r", "4",
             "-t", "8s", "--expect-workers", "1", "--expect-workers-max-wait", "30",
             "--master-bind-host", host_ip, "--master-bind-port", str(master_port),
             "--host", f"{sim_url}/binance", "--ws-host", f"{sim_url.replace('http', 'ws')}/binance",
             "--json-file", str(tmp_path / "totals"), "--exit-code-on-error", "0", "--only-summary",
             "BinanceRestPoller", "BinanceWsSubscriber"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT)
        worker = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "locust", "-f", locustfile, "--worker",
             "--master-host", host_ip, "--master-port", str(master_port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT)
        out, _ = master.communicate(timeout=90)
        assert master.returncode == 0, out
        worker.wait(timeout=30)
        totals = json.loads((tmp_path / "totals.json").read_text())
        sent = sum(e["num_requests"] for e in totals if e["method"] in HTTP_METHODS)
        with urllib.request.urlopen(f"{sim_url}/__sim/stats", timeout=5) as resp:
            served = json.load(resp)["exchanges"]["binance"]["requests_total"]
        assert sent > 0 and sent == served
        assert sum(e["num_requests"] for e in totals if e["method"] == "WS") > 0
    finally:
        for proc in (worker, master, sim):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


COMPOSE_FILES = [["docker-compose.yml"], ["docker-compose.headless.yml"], ["docker-compose.workers.yml"]]


@pytest.mark.parametrize("files", COMPOSE_FILES, ids=["+".join(f) for f in COMPOSE_FILES])
def test_compose_files_validate(files, tmp_path):
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("Debian's docker-compose is not installed (apt-get install docker-compose); .ci/run installs it")
    args = [compose, "--project-directory", str(REPO_ROOT)]
    for name in files:
        args += ["-f", str(REPO_ROOT / name)]
    env = dict(os.environ, MASTER_HOST="10.0.0.5")
    proc = subprocess.run([*args, "config", "--quiet"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
