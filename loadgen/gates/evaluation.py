"""Measuring thresholds on a finished (or running) test, from plain snapshots of its stats.

Latency percentiles come from Locust's histograms merged across the entries in scope (and, on a
distributed master, already merged across workers): exact whole-run percentiles at Locust's
bucket resolution, never averages of percentiles. The Locust-facing side (`loadgen.gates.locust_hooks`) builds
the snapshots; this module has no Locust import, so it is tested in the main test process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from analysis.histogram import merge, percentile
from loadgen.gates.thresholds import Metric, Source, Threshold, ThresholdError, Unit, metric_named
from loadgen.users.ws_order_rows import EVENT_ROW, LOST_ORDER_EVENT
from loadgen.users.ws_order_rows import REQUEST_TYPE as ORDER_METHOD

WS_METHOD = "WS"
EXCHANGE_SEPARATOR = ":"


def exchange_prefix(exchange: str) -> str:
    """What goes before every row name an exchange's users report when several exchanges share a run
    ("binance:" in "binance:time", "binance:connect"), so that Locust keeps same-named rows apart."""
    return f"{exchange}{EXCHANGE_SEPARATOR}"


@dataclass(frozen=True, slots=True)
class ExchangeCatalog:
    """The request names one exchange's users report to Locust in this run. Names are the exchange's own
    ("depth", "connect"); Locust's rows carry them plain, or after `exchange_prefix` in a side-by-side run
    ("binance:depth"): both forms belong to this exchange."""

    name: str
    rest_names: frozenset[str]  # endpoint names ("depth", "order GET")
    stream_names: frozenset[str]  # stream message entries ("btcusdt@trade")
    ws_names: frozenset[str] = frozenset()  # timed WebSocket entries other than messages ("connect")
    order_row: str | None = None  # the order path's order row (`exchanges.base.order_row_name`); None: no such orders

    def base_name(self, row_name: str) -> str:
        """A Locust row name without this exchange's prefix."""
        return row_name.removeprefix(exchange_prefix(self.name))

    def row_names(self, names: Iterable[str]) -> frozenset[str]:
        """Every Locust row name under which this exchange may report `names`: plain and prefixed."""
        prefix = exchange_prefix(self.name)
        return frozenset(n for name in names for n in (name, prefix + name))

    def owns(self, row_name: str) -> bool:
        """Whether a Locust row (plain or prefixed) or a request name is this exchange's."""
        base = self.base_name(row_name)
        return base in self.rest_names or base in self.stream_names or base in self.ws_names

    def is_stream(self, row_name: str) -> bool:
        return self.base_name(row_name) in self.stream_names


@dataclass(frozen=True, slots=True)
class Scope:
    exchange: str | None = None
    request: str | None = None  # the exchange's own name of the request ("depth"), never a prefixed row name

    def label(self) -> str:
        return " ".join(p for p in (self.exchange, self.request) if p) or "run"


def resolve_scope(threshold: Threshold, catalogs: Mapping[str, ExchangeCatalog]) -> Scope:
    """What `threshold`'s scope names in this run; a ThresholdError for an unknown or unfit name.

    A scope names an exchange ("binance"), a request ("depth": that of every exchange that has one), an
    exchange and one of its requests ("binance depth"), or a row as a side-by-side run names it in Locust
    ("binance:depth", the same as "binance depth")."""
    text = threshold.scope
    if not text:
        return Scope()
    owners = [c for c in catalogs.values() if c.owns(text)]
    prefixed = [c for c in owners if c.base_name(text) != text]
    first, _, rest = text.partition(" ")
    if text in catalogs:
        scope = Scope(exchange=text)
    elif prefixed:
        scope = Scope(prefixed[0].name, prefixed[0].base_name(text))
    elif owners:
        scope = Scope(request=text)
    elif first in catalogs and rest and catalogs[first].owns(rest) and catalogs[first].base_name(rest) == rest:
        scope = Scope(first, rest)
    else:
        raise ThresholdError(
            f"threshold {threshold.text}: {text!r} is not an exchange or request of this run "
            f"(exchanges: {', '.join(sorted(catalogs)) or 'none'}; requests: {_some_names(catalogs)})"
        )
    metric = threshold.metric
    if scope.request is not None and metric.source in (Source.EXCHANGE, Source.ORDERS):
        raise ThresholdError(f"threshold {threshold.text}: {metric.name} can be scoped to an exchange only")
    if scope.request is not None and metric.source is Source.STREAMS:
        owners = [c for c in catalogs.values() if scope.request in c.stream_names]
        if not owners or (scope.exchange is not None and catalogs[scope.exchange] not in owners):
            raise ThresholdError(f"threshold {threshold.text}: {scope.request!r} is not a stream of this run")
    return scope


def _some_names(catalogs: Mapping[str, ExchangeCatalog], limit: int = 12) -> str:
    names = sorted({n for c in catalogs.values() for n in (*c.rest_names, *c.stream_names, *c.ws_names)})
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


@dataclass(frozen=True, slots=True)
class EntryStats:
    """One Locust stats entry (request type + name), whole run."""

    method: str
    name: str
    requests: int
    failures: int
    total_response_time: float  # ms, over the timed requests
    max_response_time: float
    histogram: Mapping[int, int]  # Locust's bucketed response times: {ms: count}; untimed requests are not in it
    rate_limited: int = 0  # failures classified rate_limited ...
    banned: int = 0  # ... and banned


@dataclass(frozen=True, slots=True)
class RunStats:
    duration_s: float  # the test's start to its stop (loadgen.ending.run_end.RunWindow)
    entries: tuple[EntryStats, ...]
    exchanges: Mapping[str, Mapping[str, float | int | None]] = field(default_factory=dict)  # per-exchange totals


@dataclass(frozen=True, slots=True)
class Outcome:
    threshold: Threshold
    scope: Scope
    value: float | None  # None: nothing was measured (no data), which fails the threshold
    error: str | None = None  # the threshold could not be measured in this run (a configuration error)

    @property
    def passed(self) -> bool:
        return self.error is None and self.value is not None and self.threshold.holds(self.value)

    def measured(self) -> str:
        return self.error or format_value(self.threshold.metric, self.value)


def evaluate(
    scoped: Iterable[tuple[Threshold, Scope]], catalogs: Mapping[str, ExchangeCatalog], run: RunStats
) -> list[Outcome]:
    outcomes = []
    for threshold, scope in scoped:
        try:
            outcomes.append(Outcome(threshold, scope, measure(threshold.metric, scope, catalogs, run)))
        except ThresholdError as exc:
            outcomes.append(Outcome(threshold, scope, None, str(exc)))
    return outcomes


def measure(metric: Metric, scope: Scope, catalogs: Mapping[str, ExchangeCatalog], run: RunStats) -> float | None:
    if metric.source is Source.EXCHANGE:
        return _exchange_value(metric, scope, run)
    if metric.source is Source.ORDERS:
        return _orders_value(metric, scope, catalogs, run.entries)
    entries = select_entries(metric.source, scope, catalogs, run.entries)
    return _entries_value(metric, entries, run.duration_s)


def select_entries(
    source: Source, scope: Scope, catalogs: Mapping[str, ExchangeCatalog], entries: Iterable[EntryStats]
) -> list[EntryStats]:
    """The entries a REQUESTS or STREAMS metric reads in `scope`, whether their names carry their exchange's
    prefix (a side-by-side run) or not.

    Without a request name, REQUESTS reads the REST entries and STREAMS the stream message entries, of one
    exchange or all (not the suite's other rows: WS connects, late starts, breaker changes); with one, that
    request's entries, of the scope's exchange or of every exchange that has it. An exchange scope cannot be
    measured when Locust merged one of its entries with another exchange's (the same name, unprefixed):
    that is a ThresholdError."""
    chosen_catalogs = [catalogs[scope.exchange]] if scope.exchange is not None else list(catalogs.values())
    if scope.request is not None:
        names = frozenset(n for c in chosen_catalogs for n in c.row_names([scope.request]))
        streams_only = source is Source.STREAMS
        chosen = [e for e in entries if e.name in names and (not streams_only or e.method == WS_METHOD)]
    elif source is Source.STREAMS:
        names = frozenset(n for c in chosen_catalogs for n in c.row_names(c.stream_names))
        chosen = [e for e in entries if e.method == WS_METHOD and e.name in names]
    else:
        names = frozenset(n for c in chosen_catalogs for n in c.row_names(c.rest_names))
        chosen = [e for e in entries if e.method != WS_METHOD and e.name in names]
    if scope.exchange is not None:
        for entry in chosen:
            shared = sorted(n for n, c in catalogs.items() if n != scope.exchange and c.owns(entry.name))
            if shared and entry.requests:
                raise ThresholdError(
                    f"{scope.label()}: Locust merged the samples of {entry.name!r} from {scope.exchange} and "
                    f"{', '.join(shared)}; scope the threshold to a request name the exchanges do not share"
                )
    return chosen


def _entries_value(metric: Metric, entries: list[EntryStats], duration_s: float) -> float | None:
    requests = sum(e.requests for e in entries)
    if metric.percentile is not None:
        return percentile(merge(e.histogram for e in entries), metric.percentile)
    timed = sum(sum(e.histogram.values()) for e in entries)
    match metric.name:
        case "avg":
            return sum(e.total_response_time for e in entries) / timed if timed else None
        case "max":
            return float(max(e.max_response_time for e in entries)) if timed else None
        case "rps":
            return requests / duration_s if duration_s > 0 else None
        case "requests":
            return float(requests)
        case "failures":
            return float(sum(e.failures for e in entries))
        case "rate_limited":
            return float(sum(e.rate_limited + e.banned for e in entries))
        case "banned":
            return float(sum(e.banned for e in entries))
        case "fail_ratio":
            return sum(e.failures for e in entries) / requests if requests else None
        case "rate_limited_ratio":
            return sum(e.rate_limited + e.banned for e in entries) / requests if requests else None
    raise AssertionError(f"no measurement for request metric {metric.name}")


def _orders_value(
    metric: Metric, scope: Scope, catalogs: Mapping[str, ExchangeCatalog], entries: Iterable[EntryStats]
) -> float | None:
    """An order-path metric over the WebSocket order rows in `scope`; None (no data) without an order row."""
    rows = _order_rows(scope, catalogs, entries)
    order_rows = {c.order_row for c in catalogs.values() if c.order_row}
    orders = [e for e, base in rows if base in order_rows]
    if not orders:
        return None
    if metric.name == "lost_order_events":
        return float(sum(e.requests for e, base in rows if base == LOST_ORDER_EVENT))
    if metric.name.startswith("order_ack_"):
        measured = orders
    else:
        measured = [e for e, base in rows if base.startswith(EVENT_ROW.format(""))]
    return percentile(merge(e.histogram for e in measured), metric.percentile or 0.0)


def order_figures(
    exchange: str, catalogs: Mapping[str, ExchangeCatalog], entries: Iterable[EntryStats]
) -> dict[str, float | int | None] | None:
    """One exchange's order path over the whole run (orders acked, ack p99, event-lag p99, lost events), as the
    order thresholds measure it; None when it sent no WebSocket orders."""
    rows = _order_rows(Scope(exchange), catalogs, entries)
    order_row = catalogs[exchange].order_row
    orders = [e for e, base in rows if base == order_row]
    if not orders:
        return None
    scope = Scope(exchange)
    ack, lag, lost = (_orders_value(metric_named(name), scope, catalogs, [e for e, _ in rows])
                      for name in ("order_ack_p99", "order_event_lag_p99", "lost_order_events"))
    return {"orders_acked": sum(e.requests - e.failures for e in orders), "order_ack_p99_ms": ack,
            "order_event_lag_p99_ms": lag, "lost_order_events": int(lost or 0)}


def _order_rows(
    scope: Scope, catalogs: Mapping[str, ExchangeCatalog], entries: Iterable[EntryStats]
) -> list[tuple[EntryStats, str]]:
    """The order users' rows in `scope`, each with its name without its exchange's prefix. An exchange's rows are
    those with its prefix (a side-by-side run), or the unprefixed ones when its order row is among them."""
    rows = []
    for entry in entries:
        if entry.method != ORDER_METHOD:
            continue
        owner = next((c for c in catalogs.values() if c.base_name(entry.name) != entry.name), None)
        rows.append((entry, owner.name if owner else None, owner.base_name(entry.name) if owner else entry.name))
    if scope.exchange is None:
        return [(e, base) for e, _, base in rows]
    order_row = catalogs[scope.exchange].order_row
    plain_orders = any(owner is None and base == order_row for _, owner, base in rows)
    return [(e, base) for e, owner, base in rows if owner == scope.exchange or (owner is None and plain_orders)]


def _exchange_value(metric: Metric, scope: Scope, run: RunStats) -> float | None:
    names = [scope.exchange] if scope.exchange is not None else list(run.exchanges)
    totals = [run.exchanges.get(n, {}) for n in names]
    counts = [sum(float(t.get(counter) or 0) for t in totals) for counter in metric.counters]
    if len(counts) == 1:
        return counts[0]
    numerator, denominator = counts
    return numerator / denominator if denominator else None


def format_value(metric: Metric, value: float | None) -> str:
    if value is None:
        return "no data"
    match metric.unit:
        case Unit.MS:
            return f"{value:.0f} ms" if value.is_integer() or value >= 100 else f"{value:.1f} ms"
        case Unit.PER_S:
            return f"{value:.1f}/s"
        case Unit.RATIO:
            return f"{value:.4g} ({value * 100:.2f}%)"
    return f"{value:.0f}"
