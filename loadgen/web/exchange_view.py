"""The live per-exchange view behind the web UI's Exchange tab and `GET /exchange/stats`.

Counts come from the exchange metrics (merged from every worker on a master), latencies from Locust's
stream entries, the order path (WebSocket orders: acked, ack and event-lag p99, lost events; whole run) from
Locust's order rows, and the gauges (open WebSocket connections, bans, the latest used weight, breaker
states) from every process as it stands: workers send theirs with each report. Rates and event-latency
percentiles cover the last `WINDOW_S` seconds, from one sample of the totals per second. The samples of the
last `HISTORY_S` seconds are kept for the tab's charts (`loadgen.web.exchange_history`).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from analysis.histogram import merge, percentile
from loadgen import messages, state
from loadgen.gates import run_snapshot
from loadgen.gates.evaluation import WS_METHOD, EntryStats, ExchangeCatalog, order_figures
from loadgen.messages import ExchangeGauges
from loadgen.metrics import metrics_hub
from loadgen.process_history import process_history
from loadgen.runtime import exchange_runtime
from loadgen.users.ws_order_rows import REQUEST_TYPE as ORDER_REQUEST_TYPE

logger = logging.getLogger(__name__)

WINDOW_S = 10
SAMPLE_INTERVAL_S = 1.0
HISTORY_S = 600  # the charts' span: the last ten minutes
LATENCY_PERCENTILES = (0.5, 0.95, 0.99)


def local_gauges(environment: Environment) -> dict[str, ExchangeGauges]:
    """This process's gauges per exchange, msgpack-safe."""
    out: dict[str, ExchangeGauges] = {}
    for name, collector in metrics_hub(environment).collectors.items():
        out[name] = collector.gauges()
    for adapter in run_snapshot.exchanges():
        runtime = exchange_runtime(environment, adapter)
        if runtime is not None and runtime.breaker is not None:
            out.setdefault(adapter.name, {})["breaker"] = str(runtime.breaker.state)
    return out


def merge_gauges(parts: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Gauges of several processes: connections summed, the latest ban end and used weight, breaker states counted."""
    merged: dict[str, dict[str, Any]] = {}
    for part in parts:
        for name, g in part.items():
            m = merged.setdefault(name, {"ws_open": 0, "banned_until": None, "used_weight": None,
                                         "used_weight_at": None, "breakers": {}})
            m["ws_open"] += g.get("ws_open") or 0
            if g.get("banned_until") is not None:
                m["banned_until"] = max(m["banned_until"] or 0.0, g["banned_until"])
            if g.get("used_weight_at") is not None and (m["used_weight_at"] or 0.0) <= g["used_weight_at"]:
                m["used_weight"], m["used_weight_at"] = g["used_weight"], g["used_weight_at"]
            if g.get("breaker"):
                m["breakers"][g["breaker"]] = m["breakers"].get(g["breaker"], 0) + 1
    return merged


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # monotonic seconds
    totals: dict[str, dict[str, Any]]  # exchange counters per exchange
    latency: dict[str, dict[int, int]]  # merged stream event-latency histogram per exchange


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One second of the charts' history: the cumulative counters, but only the latency histogram's growth
    since the point before (a few buckets, where the cumulative one has every bucket the run has seen)."""

    at: float  # monotonic seconds
    wall: float  # Unix time, for the charts' time axis
    totals: dict[str, dict[str, Any]]  # exchange counters per exchange
    latency: dict[str, dict[int, int]]  # stream events per latency bucket received since the point before
    used_weight: dict[str, int]  # the exchange's own used-weight count per exchange, while it stands


class ExchangeView:
    """Samples the run once a second (master or local) and answers with the live per-exchange view."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.samples: deque[Sample] = deque(maxlen=WINDOW_S + 1)
        self.history: deque[HistoryPoint] = deque(maxlen=int(HISTORY_S / SAMPLE_INTERVAL_S) + 1)
        self.worker_gauges: dict[str, dict[str, dict[str, Any]]] = {}  # client id -> that worker's gauges
        self.catalogs: dict[str, ExchangeCatalog] = {}  # the request names per exchange, as of the last sample

    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        if messages.EXCHANGE_GAUGES_KEY in data:
            self.worker_gauges[client_id] = data[messages.EXCHANGE_GAUGES_KEY]

    def reset(self) -> None:
        """A new test: its counters start from zero, so do the rates."""
        self.samples.clear()
        self.history.clear()

    def sample(self) -> None:
        catalogs = self.catalogs = run_snapshot.catalogs(self.environment)
        entries = self.environment.stats.entries.values()
        latency = {
            name: merge(
                e.response_times for e in entries if e.method == WS_METHOD and catalog.is_stream(e.name)
            )
            for name, catalog in catalogs.items()
        }
        metrics_hub(self.environment).merge_own()
        totals = metrics_hub(self.environment).table.totals()
        now = time.time()
        used = {name: g["used_weight"] for name, g in self.gauges().items()
                if _fresh(g.get("used_weight_at"), totals.get(name, {}).get("weight_window_s"), now)}
        before = self.samples[-1].latency if self.samples else {}
        growth = {name: diff_histograms(h, before.get(name, {})) for name, h in latency.items()}
        at = time.monotonic()
        self.samples.append(Sample(at, totals, latency))
        self.history.append(HistoryPoint(at, now, totals, growth, used))

    def live_workers(self) -> set[str] | None:
        """The ids of the workers not missing (None outside a master)."""
        runner = self.environment.runner
        if not isinstance(runner, MasterRunner):
            return None
        return {c.id for c in runner.clients.values() if c.state != STATE_MISSING}

    def gauges(self) -> dict[str, dict[str, Any]]:
        live = self.live_workers()
        if live is not None:
            return merge_gauges([g for cid, g in self.worker_gauges.items() if cid in live])
        return merge_gauges([local_gauges(self.environment)])

    def processes(self) -> list[dict[str, Any]]:
        """Each process's latest memory and open files: the local or master process, and the live workers."""
        history = process_history(self.environment)
        if history is None:
            return []
        live = self.live_workers()
        return [p for p in history.latest() if p["role"] != "worker" or live is None or p["process"] in live]

    def view(self) -> dict[str, Any]:
        """The JSON of `GET /exchange/stats`."""
        now = time.time()
        latest = self.samples[-1] if self.samples else None
        oldest = self.samples[0] if self.samples else None
        span = latest.at - oldest.at if latest and oldest else 0.0
        gauges = self.gauges()
        names = sorted({*(latest.totals if latest else {}), *gauges})
        orders = self.orders()
        return {
            "updated_at": now,
            "window_s": round(span, 1),
            "exchanges": [{**self._exchange(name, latest, oldest, span, gauges.get(name, {}), now),
                           "orders": orders.get(name)} for name in names],
            "processes": self.processes(),
        }

    def orders(self) -> dict[str, dict[str, Any]]:
        """Each exchange's order path over the whole run so far (see `order_figures`), for those that sent
        WebSocket orders (the exchanges as of the last sample: none before the first)."""
        catalogs = self.catalogs
        entries = [
            EntryStats(e.method, e.name, e.num_requests, e.num_failures, e.total_response_time, e.max_response_time,
                       dict(e.response_times))
            for e in self.environment.stats.entries.values() if e.method == ORDER_REQUEST_TYPE
        ]
        figures = {name: order_figures(name, catalogs, entries) for name in catalogs}
        return {name: f for name, f in figures.items() if f is not None}

    def _exchange(
        self, name: str, latest: Sample | None, oldest: Sample | None, span: float, gauge: dict[str, Any], now: float
    ) -> dict[str, Any]:
        totals = latest.totals.get(name, {}) if latest else {}
        before = oldest.totals.get(name, {}) if oldest else {}

        def per_s(counter: str) -> float | None:
            if span <= 0:
                return None
            return round(((totals.get(counter) or 0) - (before.get(counter) or 0)) / span, 2)

        window_latency = (diff_histograms(latest.latency.get(name, {}), oldest.latency.get(name, {}))
                          if latest and oldest else {})
        weight_per_s = per_s("weight_requested")
        window_s = totals.get("weight_window_s")
        sent_per_window = round(weight_per_s * window_s, 1) if weight_per_s is not None and window_s else None
        banned_until = gauge.get("banned_until")
        used_at = gauge.get("used_weight_at")
        fresh = _fresh(used_at, window_s, now)
        return {
            "exchange": name,
            "weight_limit": totals.get("weight_limit"),
            "weight_window_s": window_s,
            "used_weight": gauge.get("used_weight") if fresh else None,
            "sent_weight_per_window": sent_per_window,
            "requests": totals.get("requests", 0),
            "requests_per_s": per_s("requests"),
            "rate_limited": totals.get("rate_limited", 0),
            "banned": totals.get("banned", 0),
            "ban_left_s": round(banned_until - now, 1) if banned_until and banned_until > now else 0.0,
            "breakers": gauge.get("breakers", {}),
            "breaker_rejected": totals.get("breaker_rejected", 0),
            "ws_connections": gauge.get("ws_open", 0),
            "ws_messages": totals.get("ws_messages", 0),
            "ws_messages_per_s": per_s("ws_messages"),
            "event_latency_ms": {f"p{p * 100:g}": percentile(window_latency, p) for p in LATENCY_PERCENTILES},
            "ws_reconnects": totals.get("ws_reconnects", 0),
            "ws_drops": totals.get("ws_drops", 0),
            "ws_gaps": totals.get("ws_gaps", 0),
        }


def _fresh(used_at: float | None, window_s: float | None, now: float) -> bool:
    """Whether a used-weight count still stands: its window is not over."""
    return used_at is not None and window_s is not None and now - used_at <= window_s


def diff_histograms(latest: dict[int, int], old: dict[int, int]) -> dict[int, int]:
    """The samples added to a cumulative histogram between two readings."""
    return {k: v - old.get(k, 0) for k, v in latest.items() if v - old.get(k, 0) > 0}


def exchange_view(environment: Environment) -> ExchangeView | None:
    return state.of(environment).get(ExchangeView)


def attach(environment: Environment) -> ExchangeView | None:
    """Workers report their gauges; the master or a local run with a web UI samples and serves the view."""
    events = environment.events
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        events.report_to_master.add_listener(
            lambda data, **_: data.__setitem__(messages.EXCHANGE_GAUGES_KEY, local_gauges(environment))
        )
        return None
    if runner is None or environment.web_ui is None:
        return None
    view = state.of(environment).set(ExchangeView(environment))
    if isinstance(runner, MasterRunner):
        events.worker_report.add_listener(lambda client_id, data, **_: view.on_worker_report(client_id, data))
    events.test_start.add_listener(lambda **_: view.reset())
    gevent.spawn(_sample_every_second, view)
    return view


def _sample_every_second(view: ExchangeView) -> None:
    failed_before = False
    while True:
        gevent.sleep(SAMPLE_INTERVAL_S)
        try:
            view.sample()
            failed_before = False
        except Exception:
            if not failed_before:  # log a persistent problem once, not every second
                logger.exception("exchange view: sampling failed")
            failed_before = True
