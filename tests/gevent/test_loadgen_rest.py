"""The REST user base against a tiny local server: classification texts, weights, signing, polite pauses."""

import json
import time
from argparse import Namespace
from urllib.parse import parse_qsl

import gevent
import pytest
from gevent.pywsgi import WSGIServer
from locust.env import Environment
from locust.stats import StatsError

from exchanges.binance import ADAPTER, hmac_signature
from loadgen.options import OPTIONS, parse_settings
from loadgen.runtime import build_runtime
from loadgen.users.credentials import Credentials
from loadgen.users.rest import ExchangeRestUser, clock_offset_ms

KEY, SECRET = "test-key-0001", "test-secret-0002"
JSON = [("Content-Type", "application/json")]


def app(environ, start_response):
    path = environ["PATH_INFO"].removeprefix("/binance/api/v3/")
    query = environ.get("QUERY_STRING", "")
    if path == "time":
        start_response("200 OK", JSON)
        return [b'{"serverTime": 1700000000000}']
    if path == "ticker/price":
        start_response("200 OK", [*JSON, ("X-MBX-USED-WEIGHT-1M", "12")])
        return [b'{"symbol":"BTCUSDT","price":"100.5"}']
    if path == "depth":
        start_response("429 Too Many Requests", [*JSON, ("Retry-After", "3"), ("X-MBX-USED-WEIGHT-1M", "6001")])
        return [b'{"code":-1003,"msg":"Too much request weight used"}']
    if path == "trades":
        start_response("418 I'm a teapot", [*JSON, ("Retry-After", "120")])
        return [b'{"code":-1003,"msg":"Way too much request weight used; IP banned"}']
    if path == "aggTrades":  # a short ban
        start_response("418 I'm a teapot", [*JSON, ("Retry-After", "0.3")])
        return [b'{"code":-1003,"msg":"Way too much request weight used; IP banned"}']
    if path == "klines":
        start_response("503 Service Unavailable", [("Content-Type", "text/html")])
        return [b"<html>busy</html>"]
    if path == "order/test":
        payload, _, signature = query.rpartition("&signature=")
        fields = dict(parse_qsl(payload))
        ok = environ.get("HTTP_X_MBX_APIKEY") == KEY and signature == hmac_signature(SECRET, payload)
        ok = ok and fields.get("recvWindow") == "5000" and fields.get("symbol") == "BTCUSDT"
        start_response("200 OK" if ok else "400 Bad Request", JSON)
        return [b"{}" if ok else b'{"code":-1022,"msg":"Signature for this request is not valid."}']
    start_response("404 Not Found", JSON)
    return [b'{"code":-1000,"msg":"not found"}']


@pytest.fixture
def server():
    srv = WSGIServer(("127.0.0.1", 0), app, log=None)
    srv.start()
    yield f"http://127.0.0.1:{srv.server_port}/binance"
    srv.stop()


class User(ExchangeRestUser):
    adapter = ADAPTER
    needs_credentials = True


def make_user(host: str, mode: str = "probe") -> User:
    defaults = {flag[2:].replace("-", "_"): default for flag, default, _ in OPTIONS}
    options = Namespace(**{**defaults, "mode": mode})
    user_class = type("HostedUser", (User,), {"host": host})
    environment = Environment(user_classes=[user_class], host=host, parsed_options=options)
    environment.create_local_runner()  # hooks Locust's stats to the request event
    user = user_class(environment)
    user.runtime = build_runtime(environment, ADAPTER, parse_settings(options, ADAPTER, host))
    user.credentials = Credentials(KEY, SECRET)
    return user


def errors(user: User) -> dict[str, str]:
    return {e.name: StatsError.parse_error(e.error) for e in user.environment.stats.errors.values()}


def test_each_answer_is_counted_once_with_a_distinct_failure_text(server):
    user = make_user(server)
    ok = user.request("ticker/price", {"symbol": "BTCUSDT"}, parse=lambda b: json.loads(b)["price"])
    assert ok.ok and ok.parsed == "100.5" and ok.status == 200
    for name in ("depth", "klines", "trades"):  # the ban last: after it, nothing is sent until it ends
        assert not user.request(name, {"symbol": "BTCUSDT"}).ok
    assert errors(user) == {
        "depth": "rate_limited: -1003 HTTP 429",
        "trades": "banned: -1003 HTTP 418 IP banned",
        "klines": "server_error: HTTP 503",
    }
    stats = user.environment.stats
    assert stats.total.num_requests == 4 and stats.total.num_failures == 3
    assert stats.get("ticker/price", "GET").num_requests == 1
    totals, used = {}, None
    for s in user.runtime.metrics.drain():  # the requests may straddle a second
        for field in ("requests", "weight_requested", "rate_limited", "banned"):
            totals[field] = totals.get(field, 0) + getattr(s, field)
        if s.used_weight_max is not None:
            used = max(used or 0, s.used_weight_max)
    assert totals == {"requests": 4, "weight_requested": 2 + 5 + 25 + 2, "rate_limited": 1, "banned": 1}
    assert used == 6001


def test_after_a_ban_nothing_is_sent_until_it_ends_even_in_probe_mode(server):
    user = make_user(server, mode="probe")
    assert user.runtime.gate.remaining_s() == 0
    assert not user.request("aggTrades", {"symbol": "BTCUSDT"}).ok
    assert user.runtime.gate.remaining_s() > 0  # the ban's Retry-After holds every user of the exchange
    assert user.request("ticker/price", {"symbol": "BTCUSDT"}).ok
    waits = sum(s.retry_after_waits for s in user.runtime.metrics.drain())
    assert waits == 1 and user.runtime.gate.remaining_s() == 0


def test_an_unparseable_success_is_a_protocol_failure(server):
    user = make_user(server)
    reply = user.request("ticker/price", {"symbol": "BTCUSDT"}, parse=lambda b: json.loads(b)["missing"])
    assert not reply.ok
    assert errors(user) == {"ticker/price": "protocol: unreadable answer (KeyError)"}


def test_transport_errors_are_classified():
    user = make_user("http://127.0.0.1:9/binance")  # discard port: nothing listens
    assert not user.request("ping").ok
    assert errors(user)["ping"].startswith("connection:")


def test_signed_requests_carry_key_timestamp_and_a_valid_signature(server):
    user = make_user(server)
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "100"}
    assert user.request("order/test", params).ok, errors(user)


def test_polite_users_pause_after_a_rate_limit_and_probe_users_do_not(server):
    polite = make_user(server, "polite")
    polite.request("depth", {"symbol": "BTCUSDT"})
    assert polite.runtime.gate.remaining_s() > 2.0
    probe = make_user(server, "probe")
    probe.request("depth", {"symbol": "BTCUSDT"})
    assert probe.runtime.gate.remaining_s() == 0.0


def test_polite_users_count_weight_in_the_limiter(server):
    user = make_user(server, "polite")
    user.request("ticker/price", {"symbol": "BTCUSDT"})
    user.request("ticker/price")
    assert user.runtime.limiter.used() == 2 + 4


def test_clock_offset_is_local_minus_server_at_the_midpoint():
    assert clock_offset_ms(sent_s=10.0, received_s=10.2, server_ms=10_050.0) == pytest.approx(50.0)
    assert clock_offset_ms(sent_s=10.0, received_s=10.0, server_ms=10_100.0) == pytest.approx(-100.0)


def test_measure_clock_offset_uses_the_time_endpoint(server):
    user = make_user(server)
    expected = time.time() * 1000 - 1_700_000_000_000  # the fake server's clock is stuck at that instant
    assert user.measure_clock_offset() == pytest.approx(expected, abs=5_000)
    assert user.environment.stats.get("time", "GET").num_requests == 3


def test_the_clock_offset_is_measured_once_per_process_and_shared(server):
    """Users starting together: one measures, the others wait for it and ask no time of their own."""
    first = make_user(server)
    others = [type(first)(first.environment) for _ in range(4)]
    for other in others:
        other.runtime = first.runtime
    offsets = [g.get(timeout=10) for g in [gevent.spawn(u.measure_clock_offset) for u in [first, *others]]]
    assert len(set(offsets)) == 1 and first.runtime.clock_offset_ms == offsets[0]
    assert first.environment.stats.get("time", "GET").num_requests == 3
