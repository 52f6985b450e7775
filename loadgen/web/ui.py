"""The suite's additions to Locust's web UI: safer defaults (`loadgen.web.security`), an "Exchange" tab
with the live per-exchange view and its charts, the same data at `GET /exchange/stats` and
`GET /exchange/history`, `--exchange` in the form, and the form's readable labels and `make run`'s defaults
(`loadgen.web.form`)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from flask import Response, jsonify, request
from locust import events
from locust.env import Environment
from locust.event import Events
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

from loadgen.web import exchange_choice, exchange_history, exchange_view, form, security
from loadgen.web.exchange_view import ExchangeView

logger = logging.getLogger(__name__)

TAB_KEY = "exchange"
STATS_ENDPOINT = "locust.request_stats"  # Locust's /stats/requests, polled by the UI every 2 s
INDEX_ENDPOINT = "locust.index"
CHARTS_JS = Path(__file__).with_name("exchange_charts.js")
CHARTS_TAG = b'<script src="exchange/charts.js" defer></script>'
COLUMNS = (
    ("exchange", "Exchange"),
    ("weight", "Used weight / limit"),
    ("requests", "Requests"),
    ("rps", "Requests/s"),
    ("limited", "Rate limited"),
    ("banned", "Banned"),
    ("ban", "Ban left"),
    ("breakers", "Breakers"),
    ("connections", "WS connections"),
    ("messages", "WS messages/s"),
    ("latency", "Event latency p50 / p95 / p99 (ms)"),
    ("reconnects", "Reconnects"),
    ("gaps", "Gaps"),
    ("drops", "Drops"),
    ("orders_acked", "Orders acked"),
    ("order_ack", "Order ack p99 (ms)"),
    ("order_lag", "Order event lag p99 (ms)"),
    ("lost_events", "Lost order events"),
    ("processes", "Generator memory / files"),
)
_HOOKED: list[Events] = []


def install(hooks: Events = events) -> None:
    """Add the options and hook the web UI additions into `hooks` (once per Events object)."""
    if any(h is hooks for h in _HOOKED):
        return
    _HOOKED.append(hooks)
    hooks.init_command_line_parser.add_listener(security.add_arguments)
    hooks.init_command_line_parser.add_listener(exchange_choice.add_arguments)
    hooks.init.add_listener(lambda environment, **_: attach(environment))


def attach(environment: Environment) -> None:
    view = exchange_view.attach(environment)
    runner = environment.runner
    if environment.parsed_options is not None and runner is not None and not isinstance(runner, WorkerRunner):
        problem = exchange_choice.apply(environment, environment.parsed_options.exchange)
        if problem:
            logger.error("%s", problem)
            sys.exit(security.EXIT_USAGE)
    if environment.web_ui is None or view is None:
        return
    security.secure(environment)
    form.install(environment)  # before the tab's hooks: they read the posted form by the options' names
    add_exchange_tab(environment, view)


def add_exchange_tab(environment: Environment, view: ExchangeView) -> None:
    web_ui = environment.web_ui
    app = web_ui.app
    web_ui.template_args["extended_tabs"] = [{"title": "Exchange", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB_KEY, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}
    ]

    @app.route("/exchange/stats")
    @web_ui.auth_required_if_enabled
    def exchange_stats() -> Response:
        return jsonify(view.view())

    @app.route("/exchange/history")
    @web_ui.auth_required_if_enabled
    def exchange_history_json() -> Response:
        # on a master the workers' counts arrive every few seconds: a point per report at least
        step = WORKER_REPORT_INTERVAL if isinstance(environment.runner, MasterRunner) else 1.0
        return jsonify(exchange_history.history(list(view.history), step))

    @app.route("/exchange/charts.js")
    @web_ui.auth_required_if_enabled
    def exchange_charts_js() -> Response:
        return app.response_class(CHARTS_JS.read_bytes(), mimetype="text/javascript")

    @app.before_request
    def choose_exchange() -> Any:
        if request.endpoint != "locust.swarm" or "exchange" not in request.form:
            return None
        problem = exchange_choice.apply(environment, request.form["exchange"])
        return jsonify({"success": False, "message": problem, "host": environment.host}) if problem else None

    @app.after_request
    def add_exchange_charts(response: Response) -> Response:
        if request.endpoint != INDEX_ENDPOINT or response.status_code != 200 or response.direct_passthrough:
            return response
        response.set_data(response.get_data().replace(b"</body>", CHARTS_TAG + b"\n  </body>", 1))
        return response

    @app.after_request
    def add_exchange_rows(response: Response) -> Response:
        if request.endpoint != STATS_ENDPOINT or response.status_code != 200 or not response.is_json:
            return response
        data = response.get_json()
        data["extended_stats"] = [{"key": TAB_KEY, "data": table_rows(view.view())}]
        # a new response: Locust caches the one it made for a moment
        return app.response_class(json.dumps(data), status=200, mimetype="application/json")


def table_rows(view: dict[str, Any]) -> list[dict[str, str]]:
    """The live view as the tab's text cells."""
    rows = []
    processes = processes_cell(view.get("processes", []))
    for x in view["exchanges"]:
        latency = x["event_latency_ms"]
        rows.append({
            "exchange": x["exchange"],
            "weight": _weight_cell(x),
            "requests": str(x["requests"]),
            "rps": _number(x["requests_per_s"], ".1f"),
            "limited": str(x["rate_limited"]),
            "banned": str(x["banned"]),
            "ban": f"{x['ban_left_s']:.0f} s" if x["ban_left_s"] > 0 else "-",
            "breakers": ", ".join(f"{state}: {n}" for state, n in sorted(x["breakers"].items())) or "off",
            "connections": str(x["ws_connections"]),
            "messages": _number(x["ws_messages_per_s"], ".1f"),
            "latency": " / ".join(_number(latency[p], ".0f") for p in ("p50", "p95", "p99")),
            "reconnects": str(x["ws_reconnects"]),
            "gaps": str(x["ws_gaps"]),
            "drops": str(x["ws_drops"]),
            **_order_cells(x["orders"]),
            "processes": processes if not rows else "",  # the processes, not the exchange: on the first row only
        })
    return rows


def processes_cell(processes: list[dict[str, Any]]) -> str:
    """The Locust processes' latest RSS and open files, compact: the local or master process, then the
    workers' highest (their count given), e.g. "master 80 MB, 14 fds; 4 workers up to 95 MB, 40 fds"."""
    parts = [f"{p['role']} {_usage(p['rss_mb'], p['fds'])}" for p in processes if p["role"] != "worker"]
    workers = [p for p in processes if p["role"] == "worker"]
    if workers:
        rss = [p["rss_mb"] for p in workers if p["rss_mb"] is not None]
        fds = [p["fds"] for p in workers if p["fds"] is not None]
        label = "1 worker" if len(workers) == 1 else f"{len(workers)} workers up to"
        parts.append(f"{label} {_usage(max(rss) if rss else None, max(fds) if fds else None)}")
    return "; ".join(parts) or "-"


def _usage(rss_mb: float | None, fds: int | None) -> str:
    if rss_mb is None and fds is None:
        return "not measured"
    return f"{_number(rss_mb, '.0f')} MB, {'-' if fds is None else fds} fds"


def _order_cells(orders: dict[str, Any] | None) -> dict[str, str]:
    """The order path's cells (whole run); "-" for an exchange that sent no WebSocket orders."""
    if orders is None:
        return dict.fromkeys(("orders_acked", "order_ack", "order_lag", "lost_events"), "-")
    return {
        "orders_acked": str(orders["orders_acked"]),
        "order_ack": _number(orders["order_ack_p99_ms"], ".0f"),
        "order_lag": _number(orders["order_event_lag_p99_ms"], ".0f"),
        "lost_events": str(orders["lost_order_events"]),
    }


def _weight_cell(x: dict[str, Any]) -> str:
    limit, window = x["weight_limit"], x["weight_window_s"]
    if not limit or not window:
        return "-"
    per = f"per {window} s"
    if x["used_weight"] is not None:  # the exchange's own count
        return f"{x['used_weight']} / {limit} {per} ({x['used_weight'] / limit:.0%})"
    if x["sent_weight_per_window"] is not None:  # our estimate from the weight sent
        return f"~{x['sent_weight_per_window']:.0f} sent / {limit} {per}"
    return f"- / {limit} {per}"


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)
