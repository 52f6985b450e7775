"""End to end: the simulator injects faults, and every one shows up in Locust's stats in the right
category, with the totals reconciled exactly (requests sent = answered + failed, per kind)."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from loadgen.runner.summary import HTTP_METHODS
from tests.support.e2e import REPO_ROOT, run_locust, simulator

TEST_LOCUSTFILES = Path(__file__).resolve().parent / "support" / "locustfiles"
pytestmark = pytest.mark.e2e


def failures_by_kind(run_dir: Path, methods: frozenset[str] | None = None) -> Counter[str]:
    """Occurrences per failure kind (the text before the first colon) in Locust's failures CSV."""
    kinds: Counter[str] = Counter()
    with (run_dir / "locust_failures.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if methods is None or row["Method"] in methods:
                kinds[row["Error"].split(":", 1)[0]] += int(row["Occurrences"])
    return kinds


def http_sent(run) -> int:
    return sum(e["num_requests"] for e in run.totals() if e["method"] in HTTP_METHODS)


def http_failed(run) -> int:
    return sum(e["num_failures"] for e in run.totals() if e["method"] in HTTP_METHODS)


def binance(stats: dict) -> dict:
    return stats["exchanges"]["binance"]


def test_gateway_errors_are_server_errors(tmp_path):
    config = "[binance.faults]\nerror_rate = 0.3\nerror_statuses = [502, 503, 504]\nseed = 7\n"
    with simulator(tmp_path, config) as sim:
        run = run_locust(sim, tmp_path / "run", ["BinanceRestPoller"], users=6, run_time_s=6)
        stats = binance(sim.stats())
    assert run.returncode == 0, run.output
    injected = stats["faults"]["http_5xx"]
    assert injected > 5
    assert failures_by_kind(run.run_dir, HTTP_METHODS) == Counter({"server_error": injected})
    assert http_sent(run) == stats["requests_total"]
    assert sum(stats["by_status"].get(s, 0) for s in ("502", "503", "504")) == injected


def test_connection_resets_are_connection_failures_and_never_retried_silently(tmp_path):
    config = "[binance.faults]\nreset_rate = 0.2\nseed = 3\n"
    with simulator(tmp_path, config) as sim:
        run = run_locust(sim, tmp_path / "run", ["BinanceRestPoller"], users=6, run_time_s=6)
        stats = binance(sim.stats())
    assert run.returncode == 0, run.output
    injected = stats["faults"]["reset"]
    assert injected > 3
    assert failures_by_kind(run.run_dir, HTTP_METHODS) == Counter({"connection": injected})
    assert http_sent(run) == stats["requests_total"]  # one request sent is one request served or reset
    assert http_sent(run) - http_failed(run) == sum(stats["by_status"].values())


def test_added_latency_is_measured(tmp_path):
    config = "[binance.faults]\nlatency_ms = 80\nlatency_jitter_ms = 40\n"
    with simulator(tmp_path, config) as sim:
        run = run_locust(sim, tmp_path / "run", ["BinanceRestPoller"], users=4, run_time_s=5)
        stats = binance(sim.stats())
    assert run.returncode == 0, run.output
    entries = [e for e in run.totals() if e["method"] in HTTP_METHODS]
    sent = http_sent(run)
    assert sent == stats["requests_total"] == stats["faults"]["latency"]
    assert http_failed(run) == 0
    assert all(e["min_response_time"] >= 80 for e in entries if e["num_requests"])


def test_websocket_drops_are_reported_and_reconnected(tmp_path):
    config = "[binance.faults]\nws_drop_per_min = 40\nseed = 5\n"
    with simulator(tmp_path, config) as sim:
        run = run_locust(sim, tmp_path / "run", ["BinanceWsSubscriber"], users=4, run_time_s=10)
        stats = binance(sim.stats())
    assert run.returncode == 0, run.output
    drops = stats["faults"]["ws_drop"]
    assert drops >= 2
    assert failures_by_kind(run.run_dir, frozenset({"WS"})).get("ws_drop", 0) == drops
    assert failures_by_kind(run.run_dir, frozenset({"WS"})).get("ws_gap", 0) == 0  # books resynced cleanly
    assert stats["ws"]["connections_total"] >= 4 + drops - 4  # every drop but those at the very end reconnects


def test_a_ban_is_counted_as_banned(tmp_path):
    config = (
        "[binance.rate_limits]\nrequest_weight = { limit = 30, interval_s = 10 }\n"
        "[binance.bans]\nfirst_ban_s = 1\nmax_ban_s = 2\nlimited_requests_before_ban = 2\n"  # short: waited out in-task
    )
    with simulator(tmp_path, config) as sim:
        run = run_locust(sim, tmp_path / "run", ["BinanceRestPoller"], users=6, run_time_s=6,
                         extra=["--mode", "probe"])
        stats = binance(sim.stats())
    assert run.returncode == 0, run.output
    kinds = failures_by_kind(run.run_dir, HTTP_METHODS)
    assert kinds["banned"] == stats["by_status"].get("418", 0) > 0
    assert kinds["rate_limited"] == stats["by_status"].get("429", 0) > 0
    assert http_sent(run) == stats["requests_total"]


def test_a_stalled_websocket_is_caught_by_the_watchdog_and_replaced(tmp_path):
    config = "[binance.faults]\nws_stall_per_min = 20\nseed = 11\n"
    with simulator(tmp_path, config) as sim:
        run = run_locust(sim, tmp_path / "run", [], users=4, run_time_s=14,
                         extra=["-f", str(TEST_LOCUSTFILES / "stall.py")])
        stats = binance(sim.stats())
    assert run.returncode == 0, run.output
    stalls = stats["faults"]["ws_stall"]
    assert stalls >= 1
    caught = failures_by_kind(run.run_dir, frozenset({"WS"}))
    # Each stall is caught once its watchdog runs out (2 s), so one in the last 2 s may go uncaught.
    assert 1 <= caught.get("ws_drop", 0) <= stalls, (caught, stalls)
    assert stats["ws"]["connections_total"] >= 4 + caught["ws_drop"]  # every caught stall was replaced


def _start_simulator(port: int, config: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port),
                             "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None and proc.stdout.readline().startswith("simulator ready on ")
    return proc


def _stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__sim/stats", timeout=5) as resp:
        return binance(json.load(resp))


def test_a_subscriber_survives_a_hundred_drops_and_resyncs_a_clean_book(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    storm, calm = tmp_path / "storm.toml", tmp_path / "calm.toml"
    storm.write_text("[binance.ws]\nping_interval_s = 0.2\n[binance.faults]\nws_drop_per_min = 1500\nseed = 3\n")
    calm.write_text("[binance.ws]\nping_interval_s = 0.2\n")
    base = f"http://127.0.0.1:{port}/binance"
    locust = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(TEST_LOCUSTFILES / "storm.py"), "--headless",
         "-u", "1", "-r", "1", "-t", "18s", "--host", base, "--ws-host", base.replace("http", "ws"),
         "--streams", "depth@100ms", "--symbols", "BTCUSDT", "--csv", str(tmp_path / "locust"),
         "--exit-code-on-error", "0", "--only-summary"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sim = _start_simulator(port, storm)
    try:
        deadline = time.monotonic() + 12  # about 8 s here; the calm that follows until -t needs a few seconds
        while _stats(port)["faults"]["ws_drop"] < 100 and time.monotonic() < deadline:
            time.sleep(0.5)
        drops = _stats(port)["faults"]["ws_drop"]
        sim.terminate()
        sim.wait(timeout=30)  # a loaded machine may take a while to close the storm's sockets
        sim = _start_simulator(port, calm)  # the same address, no faults: the subscriber must settle
        out, _ = locust.communicate(timeout=60)
        calm_stats = _stats(port)
    finally:
        sim.terminate()
        sim.wait(timeout=10)
        if locust.poll() is None:
            locust.kill()
    assert locust.returncode == 0, out
    assert drops >= 100, f"only {drops} drops in the storm"
    kinds = failures_by_kind(tmp_path, frozenset({"WS"}))
    assert kinds["ws_drop"] >= 100 and kinds["ws_gap"] == 0, kinds  # drops reported, never a gap in a book
    assert set(kinds) <= {"ws_drop", "connection"}, kinds  # "connection": refused while the simulator restarted
    assert calm_stats["ws"]["connections_open"] == 0 and calm_stats["ws"]["connections_total"] >= 1
    assert calm_stats["by_endpoint"].get("depth", 0) >= 1  # a fresh snapshot after the storm ...
    assert calm_stats["ws"]["messages_sent"] > 20  # ... and a book kept from the diffs that followed
