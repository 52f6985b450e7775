"""The suite's figures as Prometheus metrics, read from the run's merged state when scraped.

`RunCollector` is a `prometheus_client` custom collector: it does no work on the request path. At each
scrape it reads what the process that writes results (the master, or the single local process) already
holds: Locust's stats entries and errors (merged from every worker), the exchange counters
(`loadgen.metrics`), the live gauges (`loadgen.web.exchange_view`, workers' gauges from their reports)
and each process's memory and open files (`loadgen.process_history`). Label values are the run's own
exchanges, entry names and the fixed failure kinds (`exchanges.base.FailureKind`), so cardinality is what
the run configured. The metrics and their labels are listed in docs/metrics.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from locust.env import Environment
from locust.runners import MasterRunner
from locust.stats import StatsEntry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from loadgen.exposition.names import BUCKETS_MS, PREFIX, failure_kind
from loadgen.gates import run_snapshot
from loadgen.gates.evaluation import WS_METHOD, EntryStats, ExchangeCatalog, order_figures
from loadgen.metrics import COUNT_FIELDS, metrics_hub
from loadgen.options import OptionError
from loadgen.users.ws_order_rows import EVENT_ROW, LOST_ORDER_EVENT
from loadgen.users.ws_order_rows import REQUEST_TYPE as ORDER_REQUEST_TYPE
from loadgen.web.exchange_view import ExchangeView
from simulator.process_usage import MB

logger = logging.getLogger(__name__)

# The exchange counters exported as `exchange_stress_<field>_total` (`requests` as `rest_requests`: the Locust
# entries' counter is `requests`), with their help texts.
COUNTER_HELP: dict[str, str] = {
    "requests": "REST requests sent, counted by the suite's exchange metrics",
    "weight_requested": "The exchange's published request weight of the REST requests sent",
    "rate_limited": "Answers the exchange's adapter classified rate_limited (HTTP 429, or the exchange's own "
                    "rate-limit error codes, even in an HTTP 200)",
    "banned": "Answers the exchange's adapter classified banned (HTTP 418, or the exchange's own lockout)",
    "retry_after_waits": "Times a user waited for a shared Retry-After pause",
    "weight_waits": "Times a polite user waited for the weight budget",
    "ws_messages": "WebSocket messages received",
    "ws_reconnects": "WebSocket reconnects",
    "ws_drops": "WebSocket connections lost abnormally (closes, resets, stalls)",
    "ws_gaps": "Sequence gaps in WebSocket streams",
    "ws_pings": "Server pings answered",
    "paced_starts": "Requests started on the open model's cluster-wide schedule",
    "late_starts": "Paced starts later than --late-start-ms after their intended time",
    "skipped_starts": "Scheduled starts dropped (no user free within --max-start-lag-s)",
    "breaker_rejected": "Requests not sent because the circuit breaker was open",
    "failover_wins": "Failover price requests this exchange answered first",
}
BREAKER_TRANSITIONS = {"breaker_opened": "open", "breaker_half_opened": "half_open", "breaker_closed": "closed"}
assert set(COUNTER_HELP) | set(BREAKER_TRANSITIONS) == set(COUNT_FIELDS), "every exchange counter is exported"


def histogram_buckets(response_times: Mapping[int, int]) -> list[tuple[str, float]]:
    """Locust's {rounded ms: count} as cumulative Prometheus buckets (upper bounds in seconds, then +Inf)."""
    counts = [0] * (len(BUCKETS_MS) + 1)
    for ms, n in response_times.items():
        i = next((i for i, bound in enumerate(BUCKETS_MS) if ms <= bound), len(BUCKETS_MS))
        counts[i] += n
    out, running = [], 0
    for bound, n in zip((*(f"{b / 1000:g}" for b in BUCKETS_MS), "+Inf"), counts, strict=True):
        running += n
        out.append((bound, float(running)))
    return out


def owner(catalogs: Mapping[str, ExchangeCatalog], row_name: str, order_owner: str = "") -> str:
    """The exchange a Locust row belongs to ("" when none claims it, e.g. a locustfile's own rows). Order events
    without an exchange in their name (`order→STATE`, `lost_order_event`) belong to `order_owner`."""
    for name, catalog in catalogs.items():
        if catalog.owns(row_name) or catalog.base_name(row_name) != row_name:
            return name
    if len(catalogs) == 1:
        return next(iter(catalogs))
    return order_owner if row_name.startswith(EVENT_ROW.format("")) or row_name == LOST_ORDER_EVENT else ""


def plain_order_owner(catalogs: Mapping[str, ExchangeCatalog], entries: Iterable[StatsEntry]) -> str:
    """The one exchange whose order row is among the rows named without an exchange, "" when none or several:
    whose order events those plain event rows are."""
    names = {e.name for e in entries if e.method == ORDER_REQUEST_TYPE}
    owners = [name for name, catalog in catalogs.items() if catalog.order_row and catalog.order_row in names]
    return owners[0] if len(owners) == 1 else ""


def latency_family(method: str, is_stream: bool) -> str:
    if method == ORDER_REQUEST_TYPE:
        return "order"
    if method == WS_METHOD:
        return "ws_event" if is_stream else "ws_request"
    return "rest"


LATENCY_HELP = {
    "rest": ("rest_latency_seconds", "REST response time per endpoint (Locust's histogram)"),
    "ws_event": ("ws_event_latency_seconds",
                 "WebSocket event latency per stream: receive time minus the exchange's event time"),
    "ws_request": ("ws_request_latency_seconds", "Timed WebSocket operations other than messages (connect, ...)"),
    "order": ("order_latency_seconds",
              "Order path: the order row's ack time, order→STATE rows' event lag (loadgen/users/ws_order_rows.py)"),
}


class RunCollector(Collector):
    """Reads the run at scrape time (master or local process)."""

    def __init__(self, environment: Environment, view: ExchangeView) -> None:
        self.environment = environment
        self.view = view
        # Locust's own histogram ({rounded ms: count}) behind each latency series of the last collect, keyed by
        # (family name, label values): for exporters that want the finer percentiles (loadgen/exposition/otel.py).
        self.histograms: dict[tuple[str, tuple[str, ...]], dict[int, int]] = {}

    def collect(self) -> Iterator[Metric]:
        try:
            catalogs = run_snapshot.catalogs(self.environment)
        except OptionError:
            catalogs = {}
        entries = [e for e in self.environment.stats.entries.values() if e.num_requests or e.num_failures]
        yield from self._requests(catalogs, entries)
        yield from self._exchanges()
        yield from self._orders(catalogs, entries)
        yield from self._run()

    def _requests(self, catalogs: Mapping[str, ExchangeCatalog], entries: list[StatsEntry]) -> Iterator[Metric]:
        labels = ["exchange", "method", "endpoint"]
        requests = CounterMetricFamily(PREFIX + "requests", "Requests and messages per Locust entry", labels=labels)
        failures = CounterMetricFamily(PREFIX + "failures", "Failures per Locust entry and failure kind",
                                       labels=[*labels, "kind"])
        families = {k: HistogramMetricFamily(PREFIX + name, help_text, labels=labels)
                    for k, (name, help_text) in LATENCY_HELP.items()}
        histograms: dict[tuple[str, tuple[str, ...]], dict[int, int]] = {}
        order_owner = plain_order_owner(catalogs, entries)
        for e in entries:
            exchange = owner(catalogs, e.name, order_owner)
            values = [exchange, e.method, e.name]
            requests.add_metric(values, e.num_requests)
            catalog = catalogs.get(exchange)
            family = families[latency_family(e.method, bool(catalog and catalog.is_stream(e.name)))]
            if e.response_times:
                family.add_metric(values, histogram_buckets(e.response_times), e.total_response_time / 1000)
                histograms[(family.name, tuple(values))] = dict(e.response_times)
        self.histograms = histograms
        by_kind: dict[tuple[str, str, str, str], int] = {}
        for error in self.environment.stats.errors.values():
            key = (owner(catalogs, error.name, order_owner), error.method or "", error.name,
                   failure_kind(str(error.error)))
            by_kind[key] = by_kind.get(key, 0) + error.occurrences
        for key, n in sorted(by_kind.items()):
            failures.add_metric(list(key), n)
        yield requests
        yield failures
        yield from families.values()

    def _exchanges(self) -> Iterator[Metric]:
        hub = metrics_hub(self.environment)
        if not isinstance(self.environment.runner, MasterRunner):
            hub.merge_own()  # a local run: take this process's counts up to now (workers' come with their reports)
        totals = hub.table.totals()
        counters = {f: CounterMetricFamily(PREFIX + ("rest_requests" if f == "requests" else f), help_text,
                                           labels=["exchange"])
                    for f, help_text in COUNTER_HELP.items()}
        transitions = CounterMetricFamily(PREFIX + "breaker_transitions", "Circuit-breaker transitions, by new state",
                                          labels=["exchange", "state"])
        for name, t in totals.items():
            for f, family in counters.items():
                family.add_metric([name], t.get(f) or 0)
            for f, to in BREAKER_TRANSITIONS.items():
                transitions.add_metric([name, to], t.get(f) or 0)
        yield from counters.values()
        yield transitions
        yield from self._gauges(totals)

    def _gauges(self, totals: Mapping[str, Mapping[str, Any]]) -> Iterator[Metric]:
        now = time.time()
        gauges = self.view.gauges()
        g = {key: GaugeMetricFamily(PREFIX + key, help_text, labels=["exchange"]) for key, help_text in (
            ("weight_limit", "The request-weight limit per window the run uses"),
            ("weight_window_seconds", "Length of the request-weight window"),
            ("used_weight", "The exchange's latest used-weight header (none before one, or once its window is over)"),
            ("ws_connections", "WebSocket connections open now, all processes"),
            ("bans_active", "1 while a ban (418) of this exchange lasts, by its Retry-After"),
        )}
        breakers = GaugeMetricFamily(PREFIX + "breakers", "Circuit breakers (one per exchange per process) by state",
                                     labels=["exchange", "state"])
        for name in sorted({*totals, *gauges}):
            t, gauge = totals.get(name, {}), gauges.get(name, {})
            if t.get("weight_limit") is not None:
                g["weight_limit"].add_metric([name], t["weight_limit"])
            if t.get("weight_window_s") is not None:
                g["weight_window_seconds"].add_metric([name], t["weight_window_s"])
            used_at, window_s = gauge.get("used_weight_at"), t.get("weight_window_s")
            fresh = used_at is not None and (not window_s or now - used_at <= window_s)  # as the Exchange tab shows it
            if gauge.get("used_weight") is not None and fresh:
                g["used_weight"].add_metric([name], gauge["used_weight"])
            g["ws_connections"].add_metric([name], gauge.get("ws_open", 0))
            g["bans_active"].add_metric([name], 1 if (gauge.get("banned_until") or 0) > now else 0)
            for state, n in sorted(gauge.get("breakers", {}).items()):
                breakers.add_metric([name, state], n)
        yield from g.values()
        yield breakers

    def _orders(self, catalogs: Mapping[str, ExchangeCatalog], entries: Iterable[StatsEntry]) -> Iterator[Metric]:
        rows = [EntryStats(e.method, e.name, e.num_requests, e.num_failures, e.total_response_time,
                           e.max_response_time, dict(e.response_times))
                for e in entries if e.method == ORDER_REQUEST_TYPE]
        sent = CounterMetricFamily(PREFIX + "orders_sent", "WebSocket/feed orders sent", labels=["exchange"])
        acked = CounterMetricFamily(PREFIX + "orders_acked", "Orders the exchange acknowledged", labels=["exchange"])
        rejected = CounterMetricFamily(PREFIX + "orders_failed", "Orders rejected or unanswered (the order row's "
                                       "failures; see exchange_stress_failures_total for kinds)", labels=["exchange"])
        lost = CounterMetricFamily(PREFIX + "lost_order_events", "Acknowledged orders whose first event never came",
                                   labels=["exchange"])
        for name, catalog in catalogs.items():
            figures = order_figures(name, catalogs, rows) if rows else None
            if figures is None:
                continue
            orders = [r for r in rows if catalog.base_name(r.name) == catalog.order_row]
            sent.add_metric([name], sum(r.requests for r in orders))
            acked.add_metric([name], figures["orders_acked"] or 0)
            rejected.add_metric([name], sum(r.failures for r in orders))
            lost.add_metric([name], figures["lost_order_events"] or 0)
        yield from (sent, acked, rejected, lost)

    def _run(self) -> Iterator[Metric]:
        runner = self.environment.runner
        yield GaugeMetricFamily(PREFIX + "users", "Locust users running, all processes",
                                value=runner.user_count if runner is not None else 0)
        if isinstance(runner, MasterRunner):
            yield GaugeMetricFamily(PREFIX + "workers", "Workers connected and not missing", value=runner.worker_count)
        rss = GaugeMetricFamily("process_resident_memory_bytes", "Resident memory of each Locust process (latest "
                                "second)", labels=["role", "process"])
        fds = GaugeMetricFamily("process_open_fds", "Open file descriptors of each Locust process (latest second)",
                                labels=["role", "process"])
        for p in self.view.processes():
            if p["rss_mb"] is not None:
                rss.add_metric([p["role"], p["process"]], p["rss_mb"] * MB)
            if p["fds"] is not None:
                fds.add_metric([p["role"], p["process"]], p["fds"])
        yield rss
        yield fds
