"""The order-path thresholds (order_ack_pNN, order_event_lag_pNN, lost_order_events) on hand-made stats."""

from __future__ import annotations

import pytest

from loadgen.gates.evaluation import EntryStats, ExchangeCatalog, RunStats, evaluate, resolve_scope
from loadgen.gates.thresholds import Source, ThresholdError, parse_threshold

BINANCE = ExchangeCatalog("binance", frozenset({"depth", "time"}), frozenset(), frozenset({"connect"}),
                          "order.place")
KRAKEN = ExchangeCatalog("kraken", frozenset({"Depth", "Time"}), frozenset(), frozenset({"connect"}), "add_order")


def entry(method: str, name: str, times: dict[int, int], untimed: int = 0, failures: int = 0) -> EntryStats:
    return EntryStats(method, name, sum(times.values()) + untimed, failures,
                      float(sum(k * v for k, v in times.items())), float(max(times, default=0)), times)


def values(run: RunStats, *texts: str, catalogs=None) -> list[float | None]:
    catalogs = catalogs or {"binance": BINANCE, "kraken": KRAKEN}
    thresholds = [parse_threshold(t) for t in texts]
    return [o.value for o in evaluate([(t, resolve_scope(t, catalogs)) for t in thresholds], catalogs, run)]


PLAIN = RunStats(10.0, (
    entry("GET", "depth", {5: 100}),
    entry("WSAPI", "session.logon", {900: 3}),  # not an order: in neither figure
    entry("WSAPI", "order.place", {8: 90, 40: 10}, untimed=4, failures=6),
    entry("WSAPI", "order→NEW", {12: 95}),
    entry("WSAPI", "order→FILLED", {30: 40, 70: 5}),
    entry("WSAPI", "lost_order_event", {}, untimed=2, failures=2),
))


def test_order_metrics_read_the_order_rows_only():
    assert parse_threshold("order_ack_p99<50").metric.source is Source.ORDERS
    assert values(PLAIN, "order_ack_p50<1", "order_ack_p99<1", "order_event_lag_p99<1", "lost_order_events==0") == [
        8, 40, 70, 2]
    # scoped to the exchange whose order row it is; another exchange of the run has no data
    assert values(PLAIN, "order_ack_p99[binance]<1", "lost_order_events[binance]==0") == [40, 2]
    assert values(PLAIN, "order_ack_p99[kraken]<1", "lost_order_events[kraken]==0") == [None, None]
    assert values(PLAIN, "p99<1") == [5]  # the REST figures leave the orders out


def test_no_order_rows_is_no_data_and_fails():
    run = RunStats(10.0, (entry("GET", "depth", {5: 100}),))
    thresholds = [parse_threshold(t) for t in ("order_ack_p99<50", "order_event_lag_p99<50", "lost_order_events==0")]
    catalogs = {"binance": BINANCE}
    outcomes = evaluate([(t, resolve_scope(t, catalogs)) for t in thresholds], catalogs, run)
    assert [o.measured() for o in outcomes] == ["no data"] * 3 and not any(o.passed for o in outcomes)


def test_side_by_side_order_rows_per_exchange():
    run = RunStats(10.0, (
        entry("WSAPI", "binance:order.place", {8: 100}),
        entry("WSAPI", "binance:order→NEW", {12: 100}),
        entry("WSAPI", "kraken:add_order", {20: 100}),
        entry("WSAPI", "kraken:order→NEW", {50: 99}),
        entry("WSAPI", "kraken:lost_order_event", {}, untimed=1, failures=1),
    ))
    assert values(run, "order_ack_p99[binance]<1", "order_ack_p99[kraken]<1", "order_ack_p99<1") == [8, 20, 20]
    assert values(run, "order_event_lag_p99[binance]<1", "order_event_lag_p99[kraken]<1") == [12, 50]
    assert values(run, "lost_order_events[binance]==0", "lost_order_events[kraken]==0", "lost_order_events==0") == [
        0, 1, 1]


def test_order_metrics_take_an_exchange_scope_only():
    with pytest.raises(ThresholdError, match="can be scoped to an exchange only"):
        resolve_scope(parse_threshold("lost_order_events[depth]==0"), {"binance": BINANCE})
