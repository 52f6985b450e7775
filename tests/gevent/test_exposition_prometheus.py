"""The Prometheus exposition: what a scrape of /metrics reads (web UI, behind its login), and the metrics port."""

import logging
import socket
import sys
import time
import urllib.request

import pytest
from locust import argument_parser
from locust.env import Environment
from locust.event import Events
from prometheus_client.parser import text_string_to_metric_families

from exchanges.base import FailureKind, Verdict
from exchanges.binance import ADAPTER
from loadgen import state
from loadgen.exposition import serve
from loadgen.exposition.names import failure_kind
from loadgen.exposition.prometheus import histogram_buckets
from loadgen.metrics import metrics_hub
from loadgen.plugin import install
from loadgen.users.request_events import fire
from loadgen.web import security as web_security
from locustfiles.binance import BinanceRestPoller, BinanceWsSubscriber

OWN = "http://localhost"


@pytest.fixture(autouse=True)
def locust_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["locust"])


def environment(*args: str, web_ui: bool = True) -> Environment:
    options = argument_parser.get_parser().parse_args(["--host", "http://127.0.0.1:8123/binance", *args])
    env = Environment(events=Events(), host=options.host, parsed_options=options,
                      user_classes=[BinanceRestPoller, BinanceWsSubscriber])
    install(ADAPTER, env.events)
    env.create_local_runner()
    ui = env.create_web_ui(options.web_host, 0, web_login=options.web_login, delayed_start=True) if web_ui else None
    env.events.init.fire(environment=env, runner=env.runner, web_ui=ui)
    return env


def samples(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_failure_kinds_and_buckets():
    assert failure_kind("rate_limited: HTTP 429 -1003") == "rate_limited"
    assert failure_kind("ConnectionResetError(104)") == "unclassified"
    assert failure_kind("nonsense: x") == "unclassified"
    buckets = dict(histogram_buckets({0: 2, 1: 1, 3: 4, 13: 1, 70000: 1}))
    assert (buckets["0.001"], buckets["0.005"], buckets["0.025"], buckets["60"], buckets["+Inf"]) == (3, 7, 8, 8, 9)


def test_a_scrape_reads_the_runs_figures():
    env = environment()
    env.events.test_start.fire(environment=env)
    metrics = metrics_hub(env).collector("binance")
    for _ in range(5):
        fire(env, "GET", "depth", 12.0)
        metrics.request(5)
        metrics.ws_message()
        fire(env, "WS", "btcusdt@trade", 30.0)
    fire(env, "GET", "depth", 3.0, verdict=Verdict(False, FailureKind.RATE_LIMITED, message="HTTP 429"))
    metrics.rate_limited()
    metrics.ws_opened()
    metrics.breaker_transition("open")
    got = samples(env.web_ui.app.test_client().get("/metrics").get_data(as_text=True))

    def value(name: str, **labels: str) -> float:
        return got[(name, tuple(sorted(labels.items())))]

    rest = {"exchange": "binance", "method": "GET", "endpoint": "depth"}
    assert value("exchange_stress_requests_total", **rest) == 6
    assert value("exchange_stress_failures_total", **rest, kind="rate_limited") == 1
    assert value("exchange_stress_rest_latency_seconds_count", **rest) == 6
    assert value("exchange_stress_rest_latency_seconds_bucket", **rest, le="0.005") == 1
    assert value("exchange_stress_rest_latency_seconds_bucket", **rest, le="0.025") == 6
    assert value("exchange_stress_rest_latency_seconds_sum", **rest) == pytest.approx(0.063)
    stream = {"exchange": "binance", "method": "WS", "endpoint": "btcusdt@trade"}
    assert value("exchange_stress_ws_event_latency_seconds_count", **stream) == 5
    assert value("exchange_stress_ws_messages_total", exchange="binance") == 5
    assert value("exchange_stress_rest_requests_total", exchange="binance") == 5
    assert value("exchange_stress_weight_requested_total", exchange="binance") == 25
    assert value("exchange_stress_rate_limited_total", exchange="binance") == 1
    assert value("exchange_stress_ws_connections", exchange="binance") == 1
    assert value("exchange_stress_weight_limit", exchange="binance") == 6000
    assert value("exchange_stress_breaker_transitions_total", exchange="binance", state="open") == 1
    assert value("exchange_stress_users") == 0
    fds = [v for (name, labels), v in got.items() if name == "process_open_fds" and ("role", "local") in labels]
    assert len(fds) <= 1 and all(v >= 3 for v in fds)  # sampled once a second: maybe not yet


def test_metrics_need_the_login_when_the_ui_has_one(monkeypatch):
    monkeypatch.setenv(web_security.USERNAME_VAR, "trader")
    monkeypatch.setenv(web_security.PASSWORD_VAR, "s3cret-pass")
    monkeypatch.setattr(web_security, "FAILED_LOGIN_DELAY_S", 0.0)
    client = environment("--web-login", "--web-host", "0.0.0.0").web_ui.app.test_client()
    assert client.get("/metrics").status_code == 302  # to the login page
    client.post("/login/submit", data={"username": "trader", "password": "s3cret-pass"}, headers={"Origin": OWN})
    answer = client.get("/metrics")
    assert answer.status_code == 200 and b"exchange_stress_requests_total" in answer.data


def test_the_metrics_port_serves_headless_runs_on_loopback():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = environment("--metrics-port", str(port), web_ui=False)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            assert b"exchange_stress_users" in r.read()
    finally:
        exposition = state.of(env).get(serve.Exposition)
        assert exposition is not None and exposition.server is not None
        assert exposition.server.address[0] == "127.0.0.1"
        exposition.server.stop()


@pytest.mark.parametrize("args, text", [
    (["--metrics-port", "70000"], "--metrics-port 70000: not a port"),
    (["--metrics-linger-s", "-1"], "--metrics-linger-s -1: must be 0 or more"),
])
def test_bad_metrics_options_end_with_one_line(args, text, caplog):
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as exit_info:
        environment(*args, web_ui=False)
    assert exit_info.value.code == serve.EXIT_BAD_OPTION
    assert len(caplog.records) == 1 and text in caplog.text


def test_the_same_figures_go_out_through_opentelemetry():
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from loadgen.exposition import otel

    env = environment()
    env.events.test_start.fire(environment=env)
    metrics = metrics_hub(env).collector("binance")
    for ms in (3.0, 12.0, 12.0, 40.0):
        fire(env, "GET", "depth", ms)
        metrics.request(5)
    for _ in range(7):
        metrics.ws_message()
    fire(env, "GET", "depth", 3.0, verdict=Verdict(False, FailureKind.RATE_LIMITED, message="HTTP 429"))
    reader = InMemoryMetricReader()
    exposition = state.of(env).get(serve.Exposition)
    assert otel.attach(env, exposition.collector, meter_provider=MeterProvider(metric_readers=[reader]))
    data = reader.get_metrics_data()
    got: dict[tuple, float] = {}
    units: dict[str, str] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == otel.METER
            for metric in scope.metrics:
                units[metric.name] = metric.unit
                for point in metric.data.data_points:
                    got[(metric.name, tuple(sorted(point.attributes.items())))] = point.value
    rest = (("endpoint", "depth"), ("exchange", "binance"), ("method", "GET"))
    assert got[("exchange_stress.requests", rest)] == 5
    assert got[("exchange_stress.failures", (*rest[:2], ("kind", "rate_limited"), rest[2]))] == 1
    assert got[("exchange_stress.ws_messages", (("exchange", "binance"),))] == 7
    assert got[("exchange_stress.rest_latency.count", rest)] == 5
    assert got[("exchange_stress.rest_latency.percentile", (*rest, ("quantile", "0.5")))] == pytest.approx(0.012)
    assert got[("exchange_stress.rest_latency.percentile", (*rest, ("quantile", "0.99")))] == pytest.approx(0.040)
    assert units["exchange_stress.rest_latency.percentile"] == "s"
    assert ("exchange_stress.ws_connections", (("exchange", "binance"),)) in got


def test_the_order_path_is_scraped():
    env = environment()
    env.events.test_start.fire(environment=env)
    order_row = ADAPTER.ws_order_method
    for ms in (4.0, 6.0, 9.0):
        fire(env, "WSAPI", order_row, ms)
        fire(env, "WSAPI", "order→NEW", ms + 1)
    fire(env, "WSAPI", order_row, 2.0, verdict=Verdict(False, FailureKind.ORDER_REJECTED, message="-2010 insufficient"))
    got = samples(env.web_ui.app.test_client().get("/metrics").get_data(as_text=True))
    one = (("exchange", "binance"),)
    assert got[("exchange_stress_orders_sent_total", one)] == 4
    assert got[("exchange_stress_orders_acked_total", one)] == 3
    assert got[("exchange_stress_orders_failed_total", one)] == 1
    assert got[("exchange_stress_lost_order_events_total", one)] == 0
    lag = (("endpoint", "order→NEW"), ("exchange", "binance"), ("method", "WSAPI"))
    assert got[("exchange_stress_order_latency_seconds_count", lag)] == 3


def test_used_weight_is_scraped_while_its_window_lasts(monkeypatch):
    env = environment()
    env.events.test_start.fire(environment=env)
    metrics = metrics_hub(env).collector("binance")
    metrics.request(5)
    metrics.used_weight(480)
    client = env.web_ui.app.test_client()
    key = ("exchange_stress_used_weight", (("exchange", "binance"),))
    assert samples(client.get("/metrics").get_data(as_text=True))[key] == 480
    later = time.time() + 61  # Binance's window is 60 s
    monkeypatch.setattr(time, "time", lambda: later)
    assert key not in samples(client.get("/metrics").get_data(as_text=True))
