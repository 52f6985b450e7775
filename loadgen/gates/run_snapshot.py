"""Plain snapshots of a Locust run for measuring: its stats entries, its exchange counters, and which
request names belong to which exchange (the exchanges whose locustfiles called `plugin.install`)."""

from __future__ import annotations

from typing import Any

from locust.env import Environment
from locust.stats import StatsError

from exchanges.base import ExchangeAdapter, FailureKind, order_row_name
from loadgen.ending import run_end
from loadgen.gates.evaluation import EntryStats, ExchangeCatalog, RunStats
from loadgen.metrics import metrics_hub
from loadgen.options import parse_settings
from loadgen.runtime import exchange_runtime
from loadgen.users.ws_connection import TIMED_REQUEST_NAMES

_EXCHANGES: dict[str, ExchangeAdapter] = {}


def register_exchange(adapter: ExchangeAdapter) -> None:
    _EXCHANGES[adapter.name] = adapter


def exchanges() -> list[ExchangeAdapter]:
    return list(_EXCHANGES.values())


def catalogs(environment: Environment) -> dict[str, ExchangeCatalog]:
    """The request names of every installed exchange: endpoints, and the streams of the current test's
    settings (of the command line before the first test). Raises OptionError for invalid options."""
    out = {}
    for adapter in exchanges():
        runtime = exchange_runtime(environment, adapter)
        settings = runtime.settings if runtime is not None else parse_settings(
            environment.parsed_options, adapter, adapter.base_on(environment.host)
        )
        streams = frozenset(adapter.stream_name(s, k) for s in settings.symbols for k in settings.streams)
        out[adapter.name] = ExchangeCatalog(adapter.name, frozenset(adapter.endpoints), streams, TIMED_REQUEST_NAMES,
                                            order_row_name(adapter))
    return out


def run_stats(environment: Environment) -> RunStats:
    """Whole-run totals as they stand: Locust's entries (merged from workers on a master) and the exchange
    counters (a local run's last counts taken first)."""
    stats = environment.stats
    classified = _classified_failures(stats.errors.values())
    entries = tuple(
        EntryStats(
            method=e.method,
            name=e.name,
            requests=e.num_requests,
            failures=e.num_failures,
            total_response_time=e.total_response_time,
            max_response_time=e.max_response_time,
            histogram=dict(e.response_times),
            rate_limited=classified.get((e.method, e.name, FailureKind.RATE_LIMITED), 0),
            banned=classified.get((e.method, e.name, FailureKind.BANNED), 0),
        )
        for e in stats.entries.values()
    )
    window = run_end.run_window(environment)  # the test's start to its stop, as every run file says
    if window.started_at is not None:
        duration_s = window.duration_s()
    else:  # no test was started through the runner (stats fed by hand): Locust's own span
        last = stats.total.last_request_timestamp
        duration_s = max(0.0, last - stats.total.start_time) if last else 0.0
    hub = metrics_hub(environment)
    hub.merge_own()
    return RunStats(duration_s, entries, hub.table.totals())


def _classified_failures(errors: Any) -> dict[tuple[str, str, FailureKind], int]:
    """Occurrences of rate-limit and ban failures per entry, read from the failure text's kind prefix."""
    counts: dict[tuple[str, str, FailureKind], int] = {}
    for error in errors:
        text = StatsError.parse_error(error.error)
        for kind in (FailureKind.RATE_LIMITED, FailureKind.BANNED):
            if text.startswith(f"{kind}:"):
                key = (error.method, error.name, kind)
                counts[key] = counts.get(key, 0) + error.occurrences
    return counts
