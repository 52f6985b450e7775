"""CI gates inside Locust: snapshots of real Locust stats, exit codes, outputs, and stopping a run early."""

import logging
import random
import xml.etree.ElementTree as ET
from argparse import Namespace
from pathlib import Path

import gevent
import pytest
from locust.env import Environment
from locust.event import Events
from locust.stats import StatsError, calculate_response_time_percentile

from analysis.histogram import percentile
from exchanges.base import FailureKind, Verdict
from exchanges.binance import ADAPTER
from loadgen.gates import locust_hooks as gates
from loadgen.gates import run_snapshot
from loadgen.gates.thresholds import Metric, Source, ThresholdError, Unit, parse_threshold
from loadgen.options import OPTIONS
from loadgen.plugin import install
from loadgen.users.request_events import fire

RATE_LIMITED = Verdict(False, FailureKind.RATE_LIMITED, "-1003", "HTTP 429")
BANNED = Verdict(False, FailureKind.BANNED, "-1003", "HTTP 418")


def environment(tmp_path: Path | None = None, **values) -> Environment:
    defaults = {flag[2:].replace("-", "_"): default for flag, default, _ in OPTIONS}
    options = Namespace(**{
        **defaults, "csv_prefix": str(tmp_path / "locust") if tmp_path else None, "headless": True,
        "threshold": [], "thresholds_file": None, "threshold_abort": False, "threshold_abort_delay": None,
        "exchange": "binance", **values,
    })
    env = Environment(events=Events(), host="http://127.0.0.1:8123/binance", parsed_options=options)
    install(ADAPTER, env.events)
    env.create_local_runner()
    env.events.init.fire(environment=env, runner=env.runner, web_ui=None)
    return env


def requests(env: Environment, name: str, times: list[float], verdict: Verdict | None = None, method="GET") -> None:
    for t in times:
        fire(env, method, name, t, verdict=verdict)


def test_percentiles_match_locusts_own_on_random_histograms():
    rng = random.Random(7)
    for _ in range(200):
        histogram = {rng.choice([0, 1, 5, 40, 150, 2300]): rng.randint(1, 50) for _ in range(rng.randint(1, 6))}
        for p in (0.5, 0.9, 0.95, 0.99, 0.999):
            assert percentile(histogram, p) == calculate_response_time_percentile(
                histogram, sum(histogram.values()), p)


def test_snapshots_read_locust_entries_classified_failures_and_exchange_counters():
    env = environment()
    requests(env, "depth", [5, 7, 120])
    requests(env, "depth", [3, 4], RATE_LIMITED)
    requests(env, "depth", [3], BANNED)
    fire(env, "WS", "btcusdt@trade", None)  # an untimed sample
    run_snapshot.metrics_hub(env).collector("binance").ws_gap()
    run = run_snapshot.run_stats(env)
    depth = next(e for e in run.entries if e.name == "depth")
    assert (depth.requests, depth.failures, depth.rate_limited, depth.banned) == (6, 3, 2, 1)
    assert sum(depth.histogram.values()) == 6 and depth.max_response_time == 120
    assert run.exchanges["binance"]["ws_gaps"] == 1
    catalog = run_snapshot.catalogs(env)["binance"]
    assert {"depth", "order GET"} <= catalog.rest_names and "btcusdt@trade" in catalog.stream_names
    assert "connect" in catalog.ws_names


def test_failures_reported_by_workers_as_text_are_classified_too():
    env = environment()
    requests(env, "depth", [5])
    # on a master, errors arrive from the workers as text
    env.stats.errors["k"] = StatsError("GET", "depth", "rate_limited: -1003 HTTP 429", occurrences=4)
    env.stats.errors["b"] = StatsError("GET", "depth", "CatchResponseError('boom')", occurrences=1)
    assert next(e.rate_limited for e in run_snapshot.run_stats(env).entries if e.name == "depth") == 4


def test_thresholds_that_hold_exit_0_even_with_failed_requests(tmp_path):
    env = environment(tmp_path, threshold=["p95<200", "fail_ratio<0.5", "ws_gaps==0"])
    requests(env, "depth", [5, 7, 9, 11])
    requests(env, "depth", [5], RATE_LIMITED)
    env.events.quitting.fire(environment=env)
    assert env.process_exit_code == 0
    cases = ET.parse(tmp_path / "locust_junit.xml").getroot().iter("testcase")
    assert [c.get("name") for c in cases] == ["p95<200", "fail_ratio<0.5", "ws_gaps==0"]
    assert "✅ all 3 thresholds passed" in (tmp_path / "locust_summary.md").read_text()


def test_rows_named_as_a_side_by_side_run_names_them_are_measured(tmp_path):
    env = environment(tmp_path, threshold=["p95<200", "rps>0", "requests[binance]==4", "p99[binance depth]<200",
                                           "max[binance:depth]<200", "p95[binance connect]<100",
                                           "ws_event_latency_p95[binance]<100", "rate_limited==1"])
    requests(env, "binance:depth", [5, 7, 120])
    requests(env, "binance:depth", [3], RATE_LIMITED)
    fire(env, "WS", "binance:connect", 30)
    fire(env, "WS", "binance:btcusdt@trade", 12)
    env.events.quitting.fire(environment=env)
    assert env.process_exit_code == 0
    cases = {c.get("name"): c.find("system-out").text for c in ET.parse(tmp_path / "locust_junit.xml").iter("testcase")}
    assert cases["requests[binance]==4"] == "scope: binance; measured: 4"
    assert cases["max[binance:depth]<200"] == "scope: binance depth; measured: 120 ms"
    assert cases["p95[binance connect]<100"] == "scope: binance connect; measured: 30 ms"
    assert cases["ws_event_latency_p95[binance]<100"] == "scope: binance; measured: 12 ms"
    assert "| 4 | 1 |" in (tmp_path / "locust_summary.md").read_text()  # requests, failures


def test_a_failed_threshold_exits_3_and_logs_its_measured_value(tmp_path, caplog):
    env = environment(tmp_path, threshold=["p95<10", "rate_limited_ratio<0.001"])
    requests(env, "depth", [5] * 10 + [120])
    requests(env, "ticker/price", [2], RATE_LIMITED)
    with caplog.at_level(logging.INFO):
        env.events.quitting.fire(environment=env)
    assert env.process_exit_code == 3
    messages = [r.getMessage() for r in caplog.records]
    assert "threshold p95<10 FAILED: measured 120 ms" in messages
    assert "threshold rate_limited_ratio<0.001 FAILED: measured 0.08333 (8.33%)" in messages
    assert "thresholds: 2 of 2 thresholds failed" in messages


def test_a_run_stopped_for_another_reason_keeps_its_exit_code(tmp_path):
    env = environment(tmp_path, threshold=["p95<10"])
    env.process_exit_code = 1  # e.g. missing keys
    env.events.quitting.fire(environment=env)
    assert env.process_exit_code == 1
    assert (tmp_path / "locust_junit.xml").is_file()


def test_without_thresholds_the_exit_code_is_locusts_and_the_summary_is_written(tmp_path):
    env = environment(tmp_path)
    env.events.test_start.fire(environment=env)
    requests(env, "depth", [5])
    env.events.quitting.fire(environment=env)
    assert env.process_exit_code is None
    assert not (tmp_path / "locust_junit.xml").exists()
    assert "| binance |" in (tmp_path / "locust_summary.md").read_text()


@pytest.mark.parametrize(("thresholds", "file"), [(["p95[nope]<1"], None), (["p42x<1"], None), ([], "missing.toml")])
def test_unusable_thresholds_end_the_run_at_start_with_exit_2(tmp_path, thresholds, file):
    with pytest.raises(SystemExit) as exit_info:
        environment(threshold=thresholds, thresholds_file=str(tmp_path / file) if file else None)
    assert exit_info.value.code == 2


def test_a_metric_whose_counters_nobody_counts_is_unknown_not_passed():
    metric = Metric("queue_ratio", Source.EXCHANGE, Unit.RATIO, counters=("queued", "requests"))
    threshold = parse_threshold("ws_gaps==0").__class__("queue_ratio<1", metric, "", "<", 1.0)
    with pytest.raises(ThresholdError, match="queue_ratio is unknown here: nothing counts queued yet"):
        gates.check_source(threshold)
    gates.check_source(parse_threshold("late_start_ratio<0.01"))  # counted by the pacing


def test_abort_flag_stops_the_run_at_the_first_failed_threshold_and_it_stays_failed(tmp_path, caplog):
    env = environment(tmp_path, threshold=["p95<10"], threshold_abort=True, threshold_abort_delay=0.0)
    env.runner.start(0, 1)  # no users: the test is only running
    gevent.sleep(0.1)
    requests(env, "depth", [50] * 5)
    with caplog.at_level(logging.ERROR):
        gevent.sleep(gates.ABORT_CHECK_INTERVAL_S + 0.5)
    assert env.process_exit_code == 3
    assert env.runner.state == "stopped"
    assert any("threshold p95<10 failed at +" in r.getMessage() for r in caplog.records)
    requests(env, "depth", [1] * 1000)  # the run's p95 now holds, but it failed while the run lasted
    env.events.quitting.fire(environment=env)
    assert env.process_exit_code == 3
