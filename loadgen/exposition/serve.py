"""Where the Prometheus metrics are served: `/metrics` on the web UI (behind its login when it has one) and,
with `--metrics-port`, a small HTTP server of its own (headless runs; 127.0.0.1 unless `--metrics-host`).
Both serve the master's (or the single process's) `RunCollector`; workers serve nothing. The figures stay
up after the test stops until the process quits; `--metrics-linger-s` keeps the process (and so the last,
final figures) up that many seconds after Locust has written its results, for a scraper's last look.
"""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any

import gevent
from flask import Response
from gevent.pywsgi import WSGIServer
from locust.env import Environment
from locust.event import Events
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import StatsCSVFileWriter
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, make_wsgi_app

from loadgen import messages, state
from loadgen.exposition import otel
from loadgen.exposition.prometheus import RunCollector
from loadgen.web import exchange_view
from loadgen.web.exchange_view import ExchangeView

logger = logging.getLogger(__name__)

PATH = "/metrics"
EXIT_BAD_OPTION = 1


_HOOKED: list[Events] = []


def install(hooks: Events) -> None:
    """Add the options and serve the metrics from init on (once per Events object; after the web UI's hooks,
    whose Exchange view it reuses)."""
    if any(h is hooks for h in _HOOKED):
        return
    _HOOKED.append(hooks)
    hooks.init_command_line_parser.add_listener(add_arguments)
    hooks.init.add_listener(lambda environment, **_: attach(environment))


def add_arguments(parser: Any, **_: Any) -> None:
    parser.add_argument("--metrics-port", type=int, default=0, include_in_web_ui=False,
                        help="Serve Prometheus metrics at /metrics on this port (0: off; the web UI serves them too)")
    parser.add_argument("--metrics-host", type=str, default="127.0.0.1", include_in_web_ui=False,
                        help="Address the --metrics-port server binds to (default 127.0.0.1; 0.0.0.0: every one)")
    parser.add_argument("--metrics-linger-s", type=float, default=0.0, include_in_web_ui=False,
                        help="Seconds the process stays up after the run ended, so a scraper reads the final figures")


class Exposition:
    """The registry with the run's collector, and the headless server when there is one."""

    def __init__(self, environment: Environment, view: ExchangeView) -> None:
        self.collector = RunCollector(environment, view)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self.server: WSGIServer | None = None

    def text(self) -> bytes:
        return generate_latest(self.registry)


def attach(environment: Environment) -> Exposition | None:
    """On the master or a single process: the registry, `/metrics` on the web UI, and the metrics port."""
    runner = environment.runner
    options = environment.parsed_options
    if runner is None or isinstance(runner, WorkerRunner) or not state.of(environment).first_install(__name__):
        return None
    view = exchange_view.exchange_view(environment) or _own_view(environment)
    exposition = state.of(environment).set(Exposition(environment, view))
    otel.attach(environment, exposition.collector)  # with --otel: the same figures through Locust's OTLP exporter
    if environment.web_ui is not None:
        web_ui = environment.web_ui

        @web_ui.app.route(PATH)
        @web_ui.auth_required_if_enabled
        def metrics() -> Response:
            return Response(exposition.text(), mimetype=CONTENT_TYPE_LATEST)

    port = getattr(options, "metrics_port", 0) or 0
    host = getattr(options, "metrics_host", "127.0.0.1") or "127.0.0.1"
    linger = getattr(options, "metrics_linger_s", 0.0) or 0.0
    if not 0 <= port < 65536:
        _refuse(f"--metrics-port {port}: not a port (1-65535)")
    if linger < 0:
        _refuse(f"--metrics-linger-s {linger:g}: must be 0 or more")
    if port:
        try:
            exposition.server = WSGIServer((host, port), make_wsgi_app(exposition.registry), log=None)
            exposition.server.start()
        except OSError as e:
            _refuse(f"--metrics-port {port}: cannot listen on {host}: {e.strerror or e}")
        logger.info("Prometheus metrics at http://%s:%d%s", host, port, PATH)
    if linger:
        environment.events.quit.add_listener(lambda **_: _linger(linger))
    return exposition


def _own_view(environment: Environment) -> ExchangeView:
    """Without a web UI no Exchange view runs: one of our own, fed the workers' gauges, for the gauges only."""
    view = ExchangeView(environment)
    if isinstance(environment.runner, MasterRunner):
        environment.events.worker_report.add_listener(
            lambda client_id, data, **_: view.on_worker_report(client_id, data)
            if messages.EXCHANGE_GAUGES_KEY in data else None
        )
    return view


def _linger(seconds: float) -> None:
    """Keep serving after the results are written (a `quit` listener, after the suite's final CSV rewrite). Locust's
    CSV writer would go on rewriting `_stats.csv` and adding history rows after the run's end, then hit its files
    closed: it is stopped first (headless, Locust keeps no handle on its greenlet: it is found by its function)."""
    for obj in gc.get_objects():
        run = getattr(obj, "_run", None) if isinstance(obj, gevent.Greenlet) else None
        writer = getattr(run, "__self__", None)
        if isinstance(writer, StatsCSVFileWriter) and run.__func__ is StatsCSVFileWriter.stats_writer:
            obj.kill(block=True)
    logger.info("Serving the final metrics for %g s more (--metrics-linger-s)", seconds)
    gevent.sleep(seconds)


def _refuse(message: str) -> None:
    logger.error("%s", message)
    sys.exit(EXIT_BAD_OPTION)
