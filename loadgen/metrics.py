"""Per-exchange counters beyond Locust's request stats, per wall-clock second.

Users count into an `ExchangeMetrics` (plain attribute adds). Once a second (local run) or with
every worker report (distributed run, via `report_to_master`/`worker_report`), the pending seconds
are merged into the `MetricsTable` of the process that writes results. With Locust's `--csv PREFIX`
that process appends `PREFIX_exchange_history.csv` (one row per exchange per second, flushed as
the run goes) and writes `PREFIX_exchange.json` (run totals) when Locust quits.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import gevent
from locust.env import Environment
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

from loadgen import messages, state
from loadgen.ending import run_end
from loadgen.messages import ExchangeGauges, ExchangeMetricsReport

logger = logging.getLogger(__name__)

# Counters summed when seconds from several processes are merged.
COUNT_FIELDS = (
    "requests",  # REST requests sent
    "weight_requested",  # the exchange's published weight of those requests
    "rate_limited",  # answers classified rate_limited (HTTP 429, Binance -1003/-1015)
    "banned",  # answers classified banned (HTTP 418)
    "retry_after_waits",  # times a polite user waited for a shared Retry-After pause
    "weight_waits",  # times a polite user waited for the weight budget
    "ws_messages",
    "ws_reconnects",
    "ws_drops",  # abnormal closes, lost or stalled connections
    "ws_gaps",  # sequence gaps (e.g. order-book diffs with missing update ids)
    "ws_pings",  # server pings answered
    "paced_starts",  # requests started by open-model users on the cluster-wide schedule
    "late_starts",  # ... of those, started more than --late-start-ms after their intended time
    "skipped_starts",  # scheduled starts dropped: no user was free within --max-start-lag-s
    "breaker_opened",  # circuit-breaker transitions to open ...
    "breaker_half_opened",  # ... to half-open (a trial request is let through) ...
    "breaker_closed",  # ... and back to closed
    "breaker_rejected",  # requests not sent because the breaker was open
    "failover_wins",  # failover price requests this exchange answered first
)
SECONDS_FIELDS = ("retry_after_wait_s", "weight_wait_s")
# Summed like the counters, but kept in memory only (the ramp's search reads them; no file has them).
INTERNAL_COUNTS = (
    "limit_units",  # what the requests drew on the limit the adapter's limit_unit names
    "ok_answers",  # REST answers that succeeded ...
    "overload_answers",  # ... and those that said the exchange could not keep up (5xx, timeouts: OVERLOAD_KINDS)
)
HISTORY_COLUMNS = (
    "timestamp",
    "exchange",
    "requests",
    "weight_requested",
    "used_weight_last",  # the server's used-weight header: the latest value seen in this second ...
    "used_weight_max",  # ... and the highest
    "order_count_max",  # the highest unfilled-order count the exchange reported for its shortest order window
    "weight_limit",
    "weight_window_s",
    "rate_limited",
    "banned",
    "retry_after_waits",
    "retry_after_wait_s",
    "weight_waits",
    "weight_wait_s",
    "ws_messages",
    "ws_reconnects",
    "ws_drops",
    "ws_gaps",
    "ws_pings",
    "paced_starts",
    "late_starts",
    "skipped_starts",
    "start_lag_max_ms",  # the largest lateness of a paced start in this second
    "breaker_opened",
    "breaker_half_opened",
    "breaker_closed",
    "breaker_rejected",
    "failover_wins",
)


class SecondStats:
    """One exchange's counters for one wall-clock second. Merging is associative and commutative."""

    __slots__ = (
        *COUNT_FIELDS,
        *INTERNAL_COUNTS,
        *SECONDS_FIELDS,
        "second",
        "used_weight_last",
        "used_weight_last_at",
        "used_weight_max",
        "order_count_max",
        "start_lag_max_ms",
    )

    def __init__(self, second: int) -> None:
        self.second = second
        for name in (*COUNT_FIELDS, *INTERNAL_COUNTS):
            setattr(self, name, 0)
        for name in SECONDS_FIELDS:
            setattr(self, name, 0.0)
        self.used_weight_last: int | None = None
        self.used_weight_last_at = 0.0
        self.used_weight_max: int | None = None
        self.order_count_max: int | None = None
        self.start_lag_max_ms: float | None = None

    def note_start_lag(self, lag_ms: float) -> None:
        if self.start_lag_max_ms is None or lag_ms > self.start_lag_max_ms:
            self.start_lag_max_ms = lag_ms

    def note_used_weight(self, value: int, at: float) -> None:
        if self.used_weight_max is None or value > self.used_weight_max:
            self.used_weight_max = value
        if self.used_weight_last is None or at >= self.used_weight_last_at:
            self.used_weight_last, self.used_weight_last_at = value, at

    def note_order_count(self, value: int) -> None:
        if self.order_count_max is None or value > self.order_count_max:
            self.order_count_max = value

    def merge(self, other: SecondStats) -> None:
        for name in (*COUNT_FIELDS, *INTERNAL_COUNTS, *SECONDS_FIELDS):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.used_weight_max is not None and (
            self.used_weight_max is None or other.used_weight_max > self.used_weight_max
        ):
            self.used_weight_max = other.used_weight_max
        if other.used_weight_last is not None and (
            self.used_weight_last is None or other.used_weight_last_at >= self.used_weight_last_at
        ):
            self.used_weight_last, self.used_weight_last_at = other.used_weight_last, other.used_weight_last_at
        if other.order_count_max is not None:
            self.note_order_count(other.order_count_max)
        if other.start_lag_max_ms is not None:
            self.note_start_lag(other.start_lag_max_ms)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SecondStats:
        stats = cls(int(data["second"]))
        for name in cls.__slots__:
            if name in data:
                setattr(stats, name, data[name])
        return stats


class ExchangeMetrics:
    """The counting side, one per exchange per process. Each call is a few attribute adds."""

    def __init__(self, exchange: str, clock: Callable[[], float] = time.time) -> None:
        self.exchange = exchange
        self.weight_limit: int | None = None
        self.weight_window_s: int | None = None
        self._clock = clock
        self._pending: dict[int, SecondStats] = {}
        self._current: SecondStats | None = None
        # Gauges: what holds in this process now (for the web UI's live view), reported as they stand.
        self.ws_open = 0  # WebSocket connections open
        self.banned_until: float | None = None  # wall-clock end of the latest ban, from its Retry-After
        self.last_used_weight: tuple[int, float] | None = None  # the latest used-weight header, and when

    def _now(self) -> SecondStats:
        second = int(self._clock())
        current = self._current
        if current is None or current.second != second:
            current = self._pending.get(second)
            if current is None:
                current = self._pending[second] = SecondStats(second)
            self._current = current
        return current

    def request(self, weight: int, limit_units: int = 0, ok: bool = True, overloaded: bool = False) -> None:
        """One REST request, counted when its answer came (`ok`: it succeeded; `overloaded`: see OVERLOAD_KINDS)."""
        s = self._now()
        s.requests += 1
        s.weight_requested += weight
        s.limit_units += limit_units
        s.ok_answers += ok
        s.overload_answers += overloaded

    def used_weight(self, value: int) -> None:
        now = self._clock()
        self._now().note_used_weight(value, now)
        self.last_used_weight = (value, now)

    def order_count(self, value: int) -> None:
        """The account's unfilled-order count, as an answer to an order reported it."""
        self._now().note_order_count(value)

    def rate_limited(self) -> None:
        self._now().rate_limited += 1

    def banned(self, retry_after_s: float | None = None) -> None:
        self._now().banned += 1
        if retry_after_s is not None:
            until = self._clock() + retry_after_s
            self.banned_until = until if self.banned_until is None else max(self.banned_until, until)

    def retry_after_wait(self, seconds: float) -> None:
        s = self._now()
        s.retry_after_waits += 1
        s.retry_after_wait_s += seconds

    def weight_wait(self, seconds: float) -> None:
        s = self._now()
        s.weight_waits += 1
        s.weight_wait_s += seconds

    def ws_message(self) -> None:
        self._now().ws_messages += 1

    def ws_opened(self) -> None:
        self.ws_open += 1

    def ws_closed(self) -> None:
        self.ws_open -= 1

    def gauges(self) -> ExchangeGauges:
        """The gauges, msgpack-safe."""
        used, at = self.last_used_weight or (None, None)
        return {"ws_open": self.ws_open, "banned_until": self.banned_until, "used_weight": used, "used_weight_at": at}

    def ws_reconnect(self) -> None:
        self._now().ws_reconnects += 1

    def ws_drop(self) -> None:
        self._now().ws_drops += 1

    def ws_gap(self) -> None:
        self._now().ws_gaps += 1

    def ws_ping(self) -> None:
        self._now().ws_pings += 1

    def paced_start(self, lag_ms: float, late: bool, skipped: int) -> None:
        s = self._now()
        s.paced_starts += 1
        s.skipped_starts += skipped
        s.note_start_lag(lag_ms)
        if late:
            s.late_starts += 1

    def breaker_transition(self, state: str) -> None:
        """Count a circuit-breaker change to `state` ("open", "half_open" or "closed")."""
        s = self._now()
        name = {"open": "breaker_opened", "half_open": "breaker_half_opened", "closed": "breaker_closed"}[state]
        setattr(s, name, getattr(s, name) + 1)

    def breaker_rejected(self) -> None:
        self._now().breaker_rejected += 1

    def failover_win(self) -> None:
        self._now().failover_wins += 1

    def drain(self) -> list[SecondStats]:
        """Hand over everything counted so far (the current second too; later counts start a new entry)."""
        pending, self._pending, self._current = self._pending, {}, None
        return sorted(pending.values(), key=lambda s: s.second)


@dataclass(slots=True)
class ExchangeTable:
    """One exchange's merged seconds: those not yet written to the history, and the total of those that were."""

    weight_limit: int | None = None
    weight_window_s: int | None = None
    first_second: int | None = None
    written_through: int | None = None  # the last second already written to the history file
    pending: dict[int, SecondStats] = field(default_factory=dict)
    written_total: SecondStats = field(default_factory=lambda: SecondStats(0))

    def last_second(self) -> int | None:
        candidates = [*self.pending, *([self.written_through] if self.written_through is not None else [])]
        return max(candidates) if candidates else None


class MetricsTable:
    """Every process's seconds merged, per exchange: the source of the history rows and the totals."""

    def __init__(self) -> None:
        self.exchanges: dict[str, ExchangeTable] = {}
        self.all_exchanges: dict[int, SecondStats] = {}  # every exchange together, per second, kept for the run
        self.by_exchange: dict[str, dict[int, SecondStats]] = {}  # each exchange per second, kept for the run

    def span(self, first_second: int, last_second: int, exchange: str | None = None) -> SecondStats:
        """The counts from `first_second` through `last_second`, summed (what has arrived so far): one
        exchange's, or every exchange's together."""
        seconds = self.all_exchanges if exchange is None else self.by_exchange.get(exchange, {})
        total = SecondStats(first_second)
        for second in range(first_second, last_second + 1):
            part = seconds.get(second)
            if part is not None:
                total.merge(part)
        return total

    def seconds_of(self, exchange: str, first_second: int, last_second: int) -> list[SecondStats]:
        """One exchange's seconds from `first_second` through `last_second` that have counts (arrived so far)."""
        seconds = self.by_exchange.get(exchange, {})
        return [seconds[t] for t in range(first_second, last_second + 1) if t in seconds]

    def merge(
        self, exchange: str, weight_limit: int | None, weight_window_s: int | None, seconds: Iterable[SecondStats]
    ) -> None:
        table = self.exchanges.setdefault(exchange, ExchangeTable())
        if weight_limit is not None:
            table.weight_limit, table.weight_window_s = weight_limit, weight_window_s
        for incoming in seconds:
            if table.first_second is None or incoming.second < table.first_second:
                table.first_second = incoming.second
            for kept in (self.all_exchanges, self.by_exchange.setdefault(exchange, {})):
                second = kept.get(incoming.second)
                if second is None:
                    second = kept[incoming.second] = SecondStats(incoming.second)
                second.merge(incoming)
            existing = table.pending.get(incoming.second)
            if existing is None:
                table.pending[incoming.second] = incoming
            else:
                existing.merge(incoming)

    def merge_report(self, report: dict[str, ExchangeMetricsReport]) -> None:
        """Merge the payload another process built with `report_payload`."""
        for exchange, part in report.items():
            seconds = [SecondStats.from_dict(s) for s in part["seconds"]]
            self.merge(exchange, part["weight_limit"], part["weight_window_s"], seconds)

    def history_rows(self, through: int) -> list[list[Any]]:
        """Rows not yet written for the seconds up to `through`: one per exchange per second from its first
        second on, zeros when idle. Data arriving later for a second already written gets an extra row for
        that second (sum the rows of a second to combine them)."""
        rows: list[list[Any]] = []
        for exchange, table in sorted(self.exchanges.items()):
            if table.first_second is None:
                continue
            start = table.first_second if table.written_through is None else table.written_through + 1
            late = sorted(t for t in table.pending if t < start)
            for second in (*late, *range(start, through + 1)):
                stats = table.pending.pop(second, None) or SecondStats(second)
                rows.append(_row(exchange, table, stats))
                table.written_total.merge(stats)
            if through >= start:
                table.written_through = through
        return rows

    def totals(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for exchange, table in sorted(self.exchanges.items()):
            total = SecondStats(0)
            for part in (table.written_total, *table.pending.values()):
                total.merge(part)
            entry: dict[str, Any] = {name: getattr(total, name) for name in (*COUNT_FIELDS, *SECONDS_FIELDS)}
            last = table.last_second()
            entry.update(
                used_weight_max=total.used_weight_max,
                order_count_max=total.order_count_max,
                start_lag_max_ms=total.start_lag_max_ms,
                weight_limit=table.weight_limit,
                weight_window_s=table.weight_window_s,
                first_second=table.first_second,
                last_second=last,
            )
            out[exchange] = entry
        return out


def _row(exchange: str, table: ExchangeTable, s: SecondStats) -> list[Any]:
    values = {
        **s.to_dict(),
        "timestamp": s.second,
        "exchange": exchange,
        "weight_limit": table.weight_limit,
        "weight_window_s": table.weight_window_s,
    }
    return [_cell(values[c]) for c in HISTORY_COLUMNS]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return round(value, 3) if isinstance(value, float) else value


# --- Locust wiring: collect from every process, write the files -------------------------------

LOCAL_SETTLE_S = 1  # a local run merges its own counts every second
DISTRIBUTED_SETTLE_S = int(2 * WORKER_REPORT_INTERVAL) + 1  # workers report every WORKER_REPORT_INTERVAL


class MetricsHub:
    """The per-process side of the metrics: the collectors users count into, and, in the process that
    writes results (master or local), the merged table and the output files."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.collectors: dict[str, ExchangeMetrics] = {}
        self.table = MetricsTable()
        self._history: TextIO | None = None
        self._finished = False
        self._history_csv: Any = None

    def collector(self, exchange: str) -> ExchangeMetrics:
        metrics = self.collectors.get(exchange)
        if metrics is None:
            metrics = self.collectors[exchange] = ExchangeMetrics(exchange)
        return metrics

    # -- moving counts between processes

    def report_payload(self) -> dict[str, ExchangeMetricsReport]:
        """Everything counted here since the last call, msgpack-safe."""
        return {
            name: {
                "weight_limit": m.weight_limit,
                "weight_window_s": m.weight_window_s,
                "seconds": [s.to_dict() for s in m.drain()],
            }
            for name, m in self.collectors.items()
        }

    def merge_own(self) -> None:
        for name, m in self.collectors.items():
            self.table.merge(name, m.weight_limit, m.weight_window_s, m.drain())

    # -- output files

    def csv_prefix(self) -> str | None:
        options = self.environment.parsed_options
        return getattr(options, "csv_prefix", None) if options is not None else None

    def write_history(self, through: int) -> None:
        rows = self.table.history_rows(through)
        prefix = self.csv_prefix()
        if not rows or prefix is None:
            return
        if self._history is None:
            path = Path(f"{prefix}_exchange_history.csv")
            path.parent.mkdir(parents=True, exist_ok=True)
            self._history = path.open("w", newline="", encoding="utf-8")
            self._history_csv = csv.writer(self._history)
            self._history_csv.writerow(HISTORY_COLUMNS)
        self._history_csv.writerows(rows)
        self._history.flush()

    def write_totals(self) -> None:
        prefix = self.csv_prefix()
        if prefix is None:
            return
        path = Path(f"{prefix}_exchange.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        window = run_end.run_window(self.environment)
        run = {"started_at": window.started_at, "stopped_at": window.stopped_at,
               "duration_s": round(window.duration_s(), 3)}
        path.write_text(json.dumps({"run": run, "exchanges": self.table.totals()}, indent=2) + "\n", encoding="utf-8")

    def finish(self) -> None:
        """At quit, once the run is settled: take the last counts, write every remaining history row and the totals.
        Once: Locust may fire `quitting` twice, and the history file, closed here, must not be opened anew."""
        if self._finished:
            return
        self._finished = True
        run_end.settle(self.environment)
        if not isinstance(self.environment.runner, MasterRunner):
            self.merge_own()
        self.write_history(int(time.time()))
        self.write_totals()
        if self._history is not None:
            self._history.close()
            self._history = None


def metrics_hub(environment: Environment) -> MetricsHub:
    """The environment's hub, created and hooked into its events on first use."""
    hub = state.of(environment).get(MetricsHub)
    if hub is None:
        hub = state.of(environment).set(MetricsHub(environment))
        _attach(hub)
    return hub


def _attach(hub: MetricsHub) -> None:
    events = hub.environment.events
    runner = hub.environment.runner
    if isinstance(runner, WorkerRunner):
        events.report_to_master.add_listener(
            lambda data, **_: data.__setitem__(messages.EXCHANGE_METRICS_KEY, hub.report_payload())
        )
        return
    if isinstance(runner, MasterRunner):
        events.worker_report.add_listener(
            lambda data, **_: hub.table.merge_report(data.get(messages.EXCHANGE_METRICS_KEY, {}))
        )
    settle_s = DISTRIBUTED_SETTLE_S if isinstance(runner, MasterRunner) else LOCAL_SETTLE_S
    events.test_start.add_listener(lambda **_: _restart(hub))
    events.quitting.add_listener(lambda **_: hub.finish())
    if runner is not None:
        gevent.spawn(_every_second, hub, settle_s)


def _restart(hub: MetricsHub) -> None:
    """A new test (web UI): totals start from zero, as Locust's own stats do; the history file goes on."""
    hub.table = MetricsTable()
    for m in hub.collectors.values():
        m.drain()


def _every_second(hub: MetricsHub, settle_s: int) -> None:
    while not hub._finished:  # after `finish` the history is closed: a process still up (--metrics-linger-s) adds none
        gevent.sleep(1.0)
        if hub._finished:
            return
        try:
            if not isinstance(hub.environment.runner, MasterRunner):
                hub.merge_own()
            hub.write_history(int(time.time()) - settle_s)
        except Exception:
            logger.exception("exchange metrics: writing the history failed")
