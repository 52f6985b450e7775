"""Unit tests for the Binance adapter: signing, weights, header names, answer classification."""

import json

import pytest

from exchanges import get_adapter
from exchanges.base import FailureKind, OrderUpdate, TargetKind, WsApiAnswer
from exchanges.binance import (
    ADAPTER,
    ENDPOINTS,
    classify,
    hmac_signature,
    interval_suffix,
    parse_order_count,
    parse_used_weight,
    sign_request,
    used_weight_header,
)

# Binance's published example (rest-api.md, "SIGNED Endpoint Examples for POST /api/v3/order").
VECTOR_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
VECTOR_PAYLOAD = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
)
VECTOR_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_hmac_signature_matches_published_vector():
    assert hmac_signature(VECTOR_SECRET, VECTOR_PAYLOAD) == VECTOR_SIGNATURE


def test_sign_request_builds_the_published_payload():
    params = {"symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": 1, "price": 0.1}
    signed = sign_request("key", VECTOR_SECRET, params, timestamp_ms=1499827319559)
    assert signed.query == f"{VECTOR_PAYLOAD}&signature={VECTOR_SIGNATURE}"
    assert signed.headers == {"X-MBX-APIKEY": "key"}
    in_body = sign_request("key", VECTOR_SECRET, params, timestamp_ms=1499827319559, in_body=True)
    assert in_body.body == signed.query and in_body.query == ""


@pytest.mark.parametrize(
    ("name", "params", "weight"),
    [
        ("depth", {}, 5),
        ("depth", {"limit": "100"}, 5),
        ("depth", {"limit": "500"}, 25),
        ("depth", {"limit": "1000"}, 50),
        ("depth", {"limit": "5000"}, 250),
        ("trades", {}, 25),
        ("aggTrades", {}, 4),
        ("klines", {}, 2),
        ("ticker/price", {"symbol": "BTCUSDT"}, 2),
        ("ticker/price", {}, 4),
        ("ticker/bookTicker", {"symbol": "BTCUSDT"}, 2),
        ("ticker/24hr", {"symbol": "BTCUSDT"}, 2),
        ("ticker/24hr", {"symbols": json.dumps(["A"] * 20)}, 2),
        ("ticker/24hr", {"symbols": json.dumps(["A"] * 21)}, 40),
        ("ticker/24hr", {"symbols": json.dumps(["A"] * 101)}, 80),
        ("ticker/24hr", {}, 80),
        ("exchangeInfo", {}, 20),
        ("openOrders", {"symbol": "BTCUSDT"}, 6),
        ("openOrders", {}, 80),
        ("account", {}, 20),
        ("order/test", {}, 1),
        ("order/test", {"computeCommissionRates": "true"}, 20),
    ],
)
def test_published_weights(name, params, weight):
    assert ENDPOINTS[name].weight_for(params) == weight


def test_header_names_follow_the_configured_interval():
    assert interval_suffix(60) == "1M"
    assert interval_suffix(10) == "10S"
    assert interval_suffix(86_400) == "1D"
    assert interval_suffix(7) == "7S"
    assert used_weight_header(60) == "X-MBX-USED-WEIGHT-1M"
    assert parse_used_weight({"X-MBX-USED-WEIGHT-1M": "42"}) == 42
    assert parse_used_weight({"x-mbx-used-weight-10s": "7"}) == 7
    assert parse_used_weight({}) is None


def _body(code, msg="m"):
    return json.dumps({"code": code, "msg": msg}).encode()


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "code"),
    [
        (429, {"Retry-After": "3"}, _body(-1003), FailureKind.RATE_LIMITED, "-1003"),
        (418, {"Retry-After": "120"}, _body(-1003), FailureKind.BANNED, "-1003"),
        (429, {}, _body(-1015), FailureKind.RATE_LIMITED, "-1015"),
        (400, {}, _body(-1021), FailureKind.TIMESTAMP, "-1021"),
        (400, {}, _body(-1022), FailureKind.AUTH, "-1022"),
        (401, {}, _body(-2015), FailureKind.AUTH, "-2015"),
        (400, {}, _body(-1121), FailureKind.BAD_REQUEST, "-1121"),
        (400, {}, _body(-2010, "Account has insufficient balance for requested action."),
         FailureKind.ORDER_REJECTED, "-2010"),
        (503, {}, b"<html>busy</html>", FailureKind.SERVER_ERROR, None),
        (503, {}, _body(-1008, "Server is currently overloaded with other requests."), FailureKind.SERVER_ERROR, None),
        (400, {}, b"not json", FailureKind.EXCHANGE_ERROR, None),
    ],
)
def test_classify_failures(status, headers, body, kind, code):
    verdict = classify(status, headers, body)
    assert not verdict.ok
    assert verdict.kind == kind
    assert verdict.code == code
    assert verdict.error_text().startswith(f"{kind.value}:")


def test_classify_reads_retry_after_and_weight():
    verdict = classify(429, {"Retry-After": "7", "X-MBX-USED-WEIGHT-1M": "6001"}, _body(-1003))
    assert verdict.retry_after_s == 7.0
    assert verdict.used_weight == 6001
    ok = classify(200, {"X-MBX-USED-WEIGHT-1M": "12"}, b"{}")
    assert ok.ok and ok.used_weight == 12


def test_target_kind():
    adapter = get_adapter("binance")
    assert adapter.target_kind("http://127.0.0.1:8123/binance") == TargetKind.SIMULATOR
    assert adapter.target_kind("https://api.binance.com") == TargetKind.PRODUCTION
    assert adapter.target_kind("wss://stream.binance.com:9443") == TargetKind.PRODUCTION
    assert adapter.target_kind("https://testnet.binance.vision") == TargetKind.TESTNET
    assert adapter.target_kind("https://my-gateway.internal") == TargetKind.OTHER


def test_unknown_exchange_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown exchange 'nope'"):
        get_adapter("nope")


def test_ws_api_answers_and_order_events_are_decoded() -> None:
    ok = ADAPTER.decode_ws_order_message('{"id":"u1n1","status":200,"result":{}}')
    assert isinstance(ok, WsApiAnswer) and ok.request_id == "u1n1" and ok.verdict.ok
    refused = ADAPTER.decode_ws_order_message(json.dumps(
        {"id": 7, "status": 429, "error": {"code": -1015, "msg": "Too many new orders",
                                          "data": {"serverTime": 1_000_000, "retryAfter": 1_004_000}}}))
    assert isinstance(refused, WsApiAnswer) and refused.request_id == "7"
    assert refused.verdict.error_text() == "rate_limited: -1015 HTTP 429" and refused.verdict.retry_after_s == 4
    rejected = ADAPTER.decode_ws_order_message(json.dumps(
        {"id": 8, "status": 400, "error": {"code": -2010, "msg": "Account has insufficient balance"}}))
    assert rejected.verdict.kind is FailureKind.ORDER_REJECTED
    report = {"subscriptionId": 0, "event": {"e": "executionReport", "E": 5, "c": "u1n1", "X": "FILLED"}}
    assert ADAPTER.decode_ws_order_message(json.dumps(report)) == OrderUpdate("u1n1", "FILLED", True, 5)
    report["event"]["X"] = "PARTIALLY_FILLED"
    assert ADAPTER.decode_ws_order_message(json.dumps(report)).final is False
    assert ADAPTER.decode_ws_order_message('{"event":{"e":"outboundAccountPosition","E":1}}') is None


def test_unfilled_order_counts_are_read_for_the_shortest_window() -> None:
    headers = {"X-MBX-ORDER-COUNT-1D": "90", "x-mbx-order-count-10s": "7", "X-MBX-USED-WEIGHT-1M": "3"}
    assert parse_order_count(headers) == 7 and parse_order_count({"X-MBX-ORDER-COUNT-1D": "5"}) == 5
    assert parse_order_count({"X-MBX-USED-WEIGHT-1M": "3"}) is None
    assert classify(200, headers, b"{}").order_count == 7 and classify(200, {}, b"{}").order_count is None
    limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000, "count": 9},
              {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000, "count": 41},
              {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50, "count": 12}]
    ok = ADAPTER.decode_ws_order_message(json.dumps({"id": 1, "status": 200, "result": {}, "rateLimits": limits}))
    assert ok.verdict.ok and ok.verdict.order_count == 12
    refused = ADAPTER.decode_ws_order_message(json.dumps(
        {"id": 2, "status": 429, "error": {"code": -1015, "msg": "Too many new orders"}, "rateLimits": limits}))
    assert refused.verdict.kind is FailureKind.RATE_LIMITED and refused.verdict.order_count == 12
    assert ADAPTER.decode_ws_order_message('{"id":3,"status":200,"rateLimits":[]}').verdict.order_count is None


def test_an_ed25519_key_logs_the_session_on_and_an_hmac_key_signs_every_request() -> None:
    from exchanges.binance import simulator_credentials, simulator_ed25519_credentials

    ed_key, private_key = simulator_ed25519_credentials()
    (logon, logon_params), subscribe = ADAPTER.ws_session_requests(ed_key, private_key, 1_700_000_000_000)
    assert (logon, subscribe) == ("session.logon", ("userDataStream.subscribe", {}))
    assert logon_params["apiKey"] == ed_key and "signature" in logon_params
    order = {"symbol": "BTCUSDT", "side": "BUY"}
    assert ADAPTER.ws_order_sent_params(order, ed_key, private_key, 1, None) == order  # the session acts for it
    key, secret = simulator_credentials()
    [(method, params)] = ADAPTER.ws_session_requests(key, secret, 1_700_000_000_000)
    assert method == "userDataStream.subscribe.signature" and params["apiKey"] == key
    signed = ADAPTER.ws_order_sent_params(order, key, secret, 1_700_000_000_000, None)
    payload = "apiKey=" + key + "&side=BUY&symbol=BTCUSDT&timestamp=1700000000000"
    assert signed == {**order, "apiKey": key, "timestamp": 1_700_000_000_000,
                      "signature": hmac_signature(secret, payload)}
    refused = ADAPTER.decode_ws_order_message(json.dumps(
        {"id": 1, "status": 400, "error": {"code": -4056, "msg": "HMAC_SHA256 API key is not supported."}}))
    assert refused.verdict.kind is FailureKind.AUTH


def test_ws_order_url_follows_the_target() -> None:
    assert ADAPTER.ws_order_url("https://api.binance.com", "") == "wss://ws-api.binance.com:443/ws-api/v3"
    assert ADAPTER.ws_order_url("https://testnet.binance.vision", "") == "wss://ws-api.testnet.binance.vision/ws-api/v3"
    assert ADAPTER.ws_order_url("http://127.0.0.1:1/binance", "ws://127.0.0.1:1/binance/") == (
        "ws://127.0.0.1:1/binance/ws-api/v3")
