"""The simulator's own load per second: CPU share and event-loop lag, in `/__sim/stats` under "process"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import requests

from simulator.load_monitor import LoadMonitor, SecondsRecorder
from tests.support.simserver import SimServer

ROW_FIELDS = {"t", "span_s", "cpu_share", "lag_p50_ms", "lag_max_ms", "lag_samples", "requests", "ws_messages",
              "rss_mb", "fds"}
T0 = 1_800_000_000


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def test_rows_close_at_each_new_second_and_add_up_to_the_counts() -> None:
    recorder = SecondsRecorder(T0 + 0.02, 100.0, 5.0, (0, 0))
    recorder.sample(T0 + 0.5, 100.48, 5.2, 1.0, (10, 3))
    recorder.sample(T0 + 1.01, 100.99, 5.5, 3.0, (25, 7))  # first wake-up in the next second closes the row
    recorder.sample(T0 + 1.6, 101.58, 5.6, 2.0, (30, 9))
    recorder.sample(T0 + 3.9, 103.88, 7.9, 2300.0, (31, 9))  # the loop was blocked for 2.3 s
    recorder.sample(T0 + 4.0, 103.98, 7.95, 1.0, (40, 12))
    first, second, blocked = recorder.closed
    assert (first.t, first.span_s, first.cpu_share) == (T0 + 0.02, 0.99, round(0.5 / 0.99, 3))
    assert (first.lag_p50_ms, first.lag_max_ms, first.lag_samples) == (2.0, 3.0, 2)
    assert (first.requests, first.ws_messages) == (25, 7)
    assert second.t == T0 + 1.01 and second.span_s == 2.89 and second.lag_max_ms == 2300.0
    assert blocked.t == T0 + 3.9 and blocked.lag_samples == 1
    assert first.t + first.span_s == pytest.approx(second.t)  # the rows tile the time
    current = recorder.current(104.2, 8.0, (41, 12))
    assert current.t == T0 + 4 and current.lag_samples == 0 and current.lag_max_ms is None
    assert (first.rss_mb, first.fds) == (None, None)  # no usage reader given: not measured, never 0
    rows = [*recorder.closed, current]
    assert sum(r.requests for r in rows) == 41 and sum(r.ws_messages for r in rows) == 12
    assert [r.t for r in recorder.since(T0 + 0.02)] == [T0 + 1.01, T0 + 3.9]


def test_history_is_bounded() -> None:
    recorder = SecondsRecorder(T0, 0.0, 0.0, (0, 0), history_s=5)
    for i in range(1, 50):
        recorder.sample(T0 + i, float(i), 0.0, 0.5, (i, 0))
    assert len(recorder.closed) == 5 and recorder.closed[-1].t == T0 + 48


def test_a_blocked_loop_shows_as_lag() -> None:
    async def scenario() -> dict:
        monitor = LoadMonitor(lambda: (0, 0))
        monitor.start()
        await asyncio.sleep(0.2)
        time.sleep(0.3)  # blocks the event loop, as a slow handler would
        await asyncio.sleep(0.2)
        report = monitor.to_json(since=0)
        await monitor.stop()
        return report

    report = asyncio.run(scenario())
    rows = [*report["seconds"], report["current"]]
    assert all(set(row) == ROW_FIELDS for row in rows)
    assert max(row["lag_max_ms"] or 0 for row in rows) >= 250  # a wake-up due during the block came >= 250 ms late
    assert all(row["rss_mb"] > 5 and row["fds"] >= 3 for row in rows)  # this process's memory and files (Linux)
    assert report["lag_interval_ms"] == 50 and report["history_s"] == 600


def test_stats_report_the_process_and_a_cpu_burning_request_blocks_the_loop(http: requests.Session) -> None:
    with SimServer({"binance": {"faults": {"cpu_burn_ms": 300}}}) as sim:
        assert http.get(f"{sim.api}/ping", timeout=10).status_code == 200
        stats = http.get(f"{sim.url}/__sim/stats?since=0", timeout=10).json()
        assert stats["exchanges"]["binance"]["faults"]["cpu_burn"] == 1
        process = stats["process"]
        assert {"cpu_s", "uptime_s", "lag_interval_ms", "history_s", "seconds", "current"} <= set(process)
        rows = [*process["seconds"], process["current"]]
        assert max(row["lag_max_ms"] or 0 for row in rows) >= 250
        assert sum(row["requests"] for row in rows) == 1
        later = http.get(f"{sim.url}/__sim/stats?since={2**40}", timeout=10).json()
        assert later["process"]["seconds"] == []
        bad = http.get(f"{sim.url}/__sim/stats?since=yesterday", timeout=10)
        assert bad.status_code == 400 and "since" in bad.json()["error"]
