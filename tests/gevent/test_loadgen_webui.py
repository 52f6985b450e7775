"""The web UI additions: the live Exchange view, its tab and endpoint, the exchange choice and the safer defaults."""

import json
import logging
import sys
import time
from argparse import Namespace

import pytest
from locust import argument_parser
from locust.env import Environment
from locust.event import Events

from exchanges.base import FailureKind, Verdict
from exchanges.binance import ADAPTER
from loadgen.gates import run_snapshot
from loadgen.metrics import metrics_hub
from loadgen.plugin import install
from loadgen.runtime import exchange_runtime
from loadgen.users.request_events import fire
from loadgen.web import exchange_choice
from loadgen.web import security as web_security
from loadgen.web.exchange_view import exchange_view, merge_gauges
from loadgen.web.ui import table_rows
from locustfiles.binance import BinanceRestPoller, BinanceWsSubscriber

OWN = "http://localhost"


@pytest.fixture(autouse=True)
def locust_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["locust"])  # Locust's UI reads the command line for its form


def environment(*args: str) -> Environment:
    """A local runner with a (not started) web UI, its options parsed from `args` as Locust does."""
    options = argument_parser.get_parser().parse_args(["--host", "http://127.0.0.1:8123/binance", *args])
    env = Environment(events=Events(), host=options.host, parsed_options=options,
                      user_classes=[BinanceRestPoller, BinanceWsSubscriber])
    install(ADAPTER, env.events)
    env.create_local_runner()
    web_ui = env.create_web_ui(options.web_host, 0, web_login=options.web_login, delayed_start=True)
    env.events.init.fire(environment=env, runner=env.runner, web_ui=web_ui)
    return env


def test_gauges_of_several_processes_merge():
    def gauges(ws_open, banned_until, used_weight, at, breaker):
        return {"binance": {"ws_open": ws_open, "banned_until": banned_until, "used_weight": used_weight,
                            "used_weight_at": at, "breaker": breaker}}

    merged = merge_gauges([gauges(2, 100.0, 40, 5.0, "open"), gauges(3, None, 55, 6.0, "closed"),
                           gauges(1, 90.0, 70, 4.0, "open")])["binance"]
    assert merged == {"ws_open": 6, "banned_until": 100.0, "used_weight": 55, "used_weight_at": 6.0,
                      "breakers": {"open": 2, "closed": 1}}


def test_the_view_shows_rates_gauges_and_window_latency_per_exchange():
    env = environment("--breaker", "on")
    env.events.test_start.fire(environment=env)
    view = exchange_view(env)
    metrics = metrics_hub(env).collector("binance")
    view.sample()
    for _ in range(20):
        metrics.request(2)
        metrics.ws_message()
        fire(env, "WS", "btcusdt@trade", 12.0)
    metrics.used_weight(480)
    metrics.rate_limited()
    metrics.banned(retry_after_s=120)
    metrics.ws_opened()
    metrics.ws_gap()
    view.samples[0] = view.samples[0].__class__(view.samples[0].at - 2.0, view.samples[0].totals,
                                                 view.samples[0].latency)  # two seconds ago
    view.sample()
    (x,) = view.view()["exchanges"]
    assert x["exchange"] == "binance" and (x["weight_limit"], x["weight_window_s"]) == (6000, 60)
    assert x["used_weight"] == 480
    assert x["requests_per_s"] == pytest.approx(10, rel=0.05)
    assert x["sent_weight_per_window"] == pytest.approx(1200, rel=0.05)
    assert x["ws_messages_per_s"] == pytest.approx(10, rel=0.05)
    assert (x["rate_limited"], x["banned"], x["ws_connections"], x["ws_gaps"]) == (1, 1, 1, 1)
    assert 118 < x["ban_left_s"] <= 120
    assert x["breakers"] == {"closed": 1}
    assert x["event_latency_ms"] == {"p50": 12, "p95": 12, "p99": 12}
    (row,) = table_rows(view.view())
    assert row["weight"] == "480 / 6000 per 60 s (8%)"
    assert row["ban"].endswith(" s") and row["breakers"] == "closed: 1" and row["latency"] == "12 / 12 / 12"


def test_the_view_and_the_tab_show_the_order_path_when_the_run_has_it():
    env = environment()
    view = exchange_view(env)
    metrics_hub(env).collector("binance").request(1)
    view.sample()
    (row,) = table_rows(view.view())
    assert view.view()["exchanges"][0]["orders"] is None
    assert [row[k] for k in ("orders_acked", "order_ack", "order_lag", "lost_events")] == ["-"] * 4
    refused = Verdict(False, FailureKind.RATE_LIMITED, message="-1015 HTTP 429")
    for i in range(100):
        fire(env, "WSAPI", "order.place", 40.0 if i >= 98 else 3.0)
        fire(env, "WSAPI", "order→NEW", 7.0)
    for _ in range(5):
        fire(env, "WSAPI", "order.place", 2.0, verdict=refused)
    fire(env, "WSAPI", "order→FILLED", 90.0)
    fire(env, "WSAPI", "lost_order_event", None, verdict=Verdict(False, FailureKind.TIMEOUT, message="no order event"))
    fire(env, "WSAPI", "session.logon", 900.0)  # not an order
    (x,) = view.view()["exchanges"]
    assert x["orders"] == {"orders_acked": 100, "order_ack_p99_ms": 40, "order_event_lag_p99_ms": 7,
                           "lost_order_events": 1}
    (row,) = table_rows(view.view())
    assert [row[k] for k in ("orders_acked", "order_ack", "order_lag", "lost_events")] == ["100", "40", "7", "1"]


def test_stream_connections_are_counted_while_open():
    env = environment()
    metrics = metrics_hub(env).collector("binance")
    metrics.ws_opened()
    metrics.ws_opened()
    metrics.ws_closed()
    assert exchange_view(env).gauges()["binance"]["ws_open"] == 1


def test_the_tab_and_the_endpoint_serve_the_view():
    env = environment()
    client = env.web_ui.app.test_client()
    assert env.web_ui.template_args["extended_tabs"] == [{"title": "Exchange", "key": "exchange"}]
    metrics_hub(env).collector("binance").request(1)
    exchange_view(env).sample()
    stats = client.get("/exchange/stats").get_json()
    assert [x["exchange"] for x in stats["exchanges"]] == ["binance"]
    extended = client.get("/stats/requests").get_json()["extended_stats"]
    assert extended[0]["key"] == "exchange" and extended[0]["data"][0]["exchange"] == "binance"


def test_the_exchange_choice_narrows_the_user_classes():
    env = environment()
    loaded = [a.name for a in run_snapshot.exchanges()]  # every locustfile this test process imported
    assert exchange_choice.choices() == (loaded if len(loaded) == 1 else ["all", *loaded])
    assert env.user_classes == [BinanceRestPoller, BinanceWsSubscriber]
    refused = f"--exchange: 'nowhere' is not one of {', '.join(exchange_choice.choices())}"
    assert exchange_choice.apply(env, "nowhere") == refused
    reply = env.web_ui.app.test_client().post("/swarm", data={"user_count": "1", "spawn_rate": "1",
                                                              "exchange": "nowhere"}, headers={"Origin": OWN})
    assert reply.get_json() == {"success": False, "message": refused, "host": env.host}

    class OtherExchangeUser:
        adapter = Namespace(name="other")

    mixed = [BinanceRestPoller, OtherExchangeUser, BinanceWsSubscriber]
    assert exchange_choice.classes_for(mixed, "binance") == [BinanceRestPoller, BinanceWsSubscriber]
    assert exchange_choice.classes_for(mixed, "other") == [OtherExchangeUser]
    assert exchange_choice.classes_for(mixed, "all") == mixed

    picker = environment()  # with --class-picker the form picks among the available classes
    picker.available_user_classes = {"BinanceRestPoller": BinanceRestPoller, "Other": OtherExchangeUser}
    assert exchange_choice.apply(picker, "binance") is None
    assert picker.available_user_classes == {"BinanceRestPoller": BinanceRestPoller}


# --- security


def test_the_ui_binds_to_loopback_unless_told_otherwise():
    parser = argument_parser.get_parser()  # with the suite's options: importing the locustfile added them
    assert parser.parse_args([]).web_host == "127.0.0.1"
    assert parser.parse_args(["--web-host", "0.0.0.0"]).web_host == "0.0.0.0"


@pytest.mark.parametrize("host", ["*", "", "0.0.0.0", "192.168.1.5"])
def test_another_interface_without_a_login_is_refused(host, caplog):
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as exit_info:
        environment("--web-host", host)
    assert exit_info.value.code == 2
    assert "without a login" in caplog.text


def test_cross_origin_requests_get_403_and_no_cors_headers():
    client = environment().web_ui.app.test_client()
    own = client.get("/exchange/stats", headers={"Origin": OWN})
    assert own.status_code == 200
    assert not [k for k, _ in own.headers if k.lower().startswith("access-control-")]
    for method in ("get", "post", "options"):
        headers = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
        reply = getattr(client, method)("/swarm" if method != "get" else "/stats/requests", headers=headers)
        assert reply.status_code == 403, method
        assert "Access-Control-Allow-Origin" not in reply.headers
    assert client.get("/", headers={"Host": "evil.example:8089"}).status_code == 403  # DNS rebinding
    assert client.get("/exchange/stats", headers={"Host": "127.0.0.1:8089"}).status_code == 200
    assert environment().web_ui.app.debug is False


def test_an_extra_origin_can_be_allowed():
    client = environment("--web-origin", "https://loadtest.example/").web_ui.app.test_client()
    assert client.get("/exchange/stats", headers={"Origin": "https://loadtest.example"}).status_code == 200


def test_web_login_needs_credentials_from_the_environment(monkeypatch, caplog):
    monkeypatch.delenv(web_security.USERNAME_VAR, raising=False)
    monkeypatch.setenv(web_security.PASSWORD_VAR, "s3cret-pass")
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as exit_info:
        environment("--web-login", "--web-host", "0.0.0.0")
    assert exit_info.value.code == 2
    assert "s3cret-pass" not in caplog.text


def test_web_login_works_and_never_logs_the_password(monkeypatch, caplog):
    monkeypatch.setenv(web_security.USERNAME_VAR, "trader")
    monkeypatch.setenv(web_security.PASSWORD_VAR, "s3cret-pass")
    monkeypatch.setattr(web_security, "FAILED_LOGIN_DELAY_S", 0.0)
    caplog.set_level(logging.DEBUG)
    env = environment("--web-login", "--web-host", "0.0.0.0")
    client = env.web_ui.app.test_client()
    assert client.get("/").status_code == 302  # to the login page
    assert client.get("/exchange/stats").status_code == 302
    wrong = client.post("/login/submit", data={"username": "trader", "password": "guess"}, headers={"Origin": OWN})
    assert wrong.status_code == 302 and wrong.headers["Location"].endswith("/login")
    assert client.get("/exchange/stats").status_code == 302
    right = client.post("/login/submit", data={"username": "trader", "password": "s3cret-pass"},
                        headers={"Origin": OWN})
    assert right.status_code == 302 and right.headers["Location"] == "/"
    assert "SameSite=Strict" in right.headers["Set-Cookie"] and "HttpOnly" in right.headers["Set-Cookie"]
    stats = client.get("/exchange/stats")  # logged in: the view itself, not the login page
    assert stats.status_code == 200 and isinstance(json.loads(stats.data)["exchanges"], list)
    assert "s3cret-pass" not in caplog.text


def test_a_ban_notes_when_it_ends():
    env = environment()
    env.events.test_start.fire(environment=env)
    runtime = exchange_runtime(env, ADAPTER)
    before = time.time()
    runtime.metrics.banned(retry_after_s=30)
    assert before + 29 < runtime.metrics.banned_until <= time.time() + 30


def test_a_used_weight_older_than_its_window_is_not_shown():
    env = environment()
    metrics = metrics_hub(env).collector("binance")
    metrics.weight_limit, metrics.weight_window_s = 6000, 60
    metrics.request(1)
    metrics.last_used_weight = (900, time.time() - 61)
    view = exchange_view(env)
    view.sample()
    assert view.view()["exchanges"][0]["used_weight"] is None
    metrics.used_weight(120)
    assert view.view()["exchanges"][0]["used_weight"] == 120
