"""Coinbase users against a tiny local server and fake feeds: signed JSON bodies and path placeholders,
Coinbase's failure texts, the subscriber's ws_gap reports and resubscriptions, and the trader's refusal of
hosts where orders would be real."""

import json
from argparse import Namespace

import pytest
from gevent.pywsgi import WSGIServer
from locust.env import Environment
from locust.stats import StatsError
from locust.user.task import LOCUST_STATE_RUNNING

from exchanges.coinbase import ADAPTER, FeedMonitor, signature
from loadgen.options import OPTIONS, parse_settings
from loadgen.runtime import build_runtime
from loadgen.users.credentials import Credentials
from locustfiles.coinbase import CoinbaseBurstTrader, CoinbaseRestPoller, CoinbaseWsSubscriber

KEY, PASSPHRASE = "cb-test-key-01", "cb-test-pass-02"
SECRET = "c2VjcmV0LWZvci10ZXN0cy1vbmx5LTAwMDAwMDAwMDA="  # base64
JSON = [("Content-Type", "application/json")]
seen: list[tuple[str, str, str]] = []  # (method, path with query, body) of signed requests that verified


def app(environ, start_response):
    method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"].removeprefix("/coinbase")
    query = environ.get("QUERY_STRING", "")
    body = environ["wsgi.input"].read().decode()
    if path == "/products/BTC-USD/ticker":
        start_response("429 Too Many Requests", JSON)
        return [b'{"message":"Public rate limit exceeded"}']
    request_path = f"{path}?{query}" if query else path
    expected = signature(SECRET, environ.get("HTTP_CB_ACCESS_TIMESTAMP", ""), method, request_path, body)
    if (environ.get("HTTP_CB_ACCESS_KEY"), environ.get("HTTP_CB_ACCESS_PASSPHRASE")) != (KEY, PASSPHRASE) or (
            environ.get("HTTP_CB_ACCESS_SIGN") != expected):
        start_response("401 Unauthorized", JSON)
        return [b'{"message":"invalid signature"}']
    seen.append((method, request_path, body))
    if (method, path) == ("POST", "/orders"):
        start_response("200 OK", JSON)
        return [json.dumps({"id": "0b8e5a7c-0000-4000-8000-000000000001", "status": "pending"}).encode()]
    if (method, path) == ("DELETE", "/orders/0b8e5a7c-0000-4000-8000-000000000001"):
        start_response("400 Bad Request", JSON)
        return [b'{"message":"Order already done"}']
    start_response("404 Not Found", JSON)
    return [b'{"message":"NotFound"}']


@pytest.fixture
def server():
    srv = WSGIServer(("127.0.0.1", 0), app, log=None)
    srv.start()
    seen.clear()
    yield f"http://127.0.0.1:{srv.server_port}/coinbase"
    srv.stop()


def make(user_class, host: str):
    defaults = {flag[2:].replace("-", "_"): default for flag, default, _ in OPTIONS}
    options = Namespace(**defaults, csv_prefix=None, headless=True)
    hosted = type(f"Hosted{user_class.__name__}", (user_class,), {"host": host})
    environment = Environment(user_classes=[hosted], host=host, parsed_options=options)
    environment.create_local_runner()
    user = hosted(environment)
    user.runtime = build_runtime(environment, ADAPTER, parse_settings(options, ADAPTER, host))
    return user


def errors(user) -> dict[str, str]:
    return {e.name: StatsError.parse_error(e.error) for e in user.environment.stats.errors.values()}


def test_signed_orders_go_as_json_bodies_and_ids_fill_the_path(server):
    user = make(CoinbaseBurstTrader, server)
    user.credentials = Credentials("x", SECRET, PASSPHRASE)
    assert not user.request("orders", {"product_id": "BTC-USD"}).ok  # wrong key: 401
    user.credentials = Credentials(KEY, SECRET, PASSPHRASE)
    order = {"type": "limit", "side": "buy", "product_id": "BTC-USD", "price": "1.00", "size": "1",
             "post_only": "true"}
    placed = user.request("orders", order)
    assert placed.ok
    user.request("order DELETE", {"order_id": json.loads(placed.body)["id"]})
    (post_method, post_path, post_body), (delete_method, delete_path, delete_body) = seen
    assert (post_method, post_path, delete_method, delete_body) == ("POST", "/orders", "DELETE", "")
    assert json.loads(post_body) == {**order, "post_only": True}
    assert delete_path == "/orders/0b8e5a7c-0000-4000-8000-000000000001"
    assert errors(user) == {"orders": "auth: HTTP 401 invalid signature",
                            "order DELETE": "order_rejected: HTTP 400 Order already done"}


def test_rate_limit_answers_are_classified(server):
    poller = make(CoinbaseRestPoller, server)
    assert not poller.request("ticker", {"product_id": "BTC-USD"}).ok
    assert errors(poller) == {"ticker": "rate_limited: HTTP 429 Public rate limit exceeded"}
    assert sum(s.rate_limited for s in poller.runtime.metrics.drain()) == 1


def test_the_trader_refuses_hosts_where_orders_would_be_real():
    trader = make(CoinbaseBurstTrader, "https://api.exchange.coinbase.com")
    trader._state = LOCUST_STATE_RUNNING  # as when Locust starts it (stopping then lets on_start return)
    trader.on_start()
    assert trader.refused and trader.environment.process_exit_code == 1


class FakeSubscription:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send(self, text: str) -> bool:
        self.sent.append(json.loads(text))
        return True


def deliver(user, **payload) -> None:
    message = ADAPTER.decode_stream_message(json.dumps({"product_id": "BTC-USD", **payload}))
    assert message is not None
    user._on_message(message)


def gaps(user) -> dict[str, str]:
    return {e.name: StatsError.parse_error(e.error) for e in user.environment.stats.errors.values()}


@pytest.fixture
def subscriber():
    user = make(CoinbaseWsSubscriber, "http://127.0.0.1:9/coinbase")
    user.feed = FeedMonitor()
    user._req_ids = iter(range(1000, 2000, 2))
    user.subscription = FakeSubscription()
    return user


def test_skipped_trades_are_a_gap_and_resubscribe_the_matches(subscriber):
    deliver(subscriber, type="last_match", trade_id=10, sequence=100, time="2026-11-28T12:00:00Z")
    deliver(subscriber, type="match", trade_id=11, sequence=104, time="2026-11-28T12:00:00Z")
    assert gaps(subscriber) == {} and subscriber.subscription.sent == []
    deliver(subscriber, type="match", trade_id=14, sequence=110, time="2026-11-28T12:00:00Z")
    assert gaps(subscriber) == {"matches:BTC-USD": "ws_gap: trade ids skipped"}
    assert subscriber.subscription.sent == [
        {"type": "unsubscribe", "product_ids": ["BTC-USD"], "channels": ["matches"]},
        {"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["matches"]},
    ]
    assert sum(s.ws_gaps for s in subscriber.runtime.metrics.drain()) == 1
    deliver(subscriber, type="match", trade_id=15, sequence=111, time="2026-11-28T12:00:00Z")  # still in flight
    deliver(subscriber, type="last_match", trade_id=15, sequence=111, time="2026-11-28T12:00:00Z")  # the replay
    deliver(subscriber, type="match", trade_id=16, sequence=112, time="2026-11-28T12:00:00Z")
    assert len(subscriber.environment.stats.errors) == 1 and len(subscriber.subscription.sent) == 2


def test_out_of_order_level2_and_a_reconnect(subscriber):
    deliver(subscriber, type="l2update", changes=[], time="2026-11-28T12:00:00Z")
    assert gaps(subscriber) == {"level2_batch:BTC-USD": "ws_gap: l2update before snapshot"}
    assert subscriber.subscription.sent[-1]["channels"] == ["level2_batch"]
    deliver(subscriber, type="snapshot", bids=[["1.00", "1"]], asks=[["2.00", "1"]])
    deliver(subscriber, type="heartbeat", sequence=50, last_trade_id=7, time="2026-11-28T12:00:00Z")
    subscriber._on_connect(reconnected=True)  # everything starts afresh: no gap for a lower sequence now
    deliver(subscriber, type="heartbeat", sequence=40, last_trade_id=7, time="2026-11-28T12:00:00Z")
    assert len(subscriber.subscription.sent) == 2
