"""End to end: the runner behind `make run` with real Locust against the real simulator."""

from __future__ import annotations

import csv
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

from exchanges import NAMES
from loadgen.runner.summary import HTTP_METHODS
from tests.support.e2e import ALL_USERS
from tests.support.figures import check_run_figures

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


def runner(*args: str, results: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command, *rest = args  # options after `--` go to Locust, so --results-dir goes first
    cmd = [sys.executable, "-m", "loadgen", command, "--results-dir", str(results), *rest]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)


def only_run_dir(results: Path) -> Path:
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


def test_run_writes_results_and_counts_reconcile_with_the_simulator(default_run):
    proc = default_run  # --duration 8 --users 6 --spawn-rate 6 (tests/conftest.py)
    assert proc.returncode == 0, proc.output
    run_dir = proc.run_dir
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv", "locust_exceptions.csv",
                 "totals.json", "report.html", "locust.log", "simulator.log", "simulator_stats.json", "run.json",
                 "locust_exchange_history.csv", "locust_exchange.json", "locust_process_history.csv",
                 "locust_process.json"):
        assert (run_dir / name).is_file(), name
    assert f"results: {run_dir}" in proc.stdout

    totals = json.loads((run_dir / "totals.json").read_text())
    sent = sum(e["num_requests"] for e in totals if e["method"] in HTTP_METHODS)
    served = json.loads((run_dir / "simulator_stats.json").read_text())["exchanges"]["binance"]["requests_total"]
    assert sent > 50
    assert sent == served
    ws_messages = sum(e["num_requests"] for e in totals if e["method"] == "WS" and e["name"] != "connect")
    assert ws_messages > 100
    assert sum(e["num_failures"] for e in totals) == 0, (run_dir / "locust_failures.csv").read_text()

    with (run_dir / "locust_stats_history.csv").open() as f:
        names = {row["Name"] for row in csv.DictReader(f)}
    assert {"ticker/price", "Aggregated"} <= names  # --csv-full-history: one row per endpoint
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["target"] == "simulator" and manifest["locust_exit_code"] == 0
    figures = check_run_figures(run_dir, output=proc.output)  # every file tells the same figures
    assert figures.requests > 20 and figures.aggregated >= figures.requests


def test_small_weight_limit_produces_429_then_bans(tmp_path):
    config = tmp_path / "limits.toml"
    config.write_text(
        "[binance.rate_limits]\nrequest_weight = { limit = 20, interval_s = 10 }\n"
        "[binance.bans]\nfirst_ban_s = 1\nmax_ban_s = 2\nlimited_requests_before_ban = 3\n"  # short: waited out in-task
    )
    proc = runner(
        "run", "--duration", "8", "--users", "8", "--sim-config", str(config), "--",
        "BinanceRestPoller", "--mode", "probe", results=tmp_path / "results",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = only_run_dir(tmp_path / "results")
    sim = json.loads((run_dir / "simulator_stats.json").read_text())["exchanges"]["binance"]
    assert sim["by_status"].get("429", 0) > 0
    assert sim["by_status"].get("418", 0) > 0  # a prober that keeps sending while limited gets banned
    with (run_dir / "locust_failures.csv").open() as f:
        errors = [row["Error"] for row in csv.DictReader(f)]
    assert any(e.startswith("rate_limited:") for e in errors), errors
    assert any(e.startswith("banned:") for e in errors), errors
    metrics = json.loads((run_dir / "locust_exchange.json").read_text())["exchanges"]["binance"]
    assert metrics["rate_limited"] + metrics["banned"] == sim["by_status"].get("429", 0) + sim["by_status"].get(
        "418", 0
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--exchange", "nasdaq"], "unknown exchange 'nasdaq'"),
        (["run", "--scenario", "nope"], "unknown scenario 'nope'"),
        (["run", "--duration", "soon"], "bad duration"),
        (["run", "--users", "0"], "must be at least 1"),
        (["run", "--sim-config", "/nonexistent.toml"], "does not exist"),
        (["run", "--host", "https://api.binance.com"], "production"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    proc = runner(*args, results=tmp_path, timeout=30)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr + proc.stdout


def test_malformed_simulator_config_stops_the_run_cleanly(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[binance.rate_limits\nrequest_weight = 5\n")
    proc = runner("run", "--duration", "5", "--sim-config", str(config), results=tmp_path / "r", timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "bad.toml" in proc.stderr


def test_ui_serves_on_loopback_only(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [sys.executable, "-m", "loadgen", "ui", "--web-port", str(port), "--results-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        page = ""
        while time.monotonic() < deadline and not page:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    page = resp.read().decode()
            except OSError:
                time.sleep(0.5)
        assert "WS URL" in page  # the suite's options are in the start form (--ws-host, under its readable label)
        listening = [c.laddr for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening)
        children = psutil.Process(proc.pid).children(recursive=True)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err  # stopping and its results: tests/test_e2e_stopping.py
    assert "Traceback" not in out + err
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive


def test_sigkill_halfway_leaves_results_the_analysis_reads_and_no_orphans(tmp_path):
    cmd = [sys.executable, "-m", "loadgen", "run", "--duration", "60", "--users", "4", "--results-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 40
    history = None
    while time.monotonic() < deadline:
        runs = [p for p in tmp_path.iterdir() if p.is_dir()]
        history = runs[0] / "locust_stats_history.csv" if runs else None
        if history and history.is_file() and len(history.read_text().splitlines()) > 20:  # flushed data
            break
        time.sleep(0.5)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 2
    os.killpg(proc.pid, signal.SIGKILL)  # no handler runs: a crash, an OOM kill
    proc.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left running: {[p.cmdline() for p in alive]}"  # the simulator went with its parent
    run_dir = only_run_dir(tmp_path)
    analysis = subprocess.run([sys.executable, "-m", "analysis", str(run_dir)], capture_output=True, text=True,
                              timeout=120, cwd=REPO_ROOT)
    assert analysis.returncode == 0, analysis.stdout + analysis.stderr
    report = json.loads((run_dir / "analysis" / "report.json").read_text())
    (cut,) = [f for f in report["findings"] if f["kind"] == "run_cut_short"]
    assert "killed" in cut["message"] and report["run"]["requests"] > 0


def test_all_exchanges_side_by_side_reconcile_per_exchange(all_exchanges_run):
    proc = all_exchanges_run  # --exchange all --duration 10, every user kind of every exchange (tests/conftest.py)
    assert proc.returncode == 0, proc.output
    run_dir = proc.run_dir
    served = json.loads((run_dir / "simulator_stats.json").read_text())["exchanges"]
    totals = json.loads((run_dir / "totals.json").read_text())
    assert all(served[name]["requests_total"] > 0 for name in NAMES), served
    assert json.loads((run_dir / "run.json").read_text())["users"] == ALL_USERS  # the side-by-side default
    sent = {name: sum(e["num_requests"] for e in totals
                      if e["method"] in HTTP_METHODS and e["name"].startswith(f"{name}:"))
            for name in NAMES}  # request names carry their exchange here
    assert sent == {name: served[name]["requests_total"] for name in sent}
    assert sum(sent.values()) == sum(e["num_requests"] for e in totals if e["method"] in HTTP_METHODS)
    figures = check_run_figures(run_dir, output=proc.output)  # every file tells the same figures
    assert figures.requests > 20 and figures.aggregated >= figures.requests


@pytest.mark.parametrize(("option", "value", "message", "code"), [
    ("--streams", "nosuchstream", "--streams: 'nosuchstream' is not a binance stream kind", 1),
    ("--symbols", "BTC USDT", "--symbols: 'BTC USDT' is not a symbol", 1),
    # a value outside an option's fixed set is a usage error, refused by Locust's parser (its choices)
    ("--mode", "reckless", "argument --mode: invalid choice: 'reckless' (choose from 'probe', 'polite')", 2),
])
def test_bad_user_options_stop_the_run_before_any_load(tmp_path, option, value, message, code):
    proc = runner("run", "--duration", "5", "--", option, value, results=tmp_path, timeout=60)
    assert proc.returncode == code
    assert message in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "analysis:" not in proc.stderr  # nothing ran, so there is nothing to analyse
    sim = json.loads((only_run_dir(tmp_path) / "simulator_stats.json").read_text())["exchanges"]["binance"]
    assert sim["requests_total"] == 0
