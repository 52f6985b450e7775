"""Exchange metrics: per-second counting, merging across processes, history rows and totals files."""

import csv
import json
from argparse import Namespace

import msgpack
from locust.env import Environment

from loadgen.metrics import HISTORY_COLUMNS, ExchangeMetrics, MetricsHub, MetricsTable, SecondStats


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def worker(clock: Clock) -> ExchangeMetrics:
    m = ExchangeMetrics("binance", clock)
    m.weight_limit, m.weight_window_s = 6000, 60
    return m


def test_counts_land_in_the_second_they_happen():
    clock = Clock(100.2)
    m = worker(clock)
    m.request(5)
    m.request(2)
    m.used_weight(40)
    m.rate_limited()
    clock.now = 101.7
    m.used_weight(30)
    m.used_weight(35)
    m.ws_message()
    m.ws_ping()
    m.retry_after_wait(1.5)
    first, second = m.drain()
    assert (first.second, first.requests, first.weight_requested, first.rate_limited) == (100, 2, 7, 1)
    assert (second.second, second.used_weight_last, second.used_weight_max) == (101, 35, 35)
    assert (second.ws_messages, second.ws_pings, second.retry_after_waits, second.retry_after_wait_s) == (1, 1, 1, 1.5)
    assert m.drain() == []


def test_counting_after_a_drain_in_the_same_second_is_not_lost():
    clock = Clock(50.0)
    m = worker(clock)
    m.request(1)
    assert [s.requests for s in m.drain()] == [1]
    m.request(1)
    assert [s.requests for s in m.drain()] == [1]


def test_merge_sums_counts_keeps_the_max_and_the_latest_used_weight():
    a, b = SecondStats(7), SecondStats(7)
    a.requests, b.requests = 3, 4
    a.weight_wait_s, b.weight_wait_s = 0.5, 0.25
    a.note_used_weight(500, at=7.9)
    b.note_used_weight(900, at=7.1)
    a.merge(b)
    assert (a.requests, a.weight_wait_s, a.used_weight_max, a.used_weight_last) == (7, 0.75, 900, 500)
    empty = SecondStats(7)
    empty.merge(a)
    assert (empty.used_weight_max, empty.used_weight_last) == (900, 500)


def test_the_highest_unfilled_order_count_of_a_second_is_kept_across_merges():
    a, b = SecondStats(7), SecondStats(7)
    a.note_order_count(12)
    a.note_order_count(9)
    b.note_order_count(37)
    a.merge(b)
    assert a.order_count_max == 37
    b.merge(SecondStats(7))
    assert b.order_count_max == 37 and SecondStats(7).order_count_max is None


def test_two_workers_reports_merge_into_one_table_through_msgpack():
    clock = Clock(10.5)
    w1, w2 = worker(clock), worker(clock)
    w1.request(5)
    w2.request(2)
    w2.banned()
    w1.used_weight(100)
    w2.used_weight(120)
    table = MetricsTable()
    for w in (w1, w2):
        seconds = [s.to_dict() for s in w.drain()]
        payload = {"binance": {"weight_limit": 6000, "weight_window_s": 60, "seconds": seconds}}
        table.merge_report(msgpack.loads(msgpack.dumps(payload), strict_map_key=False))
    totals = table.totals()["binance"]
    assert (totals["requests"], totals["weight_requested"], totals["banned"]) == (2, 7, 1)
    assert totals["used_weight_max"] == 120
    assert (totals["weight_limit"], totals["first_second"], totals["last_second"]) == (6000, 10, 10)


def test_history_rows_one_per_second_zero_filled_and_late_data_in_an_extra_row():
    clock = Clock(20.0)
    m = worker(clock)
    m.request(1)
    clock.now = 23.0
    m.request(3)
    table = MetricsTable()
    table.merge("binance", 6000, 60, m.drain())
    rows = [dict(zip(HISTORY_COLUMNS, r, strict=True)) for r in table.history_rows(through=22)]
    seen = [(r["timestamp"], r["requests"], r["used_weight_max"]) for r in rows]
    assert seen == [(20, 1, ""), (21, 0, ""), (22, 0, "")]
    assert table.history_rows(through=22) == []
    clock.now = 21.0
    m.ws_gap()  # arrives after second 21 was written
    table.merge("binance", 6000, 60, m.drain())
    rows = [dict(zip(HISTORY_COLUMNS, r, strict=True)) for r in table.history_rows(through=23)]
    assert [(r["timestamp"], r["weight_requested"], r["ws_gaps"]) for r in rows] == [(21, 0, 1), (23, 3, 0)]
    totals = table.totals()["binance"]
    assert (totals["requests"], totals["weight_requested"], totals["ws_gaps"], totals["last_second"]) == (2, 4, 1, 23)


def test_hub_writes_the_history_csv_and_the_totals_json(tmp_path):
    prefix = tmp_path / "run" / "locust"
    environment = Environment(parsed_options=Namespace(csv_prefix=str(prefix)))
    hub = MetricsHub(environment)
    metrics = hub.collector("binance")
    metrics.weight_limit, metrics.weight_window_s = 1200, 60
    metrics.request(25)
    metrics.used_weight(25)
    metrics.ws_reconnect()
    hub.finish()
    with open(f"{prefix}_exchange_history.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 1 and rows[0]["exchange"] == "binance"
    assert sum(int(r["requests"]) for r in rows) == 1
    assert max(r["used_weight_max"] for r in rows) == "25"
    totals = json.loads((tmp_path / "run" / "locust_exchange.json").read_text(encoding="utf-8"))
    binance = totals["exchanges"]["binance"]
    assert (binance["requests"], binance["weight_requested"], binance["ws_reconnects"]) == (1, 25, 1)
    assert (binance["weight_limit"], binance["used_weight_max"]) == (1200, 25)
    metrics.request(5)  # counted after the end: a second `quitting` must not start the history file anew
    hub.finish()
    with open(f"{prefix}_exchange_history.csv", newline="", encoding="utf-8") as f:
        assert sum(int(r["requests"]) for r in csv.DictReader(f)) == 1


def test_hub_without_csv_prefix_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hub = MetricsHub(Environment(parsed_options=Namespace(csv_prefix=None)))
    hub.collector("binance").request(1)
    hub.finish()
    assert list(tmp_path.iterdir()) == []
