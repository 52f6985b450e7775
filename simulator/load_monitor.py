"""The simulator's own load, per second: its process's CPU share, its event loop's lag, its memory and files.

One process with one event loop serves every exchange, so under enough load the simulator itself, not
the exchange it imitates, sets the pace. A small task wakes every `interval_s` and measures how late it
woke (the loop's lag: how long any callback waited for the loop); each wall-clock second it closes a row
with the process's CPU time over the row's span (as a share of one core), the lag's median and maximum,
and the REST requests and WebSocket messages the exchanges counted in that span, and the process's resident
memory and open file descriptors when the row closed (`simulator.process_usage`; a leak shows as a rising series).

A row runs from the sampler's first wake-up in a second (`t`, epoch seconds) to its first wake-up in a later
second: `span_s` is about 1 s, longer when the loop was blocked across a second boundary (the seconds it
skipped have no row of their own), so the rows tile the time without gaps or overlaps and their counts add
up exactly to the exchanges' totals. The last `history_s` rows are kept, so memory stays bounded however
long the simulator runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from simulator import process_usage
from simulator.process_usage import ProcessUsage

INTERVAL_S = 0.05  # the sampler wakes 20 times a second
HISTORY_S = 600  # seconds kept: a reader that polls at least every 10 minutes misses none

Counts = Callable[[], tuple[int, int]]  # (REST requests answered, WebSocket messages sent) since the start


@dataclass(frozen=True, slots=True)
class Second:
    """One row of the series (see the module's docstring)."""

    t: float  # epoch seconds (ms resolution) at which the row started
    span_s: float
    cpu_share: float  # process CPU time over span_s: 1.0 is one core busy all the time
    lag_p50_ms: float | None  # the loop's lag at the sampler's wake-ups: median ...
    lag_max_ms: float | None  # ... and maximum (None: no wake-up yet)
    lag_samples: int  # wake-ups in the span (few when the loop was blocked)
    requests: int  # REST requests answered in the span, every exchange
    ws_messages: int  # WebSocket messages sent in the span, every exchange
    rss_mb: float | None = None  # the process's resident memory (MiB) when the row closed (None: not measured)
    fds: int | None = None  # ... and its open file descriptors

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class SecondsRecorder:
    """Samples in, per-second rows out; no clock or loop of its own, so it is tested with made-up samples."""

    def __init__(self, wall_s: float, mono_s: float, cpu_s: float, counts: tuple[int, int],
                 history_s: int = HISTORY_S, usage: Callable[[], ProcessUsage] = lambda: process_usage.NOT_MEASURED,
                 ) -> None:
        self.closed: deque[Second] = deque(maxlen=history_s)
        self.usage = usage  # read once per row, when it closes (or is shown open)
        self._open(wall_s, mono_s, cpu_s, counts)

    def _open(self, wall_s: float, mono_s: float, cpu_s: float, counts: tuple[int, int]) -> None:
        self.open_t = round(wall_s, 3)
        self.open_mono_s = mono_s
        self.open_cpu_s = cpu_s
        self.open_counts = counts
        self.lags_ms: list[float] = []

    def sample(self, wall_s: float, mono_s: float, cpu_s: float, lag_ms: float, counts: tuple[int, int]) -> None:
        """One wake-up: its lag belongs to the open row; the first wake-up in a new second closes that row."""
        self.lags_ms.append(lag_ms)
        if int(wall_s) != int(self.open_t):
            self.closed.append(self.current(mono_s, cpu_s, counts))
            self._open(wall_s, mono_s, cpu_s, counts)

    def current(self, mono_s: float, cpu_s: float, counts: tuple[int, int]) -> Second:
        """The open row as it stands (it covers part of a second)."""
        span = max(mono_s - self.open_mono_s, 0.0)
        lags = self.lags_ms
        usage = self.usage()
        return Second(
            t=self.open_t,
            span_s=round(span, 3),
            cpu_share=round((cpu_s - self.open_cpu_s) / span, 3) if span > 0 else 0.0,
            lag_p50_ms=round(statistics.median(lags), 2) if lags else None,
            lag_max_ms=round(max(lags), 2) if lags else None,
            lag_samples=len(lags),
            requests=counts[0] - self.open_counts[0],
            ws_messages=counts[1] - self.open_counts[1],
            rss_mb=usage.rss_mb,
            fds=usage.fds,
        )

    def since(self, t: float) -> list[Second]:
        """The kept closed rows that started after `t` (epoch seconds)."""
        return [row for row in self.closed if row.t > t]


class LoadMonitor:
    """The sampler task and its rows; `start()` and `stop()` inside the simulator's event loop."""

    def __init__(self, counts: Counts, interval_s: float = INTERVAL_S, history_s: int = HISTORY_S) -> None:
        self.counts = counts
        self.interval_s = interval_s
        self.history_s = history_s
        self.started_mono_s = time.monotonic()
        self.recorder = SecondsRecorder(time.time(), self.started_mono_s, time.process_time(), counts(), history_s,
                                        process_usage.sample)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.interval_s
        while True:
            await asyncio.sleep(max(due - loop.time(), 0.0))
            now = loop.time()
            lag_ms = max(now - due, 0.0) * 1000
            self.recorder.sample(time.time(), now, time.process_time(), lag_ms, self.counts())
            due = now + self.interval_s  # the next wake-up counts from this one: a late loop is not made to catch up

    def to_json(self, since: float | None = None, recent_s: int = 10) -> dict[str, Any]:
        """What `/__sim/stats` shows under "process": the closed rows that started after `since` (epoch
        seconds; None: the last `recent_s`) and the open one."""
        recorder = self.recorder
        now_mono, cpu_s = time.monotonic(), time.process_time()
        rows = recorder.since(since) if since is not None else list(recorder.closed)[-recent_s:]
        return {
            "cpu_s": round(cpu_s, 3),
            "uptime_s": round(now_mono - self.started_mono_s, 3),
            "lag_interval_ms": round(self.interval_s * 1000, 3),
            "history_s": self.history_s,
            "seconds": [row.to_json() for row in rows],
            "current": recorder.current(now_mono, cpu_s, self.counts()).to_json(),
        }
