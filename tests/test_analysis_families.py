"""Error taxonomy, capacity, client-side and WebSocket findings on small hand-made runs."""

from __future__ import annotations

import pytest

from analysis.model import Severity, Thresholds
from analysis.pipeline import analyse
from tests.support.analysis_runs import RunBuilder, cpu_warning_line


def findings(run_dir, thresholds: Thresholds | None = None) -> dict[str, object]:
    return {f.kind: f for f in analyse(run_dir, thresholds).findings}


# --- Error taxonomy ------------------------------------------------------------------------------


def test_errors_by_kind_with_shares_statuses_and_the_six_common_errors(tmp_path):
    builder = RunBuilder(seconds=20).entry("GET", "depth", 50).entry("POST", "order", 10)
    builder.failure("GET", "depth", "timeout: TimeoutError", 70, first=5, last=9)
    builder.failure("GET", "depth", "server_error: HTTP 503", 30, first=3, last=4)
    builder.failure("GET", "depth", "server_error: HTTP 502", 10, first=3, last=4)
    builder.failure("POST", "order", "auth: -1022 HTTP 400", 2, first=1, last=1)
    builder.failure("GET", "depth", "ConnectionResetError(104)", 4, first=2, last=2)
    builder.exceptions.append((3, "OSError: [Errno 24] Too many open files"))
    analysis = analyse(builder.write(tmp_path / "run"))
    errors = analysis.report["errors"]
    requests = 60 * 20
    assert errors["requests"] == requests
    timeout = errors["by_kind"]["timeout"]
    assert timeout["count"] == 70 and timeout["share"] == pytest.approx(70 / requests, abs=1e-4)
    assert (timeout["first_seen_s"], timeout["last_seen_s"]) == (5, 9)
    assert errors["by_kind"]["server_error"]["by_status"] == {"502": 10, "503": 30}
    assert errors["by_kind"]["auth"]["by_code"] == {"-1022": 2}
    assert errors["by_kind"]["unclassified"]["count"] == 4
    common = {c["key"]: c["count"] for c in errors["common_errors"]}
    assert common == {"connection_timeout": 70, "invalid_key_or_signature": 2, "rate_limit": 0, "gateway_error": 40,
                      "ws_abnormal_closure": 0, "resource_exhaustion": 3}
    kinds = {f.kind: f.severity for f in analysis.findings}
    assert kinds["timeouts"] is Severity.MEDIUM  # 5.8%, above the seed's 5%
    assert kinds["server_errors"] is Severity.LOW  # 3.3%
    assert kinds["auth_errors"] is Severity.HIGH and kinds["resource_exhaustion"] is Severity.HIGH
    assert kinds["unclassified_errors"] is Severity.LOW


def test_timeouts_under_the_threshold_are_low(tmp_path):
    builder = RunBuilder(seconds=20).entry("GET", "depth", 50)
    builder.failure("GET", "depth", "timeout: TimeoutError", 40, first=5, last=9)  # 4%
    assert findings(builder.write(tmp_path / "run"))["timeouts"].severity is Severity.LOW
    stricter = Thresholds(timeout_share=0.01)
    assert findings(tmp_path / "run", stricter)["timeouts"].severity is Severity.MEDIUM


# --- Capacity ------------------------------------------------------------------------------------


def ramp_run(tmp_path, throughput, latency_ms, users, **kwargs):
    builder = RunBuilder(seconds=len(users), users=users, **kwargs)
    builder.entry("GET", "ticker", throughput, latency_ms=latency_ms)
    return builder


def test_throughput_ceiling_and_latency_knee_from_a_user_ramp(tmp_path):
    users = [u for u in range(5, 45, 5) for _ in range(10)]  # 5..40 users, 10 s each
    throughput = [min(u, 25) * 10 for u in users]  # 10 requests/s per user up to 25 users, then flat
    latency = [5.0 if u <= 20 else 5.0 * (u - 15) for u in users]  # 5 ms, then rising fast from 25 users
    analysis = analyse(ramp_run(tmp_path, throughput, latency, users).write(tmp_path / "run"))
    ceiling = analysis.capacity.summary["throughput_ceiling"]
    assert ceiling["users"] == 25 and ceiling["ok_per_s"] == pytest.approx(250)
    assert ceiling["cause"] == "exchange"
    knee = analysis.capacity.summary["latency_knee"]
    assert knee["endpoint"] == "GET ticker"
    assert 200 <= knee["load_requests_per_s"] <= 250
    assert knee["p95_ms_before"] == 5 and knee["p95_ms_at_knee"] >= 25
    kinds = {f.kind: f for f in analysis.findings}
    assert "CPU-bound" not in kinds["latency_knee"].message


def test_no_ceiling_while_throughput_keeps_growing(tmp_path):
    users = [u for u in range(5, 45, 5) for _ in range(10)]
    analysis = analyse(ramp_run(tmp_path, [u * 10 for u in users], 5.0, users).write(tmp_path / "run"))
    assert analysis.capacity.summary["throughput_ceiling"] is None
    assert analysis.capacity.summary["latency_knee"] is None


def test_a_saturated_generator_is_not_reported_as_a_slow_exchange(tmp_path):
    users = [u for u in range(5, 45, 5) for _ in range(10)]
    throughput = [min(u, 25) * 10 for u in users]
    latency = [5.0 if u <= 20 else 5.0 * (u - 15) for u in users]
    builder = ramp_run(tmp_path, throughput, latency, users)
    builder.log_lines = [cpu_warning_line(40)]
    analysis = analyse(builder.write(tmp_path / "run"))
    kinds = {f.kind: f for f in analysis.findings}
    assert kinds["client_cpu_saturated"].severity is Severity.MEDIUM
    assert kinds["client_cpu_saturated"].evidence["from_s"] == pytest.approx(40, abs=1)
    assert kinds["throughput_ceiling"].evidence["cause"] == "load_generator"
    assert kinds["latency_knee"].evidence["cause"] == "load_generator"
    assert "not evidence of a slow exchange" in kinds["latency_knee"].message


def test_mean_latency_above_the_seeds_500_ms(tmp_path):
    builder = RunBuilder(seconds=20).entry("GET", "klines", 5, latency_ms=800.0)
    found = findings(builder.write(tmp_path / "run"))
    assert found["high_mean_latency"].evidence["mean_ms"] == pytest.approx(800)
    assert "high_mean_latency" not in findings(tmp_path / "run", Thresholds(mean_latency_ms=1000))


def test_latency_percentiles_are_windowed_not_cumulative(tmp_path):
    """A step from 10 to 500 ms shows in the 10 s windows at once; whole-run figures come from histograms."""
    users = [10] * 40
    latency = [10.0] * 25 + [500.0] * 15
    analysis = analyse(ramp_run(tmp_path, 50, latency, users).write(tmp_path / "run"))
    rows = analysis.deltas.set_index("t")["p95"]
    assert rows.iloc[30] == 500 and rows.iloc[20] == 10
    assert analysis.report["latency"]["rest"]["p50"] == 10 and analysis.report["latency"]["rest"]["p99"] == 500


# --- Client side ---------------------------------------------------------------------------------


def test_paced_starts_that_came_late_or_were_skipped(tmp_path):
    builder = RunBuilder(seconds=20).entry("GET", "depth", 10)
    builder.exchange_seconds(requests=10, paced_starts=10, late_starts=[0] * 10 + [4] * 10,
                             skipped_starts=[0] * 15 + [1] * 5, start_lag_max_ms=[0] * 10 + [250] * 10)
    builder_dir = builder.write(tmp_path / "run")
    (builder_dir / "locust_exchange_history.csv").write_text(_with_columns(builder_dir, builder))
    lag = findings(builder_dir)["client_pacing_lag"]
    assert lag.evidence == {"paced_starts": 200, "late_starts": 40, "skipped_starts": 5, "late_share": 0.2,
                            "max_lag_ms": 250.0, "first_late_s": 10.0, "cause": "users_waiting_on_answers"}
    assert lag.severity == "low"  # no CPU warning: the users were all waiting on answers, not the generator's CPU
    assert "every user was waiting on an answer" in lag.message


def _with_columns(run_dir, builder) -> str:
    """The builder's exchange history with the paced-start columns the loadgen writes when users are paced."""
    extra = ("paced_starts", "late_starts", "skipped_starts", "start_lag_max_ms")
    text = (run_dir / "locust_exchange_history.csv").read_text().splitlines()
    lines = [text[0] + "," + ",".join(extra)]
    for line, row in zip(text[1:], builder.exchange_rows, strict=True):
        lines.append(line + "," + ",".join(str(row[c]) for c in extra))
    return "\n".join(lines) + "\n"


def test_polite_limiter_waits_are_the_clients_own_throttling(tmp_path):
    builder = RunBuilder(seconds=10).entry("GET", "depth", 10)
    builder.exchange_seconds(requests=10, weight_waits=2, weight_wait_s=0.5)
    found = findings(builder.write(tmp_path / "run"))
    assert found["client_throttled"].evidence == {"weight_waits": 20, "weight_wait_s": 5.0}


# --- WebSocket -----------------------------------------------------------------------------------


def test_websocket_connects_streams_drops_gaps_and_storms(tmp_path):
    builder = RunBuilder(seconds=30).entry("GET", "depth", 2)
    builder.entry("WS", "connect", [4] + [0] * 29, latency_ms=12.0)
    builder.entry("WS", "reconnect", [0] * 10 + [1] * 8 + [0] * 12, latency_ms=30.0)
    builder.entry("WS", "btcusdt@trade", 40, latency_ms=[3.0] * 20 + [900.0] * 10)
    builder.entry("WS", "btcusdt@bookTicker", 20, latency_ms=None)
    builder.entry("WS", "connection", [0] * 10 + [1] * 8 + [0] * 12, failures=[0] * 10 + [1] * 8 + [0] * 12,
                  latency_ms=None)
    builder.failure("WS", "connection", "ws_drop: 1006 connection lost", 8, first=10, last=17)
    builder.failure("WS", "btcusdt@depth@100ms", "ws_gap: update ids skipped", 2, first=12, last=15)
    builder.exchange_seconds(requests=2, ws_reconnects=[0] * 10 + [1] * 8 + [0] * 12)
    analysis = analyse(builder.write(tmp_path / "run"))
    ws = analysis.report["websocket"]
    assert ws["connect"] == {"attempts": 4, "failures": 0, "time_ms": {"p50": 12.0, "p95": 12.0, "p99": 12.0,
                                                                       "max": 12.0}}
    streams = {s["stream"]: s for s in ws["streams"]}
    assert streams["btcusdt@trade"]["per_s"] == pytest.approx(40 * 30 / 29, rel=0.01)
    assert streams["btcusdt@trade"]["latency_ms"]["p99"] == 900
    assert streams["btcusdt@bookTicker"]["latency_ms"] is None  # no event time: no latency, not 0 ms
    assert ws["drops"] == 8 and ws["drops_by_reason"] == {"1006": 8}
    assert ws["gaps"] == 2 and ws["gaps_by_stream"] == {"btcusdt@depth@100ms": 2}
    assert ws["gaps_by_reason"] == {"update ids skipped": 2}
    assert ws["reconnects"] == 8
    assert ws["storms"][0]["reconnects"] == 8
    kinds = {f.kind for f in analysis.findings}
    assert {"ws_drops", "ws_gaps", "ws_reconnect_storm", "ws_event_latency"} <= kinds


def test_a_run_without_websocket_traffic_has_no_websocket_section(tmp_path):
    analysis = analyse(RunBuilder(seconds=10).entry("GET", "depth", 5).write(tmp_path / "run"))
    assert analysis.report["websocket"] is None


def test_orders_sent_over_a_websocket_api_count_among_the_requests_of_failure_shares(tmp_path):
    """A WebSocket order trader's rejected orders are failures of requests: they share a denominator with REST's,
    and its order-event rows are not requests."""
    builder = RunBuilder(seconds=10).entry("GET", "time", 1).entry("WSAPI", "order.place", 6, failures=2)
    builder.entry("WSAPI", "order→NEW", 4).entry("WSAPI", "lost_order_event", 0)
    builder.failure("WSAPI", "order.place", "rate_limited: -1015 HTTP 429", 20, first=1, last=9)
    errors = analyse(builder.write(tmp_path / "run")).report["errors"]
    assert errors["requests"] == (1 + 6) * 10
    assert errors["by_kind"]["rate_limited"]["share"] == pytest.approx(20 / 70, abs=1e-4)
