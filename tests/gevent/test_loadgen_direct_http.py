"""Requests sent on the session's client below Locust's session: the same bytes and answers, counted once."""

import gzip
import json
from argparse import Namespace

import pytest
from gevent.pywsgi import WSGIServer
from locust import FastHttpUser
from locust.env import Environment

from exchanges.binance import ADAPTER
from loadgen.options import OPTIONS, parse_settings
from loadgen.runtime import build_runtime
from loadgen.users.rest import ExchangeRestUser, unsigned_path
from loadgen.users.transport import DirectHttp

TICKER = b'{"symbol":"BTCUSDT","price":"100.5"}'


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/binance/gzip":
        start_response("200 OK", [("Content-Encoding", "gzip"), ("Content-Type", "application/json")])
        return [gzip.compress(TICKER)]
    if path == "/binance/set-cookie":
        start_response("200 OK", [("Set-Cookie", "session=abc; Path=/")])
        return [b"{}"]
    if path == "/binance/echo":
        seen = {"cookie": environ.get("HTTP_COOKIE"), "accept_encoding": environ.get("HTTP_ACCEPT_ENCODING"),
                "user_agent": environ.get("HTTP_USER_AGENT"), "query": environ.get("QUERY_STRING")}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(seen).encode()]
    if path == "/binance/moved":
        start_response("301 Moved Permanently", [("Location", "/binance/echo")])
        return [b""]
    start_response("200 OK", [("Content-Type", "application/json"), ("X-MBX-USED-WEIGHT-1M", "7")])
    return [TICKER]


@pytest.fixture
def host():
    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    yield f"http://127.0.0.1:{server.server_port}/binance"
    server.stop()


def session(host: str):
    user_class = type("Plain", (FastHttpUser,), {"host": host})
    return user_class(Environment(user_classes=[user_class], host=host)).client


def test_a_compressed_body_is_decoded_and_the_session_headers_are_sent(host):
    http = DirectHttp(session(host))
    answer = http.send("GET", "/gzip", {}, None)
    assert (answer.status, answer.body, answer.error) == (200, TICKER, None)
    seen = json.loads(http.send("GET", "/echo?symbol=BTCUSDT", {}, None).body)
    assert seen["accept_encoding"] == "gzip, deflate, br" and seen["user_agent"].startswith("python/gevent-http")
    assert seen["query"] == "symbol=BTCUSDT"


def test_cookies_the_server_sets_are_sent_back(host):
    http = DirectHttp(session(host))
    assert json.loads(http.send("GET", "/echo", {}, None).body)["cookie"] is None
    http.send("GET", "/set-cookie", {}, None)
    assert json.loads(http.send("GET", "/echo", {}, None).body)["cookie"] == "session=abc"


def test_a_base_url_ending_in_a_slash_still_makes_an_origin_form_target(host):
    answer = DirectHttp(session(host + "/")).send("GET", "/echo?symbol=ETHUSDT", {}, None)
    assert answer.status == 200 and json.loads(answer.body)["query"] == "symbol=ETHUSDT"


def test_a_redirect_is_an_answer_not_followed(host):
    answer = DirectHttp(session(host)).send("GET", "/moved", {}, None)
    assert answer.status == 301 and answer.headers["Location"] == "/binance/echo"


def test_no_answer_is_status_0_with_the_error_the_user_agent_reports():
    answer = DirectHttp(session("http://127.0.0.1:9/binance")).send("GET", "/time", {}, None)  # nothing listens
    assert answer.status == 0 and isinstance(answer.error, ConnectionRefusedError)


def test_a_closed_connection_pool_is_replaced(host):
    client = session(host)
    http = DirectHttp(client)
    assert http.send("GET", "/ticker", {}, None).status == 200
    client.client.clientpool.close()  # what Locust's docs suggest to force a reconnect
    assert http.send("GET", "/ticker", {}, None).status == 200


class Poller(ExchangeRestUser):
    adapter = ADAPTER


def test_the_request_event_carries_what_fasthttpsession_gives_it(host):
    user_class = type("HostedPoller", (Poller,), {"host": host, "context": lambda self: {"user": "u1"}})
    options = Namespace(**{flag[2:].replace("-", "_"): default for flag, default, _ in OPTIONS})
    environment = Environment(user_classes=[user_class], host=host, parsed_options=options)
    environment.create_local_runner()
    user = user_class(environment)
    user.runtime = build_runtime(environment, ADAPTER, parse_settings(options, ADAPTER, host))
    events = []
    environment.events.request.add_listener(lambda **kw: events.append(kw))
    assert user.request("ticker/price", {"symbol": "BTCUSDT"}).ok
    [event] = events
    assert event["request_type"] == "GET" and event["name"] == "ticker/price" and event["exception"] is None
    assert event["response_length"] == len(TICKER) and event["response_time"] > 0
    assert event["context"] == {"user": "u1"} and event["url"] == f"{host}/api/v3/ticker/price?symbol=BTCUSDT"
    assert event["response"].status_code == 200 and event["start_time"] > 0
    assert environment.stats.get("ticker/price", "GET").num_requests == 1


def test_unsigned_paths_are_encoded_once_per_parameter_set():
    endpoint = ADAPTER.endpoint("depth")
    first = unsigned_path(endpoint, {"symbol": "BTCUSDT", "limit": "100"})
    assert first == "/api/v3/depth?symbol=BTCUSDT&limit=100"
    assert unsigned_path(endpoint, {"symbol": "BTCUSDT", "limit": "100"}) is first
    assert unsigned_path(endpoint, {"limit": "100", "symbol": "BTCUSDT"}) == "/api/v3/depth?limit=100&symbol=BTCUSDT"
    assert unsigned_path(ADAPTER.endpoint("time"), {}) == "/api/v3/time"
