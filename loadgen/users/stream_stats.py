"""Stream messages logged into Locust's stats in bulk.

Firing Locust's request event for a message costs a keyword dict, a copy of the listener list and
two `StatsEntry.log` calls (the stream's row and the total). `StreamStats` logs each message once,
into a pending `StatsEntry` per stream, and merges those into Locust's rows and total with
`StatsEntry.extend`, as a master merges its workers' reports: every `FLUSH_INTERVAL_S` while
messages arrive, when a subscription stops and when the test stops. Counts, the response-time
histogram, per-second rates and sizes come out as they would message by message; listeners of the
request event see connects, failures and REST requests, not every stream message.
"""

from __future__ import annotations

from typing import Any

import gevent
from locust.env import Environment
from locust.stats import StatsEntry

from loadgen import state

FLUSH_INTERVAL_S = 0.5


class StreamStats:
    """One process's pending stream-message stats, per request type and stream name."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self._pending: dict[tuple[str, str], StatsEntry] = {}
        self._flusher: gevent.Greenlet | None = None

    def log(self, request_type: str, name: str, response_time_ms: float | None, length: int) -> None:
        """Count one message (a success) of stream `name`; `response_time_ms` None when it has no latency."""
        entry = self._pending.get((request_type, name))
        if entry is None:
            entry = self._pending[(request_type, name)] = StatsEntry(self.environment.stats, name, request_type)
            if self._flusher is None:
                self._flusher = gevent.spawn(self._flush_while_busy)
        entry.log(response_time_ms, length)  # type: ignore[arg-type]  # Locust takes None: no response time

    def flush(self) -> None:
        """Merge everything pending into Locust's stats."""
        pending, self._pending = self._pending, {}
        stats = self.environment.stats
        for (request_type, name), part in pending.items():
            stats.entries[(name, request_type)].extend(part)
            stats.total.extend(part)

    def discard(self) -> None:
        """Drop what is pending (Locust has just reset its stats)."""
        self._pending = {}

    def _flush_while_busy(self) -> None:
        """Flush every FLUSH_INTERVAL_S; end once an interval passes without messages (`log` starts it again)."""
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            if not self._pending:
                self._flusher = None
                return
            self.flush()


def stream_stats(environment: Environment) -> StreamStats:
    """The environment's stream stats, hooked into its test stop and stats resets on first use."""
    stats = state.of(environment).get(StreamStats)
    if stats is None:
        stats = state.of(environment).set(StreamStats(environment))
        environment.events.test_stop.add_listener(lambda **_: stats.flush())

        def on_spawning_complete(**_: Any) -> None:
            if environment.reset_stats:  # Locust's own listener, registered earlier, has just reset the stats
                stats.discard()

        environment.events.spawning_complete.add_listener(on_spawning_complete)
    return stats
