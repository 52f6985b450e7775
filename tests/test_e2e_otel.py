"""End to end: Locust's `--otel` with the standard OTEL_* variables sends the suite's metrics over OTLP/HTTP to a
receiver in the test (it decodes the protobuf requests as a collector would); the last figures received equal the
run's files."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.e2e import run_locust, simulator

pytestmark = pytest.mark.e2e
metrics_service = pytest.importorskip("opentelemetry.proto.collector.metrics.v1.metrics_service_pb2")


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, dict[tuple, float], set[str]]]:
    """An OTLP/HTTP metrics endpoint on 127.0.0.1: its URL, the last value of each (name, attributes) and the
    names of the meters (scopes) seen."""
    latest: dict[tuple, float] = {}
    scopes: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = metrics_service.ExportMetricsServiceRequest()
            request.ParseFromString(body)
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    scopes.add(scope.scope.name)
                    for metric in scope.metrics:
                        kind = metric.WhichOneof("data")
                        if kind not in ("sum", "gauge"):
                            continue
                        for point in getattr(metric, kind).data_points:
                            attributes = tuple(sorted((a.key, a.value.string_value) for a in point.attributes))
                            value = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
                            latest[(metric.name, attributes)] = value
            answer = metrics_service.ExportMetricsServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/metrics", latest, scopes
    finally:
        server.shutdown()
        server.server_close()


def test_otel_sends_the_runs_figures_to_an_otlp_receiver(tmp_path, monkeypatch):
    with otlp_receiver() as (url, latest, scopes), simulator(tmp_path) as sim:
        for name, value in {
            "OTEL_METRICS_EXPORTER": "otlp", "OTEL_TRACES_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": url,
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        }.items():
            monkeypatch.setenv(name, value)
        run = run_locust(sim, tmp_path / "run", ["BinanceRestPoller", "BinanceWsSubscriber"], users=4, run_time_s=6,
                         extra=["--otel", "--metrics-linger-s", "3"])
    assert run.returncode == 0 and "Traceback" not in run.output, run.output
    assert "exchange_stress" in scopes and "locust" in scopes  # ours beside Locust's own
    totals = run.totals()
    requests = {(e["method"], e["name"]): e["num_requests"] for e in totals if e["num_requests"]}
    assert sum(requests.values()) > 50
    got = {(dict(attrs)["method"], dict(attrs)["endpoint"]): v
           for (name, attrs), v in latest.items() if name == "exchange_stress.requests"}
    assert got == requests
    exchange = json.loads((run.run_dir / "locust_exchange.json").read_text())["exchanges"]["binance"]
    assert exchange["ws_messages"] > 0
    assert latest[("exchange_stress.ws_messages", (("exchange", "binance"),))] == exchange["ws_messages"]
    assert any(name == "exchange_stress.ws_event_latency.percentile" for name, _ in latest)
