"""Unit tests for the Coinbase adapter: signing, classification, hosts, feed messages and the feed monitor.

Coinbase publishes no signing test vector (its authentication page shows code, not a worked example), so
the signing tests use hand-checked vectors: the expected values were computed independently with
`openssl dgst -sha256 -mac HMAC -macopt hexkey:<secret bytes> -binary | base64`, and the signature is
also checked against ccxt's own Coinbase Exchange signer.
"""

from __future__ import annotations

import base64
import json

import ccxt
import pytest

from exchanges import get_adapter
from exchanges.base import (
    OK,
    FailureKind,
    OrderUpdate,
    StreamError,
    StreamMessage,
    TargetKind,
    WsApiAnswer,
    order_row_name,
)
from exchanges.coinbase import (
    ADAPTER,
    FeedMonitor,
    classify,
    decode_feed_message,
    decode_user_message,
    parse_product_rules,
    resting_order_id,
    sign_request,
    signature,
    simulator_credentials,
    subscription_message,
)

SECRET = base64.b64encode(bytes(range(64))).decode()  # "AAECAwQF...Pw=="
POST_BODY = '{"size":"0.01","price":"100.00","side":"buy","product_id":"BTC-USD"}'


def test_signature_matches_hand_checked_vectors():
    assert signature(SECRET, "1700000000.123", "POST", "/orders", POST_BODY) == (
        "Y8vUs48x0OKM5eaUJQZB9qzHLVxLigaTCmldR5SmZ5o="
    )
    # GET: the request path includes the query string; the body is empty.
    assert signature(SECRET, "1700000000", "get", "/orders?status=open&product_id=BTC-USD", "") == (
        "mowh6614yt0MeNi8/GIaIGKjAFUP0YeONVd40tQEWII="
    )
    with pytest.raises(ValueError, match="not base64"):
        signature("not base64!", "1", "GET", "/orders", "")


def test_signature_agrees_with_ccxt():
    exchange = ccxt.coinbaseexchange({"apiKey": "key", "secret": SECRET, "password": "pass"})
    exchange.nonce = lambda: 1700000000
    params = {"type": "limit", "side": "buy", "product_id": "BTC-USD", "price": "100.00", "size": "0.01"}
    for method, path in (("GET", "orders"), ("POST", "orders"), ("DELETE", "orders")):
        theirs = exchange.sign(path, ["private"], method, dict(params) if method != "DELETE" else {})
        request_path = theirs["url"].removeprefix("https://api.exchange.coinbase.com")
        ours = signature(SECRET, "1700000000", method, request_path, theirs["body"] or "")
        assert theirs["headers"]["CB-ACCESS-SIGN"] == ours


def test_sign_request_puts_params_in_the_query_or_a_json_body():
    get = sign_request("key", SECRET, "pass", "GET", "/fills", {"product_id": "BTC-USD"}, 1_700_000_000_123)
    assert get.query == "product_id=BTC-USD" and get.body == ""
    assert get.headers["CB-ACCESS-TIMESTAMP"] == "1700000000.123"
    assert get.headers["CB-ACCESS-SIGN"] == signature(SECRET, "1700000000.123", "GET", "/fills?product_id=BTC-USD", "")
    assert (get.headers["CB-ACCESS-KEY"], get.headers["CB-ACCESS-PASSPHRASE"]) == ("key", "pass")
    order = {"product_id": "BTC-USD", "side": "buy", "price": "1.00", "size": "1", "post_only": "true"}
    post = ADAPTER.sign_request("key", SECRET, order, 1_700_000_000_000, None, method="POST", path="/orders",
                                passphrase="pass")
    assert post.query == "" and json.loads(post.body)["post_only"] is True  # a JSON boolean, prices stay text
    assert json.loads(post.body)["price"] == "1.00"
    assert post.headers["CB-ACCESS-SIGN"] == signature(SECRET, "1700000000.000", "POST", "/orders", post.body)


@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        (429, b'{"message":"Public rate limit exceeded"}', FailureKind.RATE_LIMITED,
         "rate_limited: HTTP 429 Public rate limit exceeded"),
        (429, b'{"message":"Private rate limit exceeded"}', FailureKind.RATE_LIMITED,
         "rate_limited: HTTP 429 Private rate limit exceeded"),
        (401, b'{"message":"invalid signature"}', FailureKind.AUTH, "auth: HTTP 401 invalid signature"),
        (401, b'{"message":"request timestamp expired"}', FailureKind.TIMESTAMP,
         "timestamp: HTTP 401 request timestamp expired"),
        (400, b'{"message":"Invalid Price"}', FailureKind.BAD_REQUEST, "bad_request: HTTP 400 Invalid Price"),
        (400, b'{"message":"Insufficient funds"}', FailureKind.ORDER_REJECTED,
         "order_rejected: HTTP 400 Insufficient funds"),
        (404, b'{"message":"NotFound"}', FailureKind.BAD_REQUEST, "bad_request: HTTP 404 NotFound"),
        (503, b"<html>gateway</html>", FailureKind.SERVER_ERROR, "server_error: HTTP 503"),
        (418, b"", FailureKind.EXCHANGE_ERROR, "exchange_error: HTTP 418"),
    ],
)
def test_classify(status, body, kind, text):
    verdict = classify(status, {}, body)
    assert not verdict.ok and verdict.kind is kind and verdict.error_text() == text


def test_classify_ok_and_the_registry():
    assert classify(200, {}, b"[]").ok
    assert get_adapter("coinbase") is ADAPTER and ADAPTER.limit_unit == "requests/s"


def test_hosts_and_feed_urls():
    assert ADAPTER.target_kind("https://api.exchange.coinbase.com") is TargetKind.PRODUCTION
    assert ADAPTER.target_kind("https://api-public.sandbox.exchange.coinbase.com") is TargetKind.TESTNET
    assert ADAPTER.target_kind("http://127.0.0.1:8000/coinbase") is TargetKind.SIMULATOR
    assert ADAPTER.ws_base_for("https://api.exchange.coinbase.com") == "wss://ws-feed.exchange.coinbase.com"
    assert ADAPTER.stream_url("wss://ws-feed.exchange.coinbase.com", []) == "wss://ws-feed.exchange.coinbase.com"
    sim = ADAPTER.ws_base_for("http://127.0.0.1:8000/coinbase")
    assert ADAPTER.stream_url(sim, []) == "ws://127.0.0.1:8000/coinbase/ws-feed"


def test_subscribe_messages():
    streams = [ADAPTER.stream_name(p, c) for p in ("BTC-USD", "ETH-USD") for c in ("heartbeat", "matches")]
    (message,) = ADAPTER.subscribe_messages(streams)
    assert json.loads(message) == {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"],
                                   "channels": ["heartbeat", "matches"]}
    mixed = json.loads(subscription_message("unsubscribe", ["ticker:BTC-USD", "matches:ETH-USD"]))
    assert mixed == {"type": "unsubscribe", "channels": [{"name": "ticker", "product_ids": ["BTC-USD"]},
                                                         {"name": "matches", "product_ids": ["ETH-USD"]}]}


def test_decode_feed_messages():
    heartbeat = decode_feed_message('{"type":"heartbeat","sequence":90,"last_trade_id":20,"product_id":"BTC-USD",'
                                    '"time":"2014-11-07T08:19:28.464459Z"}')
    assert heartbeat is not None and heartbeat.stream == "heartbeat:BTC-USD"
    assert heartbeat.event_time_ms == pytest.approx(1415348368464.459)
    snapshot = decode_feed_message('{"type":"snapshot","product_id":"ETH-USD","bids":[],"asks":[]}')
    assert snapshot is not None and snapshot.stream == "level2_batch:ETH-USD" and snapshot.event_time_ms is None
    assert decode_feed_message('{"type":"subscriptions","channels":[]}') is None
    with pytest.raises(StreamError) as refused:
        decode_feed_message('{"type":"error","message":"Failed to subscribe","reason":"XYZ is not a valid product"}')
    assert refused.value.verdict.error_text() == "exchange_error: XYZ is not a valid product"
    with pytest.raises(ValueError):
        decode_feed_message('{"type":"surprise","product_id":"BTC-USD"}')


CHANNEL_OF = {"heartbeat": "heartbeat", "ticker": "ticker", "match": "matches", "last_match": "matches",
              "snapshot": "level2_batch", "l2update": "level2_batch"}


def msg(kind: str, product: str = "BTC-USD", **fields) -> StreamMessage:
    return StreamMessage(f"{CHANNEL_OF[kind]}:{product}", None, {"type": kind, "product_id": product, **fields})


def problem(monitor: FeedMonitor, message: StreamMessage) -> tuple[str, str] | None:
    found = monitor.check(message)
    return None if found is None else (found.verdict.message, found.stream)


def test_feed_monitor_finds_skipped_trades_and_disorder():
    monitor = FeedMonitor()
    skipped, disorder = ("trade ids skipped", "matches:BTC-USD"), ("out of order", "matches:BTC-USD")
    assert problem(monitor, msg("last_match", trade_id=10, sequence=100)) is None
    assert problem(monitor, msg("match", trade_id=11, sequence=105)) is None  # sequences skip: other book events
    assert problem(monitor, msg("match", trade_id=13, sequence=109)) == skipped
    assert problem(monitor, msg("match", trade_id=14, sequence=108)) == disorder
    assert problem(monitor, msg("heartbeat", last_trade_id=14, sequence=120)) is None
    assert problem(monitor, msg("heartbeat", last_trade_id=16, sequence=130)) == skipped  # matches were missed
    assert problem(monitor, msg("heartbeat", last_trade_id=16, sequence=125)) == ("out of order", "heartbeat:BTC-USD")
    assert problem(monitor, msg("ticker", trade_id=16, sequence=130)) is None
    assert problem(monitor, msg("ticker", trade_id=17, sequence=130)) is None  # the ticker on subscription repeats
    assert problem(monitor, msg("ticker", trade_id=15, sequence=129)) == ("out of order", "ticker:BTC-USD")
    assert problem(monitor, msg("match", product="ETH-USD", trade_id=5, sequence=1)) is None  # products apart


def test_feed_monitor_heartbeat_sets_the_baseline_before_any_match():
    monitor = FeedMonitor()
    assert problem(monitor, msg("heartbeat", last_trade_id=7, sequence=50)) is None
    assert problem(monitor, msg("match", trade_id=9, sequence=60)) == ("trade ids skipped", "matches:BTC-USD")


def test_feed_monitor_level2_order_and_resubscription():
    monitor = FeedMonitor()
    l2_problem = ("l2update before snapshot", "level2_batch:BTC-USD")
    assert problem(monitor, msg("l2update", changes=[])) == l2_problem
    assert problem(monitor, msg("l2update", changes=[])) is None  # reported once
    assert problem(monitor, msg("snapshot", bids=[], asks=[])) is None
    assert problem(monitor, msg("l2update", changes=[])) is None
    assert problem(monitor, msg("last_match", trade_id=10, sequence=100)) is None
    monitor.restart("level2_batch:BTC-USD")  # resubscribing: what was in flight is not a problem
    monitor.restart("matches:BTC-USD")
    assert problem(monitor, msg("l2update", changes=[])) is None
    assert problem(monitor, msg("match", trade_id=11, sequence=101)) is None
    assert problem(monitor, msg("last_match", trade_id=11, sequence=101)) is None  # the replay restarts matches
    assert problem(monitor, msg("match", trade_id=12, sequence=102)) is None
    monitor.reset()
    assert problem(monitor, msg("l2update", changes=[])) == l2_problem


def test_feed_monitor_keeps_the_book_and_finds_a_crossed_one():
    monitor = FeedMonitor()
    assert problem(monitor, msg("snapshot", bids=[["99.00", "1.0"], ["98.00", "2"]], asks=[["101.00", "1"]])) is None
    assert problem(monitor, msg("l2update", changes=[["buy", "99.00", "0"], ["sell", "100.00", "3"]])) is None
    assert monitor.books["BTC-USD"] == ({98.0: 2.0}, {100.0: 3.0, 101.0: 1.0})
    assert problem(monitor, msg("l2update", changes=[["buy", "100.50", "1"]])) == ("book crossed",
                                                                                  "level2_batch:BTC-USD")
    assert "BTC-USD" not in monitor.books  # dropped until the resubscription's snapshot
    assert problem(monitor, msg("l2update", changes=[])) is None


def test_resubscribe_messages_restart_one_stream():
    unsubscribe, subscribe = (json.loads(m) for m in ADAPTER.resubscribe_messages("level2_batch:ETH-USD", 7))
    assert unsubscribe == {"type": "unsubscribe", "product_ids": ["ETH-USD"], "channels": ["level2_batch"]}
    assert subscribe == {**unsubscribe, "type": "subscribe"}


def test_products_orders_and_credentials():
    rules = parse_product_rules(b'{"id":"BTC-USD","quote_increment":"0.01","base_increment":"0.00000001",'
                                b'"min_market_funds":"1"}')
    assert rules.price_text(rules.tick_size * 9_512_345 + rules.tick_size / 2) == "95123.45"
    assert rules.smallest_quantity_text(rules.tick_size * 10_000_000) == "0.00001"
    assert resting_order_id(b'{"id":"abc","status":"pending"}') == "abc"
    assert resting_order_id(b'{"id":"abc","status":"rejected"}') is None
    demo = simulator_credentials({})
    assert base64.b64decode(demo.api_secret) and "sim" not in repr(demo)
    overridden = simulator_credentials({"SIM_COINBASE_API_KEY": "k", "SIM_COINBASE_API_SECRET": SECRET,
                                        "SIM_COINBASE_API_PASSPHRASE": "p"})
    assert (overridden.api_key, overridden.api_secret, overridden.passphrase) == ("k", SECRET, "p")
    with pytest.raises(ValueError, match="SIM_COINBASE_API_SECRET"):
        simulator_credentials({"SIM_COINBASE_API_SECRET": "%%%"})
    assert set(ADAPTER.simulator_user_env()) == {"COINBASE_API_KEY", "COINBASE_API_SECRET", "COINBASE_API_PASSPHRASE"}


# --- the `user` channel: REST orders followed on the feed (FeedOrderApi) -------------------------------------------


def test_user_channel_messages_decode_to_order_events_of_the_profiles_side() -> None:
    received = {"type": "received", "order_id": "o1", "client_oid": "c1", "time": "2021-03-05T16:42:21.878177Z",
                "product_id": "BTC-USD", "profile_id": "p", "user_id": "u", "order_type": "limit"}
    assert decode_user_message(json.dumps(received)) == [
        OrderUpdate("c1", "received", False, 1614962541878.177, order_id="o1")]
    done = {"type": "done", "order_id": "o1", "reason": "filled", "time": "2021-03-05T16:42:21.878177Z"}
    assert decode_user_message(json.dumps(done))[0].final
    taker = {"type": "match", "maker_order_id": "m", "taker_order_id": "t", "taker_user_id": "u", "time": None}
    assert [u.order_id for u in decode_user_message(json.dumps(taker))] == ["t"]
    both = {**taker, "maker_profile_id": "p"}
    assert [u.order_id for u in decode_user_message(json.dumps(both))] == ["t", "m"]
    assert decode_user_message('{"type":"heartbeat"}') is None
    assert decode_user_message('{"type":"subscriptions","channels":[]}') == WsApiAnswer("", OK)
    refused = decode_user_message('{"type":"error","message":"Authentication Failed","reason":"{}"}')
    assert isinstance(refused, WsApiAnswer) and refused.verdict.kind is FailureKind.AUTH
    assert order_row_name(ADAPTER) == "orders" == ADAPTER.feed_order_endpoint
    assert ADAPTER.placed_order_id(b'{"id":"o1","status":"pending"}') == "o1"
    subscribe = json.loads(ADAPTER.order_feed_subscribe(["BTC-USD"], "k", base64.b64encode(b"s").decode(), "pp", 1000))
    assert subscribe["channels"] == ["user"] and subscribe["product_ids"] == ["BTC-USD"]
    assert {"key", "signature", "timestamp", "passphrase"} <= set(subscribe)
