"""End to end: a real Prometheus (Debian's `prometheus`) scrapes a run against the simulator each second, single
process and with 2 workers; at the end its PromQL answers equal the run's files (totals.json, locust_failures.csv,
locust_exchange.json), and its percentiles agree with Locust's within the histogram's buckets."""

from __future__ import annotations

import csv
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from loadgen.exposition.names import BUCKETS_MS, failure_kind
from tests.support.e2e import LocustRun, loadgen_run, run_locust, simulator
from tests.support.figures import check_run_figures

pytestmark = pytest.mark.e2e
PROMETHEUS = shutil.which("prometheus")
USERS: list[str] = []  # every user kind of the Binance locustfile


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def prometheus(tmp_path: Path, target_port: int) -> Iterator[str]:
    """Prometheus on a free loopback port scraping 127.0.0.1:target_port each second; its base URL."""
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        f"scrape_configs: [{{job_name: run, static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/-/ready", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "prometheus.log").read_text()
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def query(base: str, promql: str) -> list[dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


def last(base: str, metric: str, by: str = "") -> dict[tuple, float]:
    """The last scraped value of each series of `metric` (the run is over: its series are stale now)."""
    labels = by.split(",") if by else []
    promql = f"sum by ({by}) (last_over_time({metric}[10m]))"
    return {tuple(r["metric"].get(lb, "") for lb in labels): float(r["value"][1]) for r in query(base, promql)}


def check_run(base: str, run: LocustRun) -> None:
    totals = run.totals()
    assert run.returncode == 0, run.output
    requests = {(e["method"], e["name"]): e["num_requests"] for e in totals if e["num_requests"]}
    assert sum(requests.values()) > 50
    assert last(base, "exchange_stress_requests_total", "method,endpoint") == {k: float(v) for k, v in requests.items()}
    with (run.run_dir / "locust_failures.csv").open(newline="") as f:
        failures: dict[tuple, float] = {}
        for row in csv.DictReader(f):
            key = (row["Method"], row["Name"], failure_kind(row["Error"]))
            failures[key] = failures.get(key, 0.0) + int(row["Occurrences"])
    assert last(base, "exchange_stress_failures_total", "method,endpoint,kind") == failures
    exchange = json.loads((run.run_dir / "locust_exchange.json").read_text())["exchanges"]["binance"]
    assert exchange["ws_messages"] > 0
    assert last(base, "exchange_stress_ws_messages_total", "exchange") == {("binance",): exchange["ws_messages"]}
    ws_rows = sum(e["num_requests"] for e in totals if e["method"] == "WS" and "@" in e["name"])
    assert ws_rows == exchange["ws_messages"]  # the stream rows and the suite's counter agree
    assert last(base, "exchange_stress_rate_limited_total", "exchange") == {("binance",): exchange["rate_limited"]}
    with (run.run_dir / "locust_exchange_history.csv").open(newline="") as f:
        history = list(csv.DictReader(f))  # still whole: the process lingered after closing it
    for counter in ("requests", "ws_messages"):
        assert sum(int(r[counter]) for r in history) == exchange[counter]
    assert "Traceback" not in run.output
    rest = [e for e in totals if e["method"] not in ("WS", "WSAPI")]
    streams = [e for e in totals if e["method"] == "WS" and "@" in e["name"]]  # Binance's streams: btcusdt@trade
    check_percentile(base, "rest_latency_seconds", rest)
    check_percentile(base, "ws_event_latency_seconds", streams)


def check_percentile(base: str, family: str, entries: list[dict]) -> None:
    """Prometheus' p95 over all entries of a family lies in the bucket that holds Locust's (merged histogram)."""
    merged: dict[int, int] = {}
    for e in entries:
        for ms, n in e["response_times"].items():
            merged[int(float(ms))] = merged.get(int(float(ms)), 0) + n
    count = sum(merged.values())
    running, p95_ms = 0, None
    for ms in sorted(merged):
        running += merged[ms]
        if running >= 0.95 * count:
            p95_ms = ms
            break
    promql = f"histogram_quantile(0.95, sum by (le) (last_over_time(exchange_stress_{family}_bucket[10m])))"
    (result,) = query(base, promql)
    prom_ms = float(result["value"][1]) * 1000
    bounds = (0, *BUCKETS_MS, float("inf"))
    bucket = next(i for i in range(1, len(bounds)) if p95_ms <= bounds[i])
    assert bounds[bucket - 1] <= prom_ms <= bounds[bucket], (family, p95_ms, prom_ms)


needs_prometheus = pytest.mark.skipif(PROMETHEUS is None,
                                     reason="Debian's prometheus package is not installed (.ci/run installs it)")


@needs_prometheus
def test_prometheus_scrapes_a_single_process_run(tmp_path):
    port = free_port()
    with simulator(tmp_path) as sim, prometheus(tmp_path, port) as base:
        run = run_locust(sim, tmp_path / "run", USERS, users=8, run_time_s=8,
                         extra=["--metrics-port", str(port), "--metrics-linger-s", "4"])
        (run.run_dir / "simulator_stats.json").write_text(json.dumps(sim.stats()))
        check_run(base, run)
        check_run_figures(run.run_dir, exchanges=["binance"])  # lingering for the last scrape spoils no file


@needs_prometheus
def test_prometheus_scrapes_a_master_with_two_workers(tmp_path):
    """As README shows it: `python -m loadgen run ... -- --metrics-port PORT --metrics-linger-s SECONDS`."""
    port = free_port()
    with prometheus(tmp_path, port) as base:
        result = loadgen_run(tmp_path / "results", "--workers", "2", "--duration", "8", "--",
                             "--metrics-port", str(port), "--metrics-linger-s", "4")
        log = (result.run_dir / "locust.log").read_text()
        check_run(base, LocustRun(result.returncode, result.output + log, result.run_dir))
        check_run_figures(result.run_dir, output=result.output)
        (workers,) = query(base, "max_over_time(exchange_stress_workers[10m])")  # 0 once they have quit
        assert float(workers["value"][1]) == 2
        roles = last(base, "process_open_fds", "role")
        assert set(roles) == {("master",), ("worker",)}
