"""The order-path section (analysis/orders.py) on small hand-made runs."""

from __future__ import annotations

from analysis.document import build_document
from analysis.pipeline import analyse
from analysis.render_md import render_markdown
from tests.support.analysis_runs import RunBuilder

LIMITED = [0] * 12 + [2] * 8  # orders refused per second: from second 12 on


def order_run(tmp_path):
    builder = RunBuilder(seconds=20)
    builder.entry("GET", "exchangeInfo", 1)
    builder.entry("WSAPI", "session.logon", [3] + [0] * 19, latency_ms=4.0)
    builder.entry("WSAPI", "order.place", 6, failures=LIMITED, latency_ms=[8.0] * 14 + [30.0] * 6)
    builder.entry("WSAPI", "order→NEW", [4] * 19 + [2], latency_ms=12.0)
    builder.entry("WSAPI", "order→FILLED", 2, latency_ms=20.0)
    builder.entry("WSAPI", "lost_order_event", [0] * 19 + [2], failures=[0] * 19 + [2], latency_ms=None)
    builder.failure("WSAPI", "order.place", "rate_limited: -1015 HTTP 429", 16, first=12, last=19)
    builder.failure("WSAPI", "lost_order_event", "timeout: no order event", 2, first=19, last=19)
    return analyse(builder.write(tmp_path / "run"))


def test_order_path_counts_percentiles_reasons_and_the_limit_onset(tmp_path):
    orders = order_run(tmp_path).report["orders"]
    assert list(orders) == ["binance"]
    o = orders["binance"]
    assert (o["sent"], o["acked"], o["rejected"], o["lost_events"]) == (120, 104, 16, 2)
    assert o["rejected_by_reason"] == {"-1015 HTTP 429": 16}
    # exact percentiles over Locust's histogram: 84 orders at 8 ms, 36 at 30 ms
    assert (o["ack_ms"]["p50"], o["ack_ms"]["p95"], o["ack_ms"]["p99"]) == (8.0, 30.0, 30.0)
    assert o["event_lag_ms"]["NEW"]["events"] == 78 and o["event_lag_ms"]["NEW"]["p99"] == 12.0
    assert o["event_lag_ms"]["FILLED"] == {"events": 40, "p50": 20.0, "p95": 20.0, "p99": 20.0, "max": 20.0}
    onset = o["limit_onset"]
    assert onset["time_s"] == 12.0 and onset["refusals"] == 16
    assert onset["orders_per_s"] == 6.0  # 6 orders a second over the 10 s before


def test_the_order_count_limit_is_found_from_the_counts_the_exchange_reported(tmp_path):
    # An unannounced limit of 37 unfilled orders per 10 s (the adapter publishes 100): the counts climb to it,
    # fall back as fills give orders back, climb again; orders are refused from second 12 on.
    counts = [4 * i for i in range(10)] + [30, 37, 37, 12, 25, 37, 37, 37, 20, ""]
    builder = RunBuilder(seconds=20).entry("WSAPI", "order.place", 6, failures=LIMITED)
    builder.failure("WSAPI", "order.place", "rate_limited: -1015 HTTP 429", 16, first=12, last=19)
    analysis = analyse(builder.exchange_seconds(requests=0, order_count_max=counts).write(tmp_path / "run"))
    limit = analysis.report["orders"]["binance"]["order_limit"]
    assert limit == {"value": 37, "reached": True, "window_s": 10, "published": 100,
                     "method": "highest unfilled-order count the exchange reported"}
    text = render_markdown(build_document(analysis.report, []))
    assert "The limit: 37 orders per 10 s (highest unfilled-order count the exchange reported; published: 100)" in text


def test_an_order_count_limit_never_met_is_a_lower_bound_and_unreported_counts_none(tmp_path):
    builder = RunBuilder(seconds=10).entry("WSAPI", "order.place", 3)
    analysis = analyse(builder.exchange_seconds(requests=0, order_count_max=[1, 2, 3, 5, 8, 8, 8, 8, 8, 8])
                       .write(tmp_path / "run"))
    assert analysis.report["orders"]["binance"]["order_limit"]["reached"] is False
    assert "The limit: at least 8 orders per 10 s" in render_markdown(build_document(analysis.report, []))
    unreported = analyse(RunBuilder(seconds=10).entry("WSAPI", "order.place", 3).write(tmp_path / "other"))
    assert unreported.report["orders"]["binance"]["order_limit"] is None


def test_order_path_in_markdown(tmp_path):
    analysis = order_run(tmp_path)
    text = render_markdown(build_document(analysis.report, []))
    assert "## Order path" in text
    assert "| binance | 120 | 104 | 16 | -1015 HTTP 429: 16 | 2 | 8 | 30 | 30 |" in text
    assert "| binance | FILLED | 40 | 20 | 20 | 20 |" in text
    assert "binance: first refused at 12 s, at 6 orders/s" in text


def test_no_limit_refusal_is_not_reached_and_no_order_rows_no_section(tmp_path):
    builder = RunBuilder(seconds=10).entry("WSAPI", "order.place", 3).entry("WSAPI", "order→NEW", 3)
    analysis = analyse(builder.write(tmp_path / "run"))
    assert analysis.report["orders"]["binance"]["limit_onset"] is None
    assert "binance: not reached" in render_markdown(build_document(analysis.report, []))
    plain = analyse(RunBuilder(seconds=10).entry("GET", "depth", 3).write(tmp_path / "plain"))
    assert plain.report["orders"] == {}
    assert "Order path" not in render_markdown(build_document(plain.report, []))


def test_unprefixed_order_rows_belong_to_the_exchange_whose_order_row_they_are(tmp_path):
    # a suite that knows several exchanges, order users on one: rows without an exchange in their name
    builder = RunBuilder(seconds=10, full_history=False, manifest={"exchanges": ["binance", "kraken"]})
    builder.entry("WSAPI", "order.place", 3, failures=[0] * 5 + [1] * 5).entry("WSAPI", "order→NEW", 3)
    builder.failure("WSAPI", "order.place", "rate_limited: -1015 HTTP 429", 5, first=5, last=9)
    analysis = analyse(builder.write(tmp_path / "run"))
    (exchange, orders), = analysis.report["orders"].items()
    assert exchange == "binance" and (orders["sent"], orders["acked"]) == (30, 25)
    # without per-request history the rate at the onset is unknown, not made up
    assert orders["limit_onset"]["time_s"] == 5.0 and orders["limit_onset"]["orders_per_s"] is None
    text = render_markdown(build_document(analysis.report, []))
    assert "binance: first refused at 5 s, at an unknown order rate (no per-request history); 5 refusals" in text


def test_without_first_seen_times_the_onset_comes_from_the_history(tmp_path):
    builder = RunBuilder(seconds=20).entry("WSAPI", "order.place", 6, failures=LIMITED).entry("WSAPI", "order→NEW", 4)
    run_dir = builder.write(tmp_path / "run")
    (run_dir / "locust_failures.csv").write_text(  # Locust's own columns only
        "Method,Name,Error,Occurrences\nWSAPI,order.place,rate_limited: -1015 HTTP 429,16\n")
    onset = analyse(run_dir).report["orders"]["binance"]["limit_onset"]
    assert (onset["time_s"], onset["orders_per_s"], onset["refusals"]) == (11.0, 6.0, 16)
