"""Unit tests for the Kraken adapter: signing, nonces, answer classification, names, streams, book checksum."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import zlib
from urllib.parse import parse_qsl

import pytest

from exchanges import get_adapter
from exchanges.base import OK, FailureKind, OrderUpdate, StreamError, TargetKind, WsApiAnswer
from exchanges.kraken import (
    ADAPTER,
    ENDPOINTS,
    NONCES,
    WsIds,
    api_sign,
    book_checksum,
    book_update,
    cancel_penalty,
    classify,
    decode_message,
    decode_ws_order_message,
    pong_clock_offset_ms,
    rest_pair,
    sign_request,
    subscribe_messages,
    ws_order_request,
)

# Kraken's published example (docs.kraken.com, "Spot REST authentication").
VECTOR_SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
VECTOR_NONCE = 1616492376594
VECTOR_POST_DATA = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
VECTOR_SIGNATURE = "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="

# Kraken's published book-checksum example (docs.kraken.com, websockets book checksum guide: the
# example book whose update carries "c": "974947235"). The v2 guide applies the same algorithm to the
# v2 wire text (prices and quantities as sent, '.' and leading zeros removed).
CHECKSUM_ASKS = [(f"0.0{p}", "0.00000500") for p in ("5005", "5010", "5015", "5020", "5025",
                                                     "5030", "5035", "5040", "5045", "5050")]
CHECKSUM_BIDS = [(f"0.0{p}", "0.00000500") for p in ("5000", "4995", "4990", "4980", "4975",
                                                     "4970", "4965", "4960", "4955", "4950")]
CHECKSUM = 974947235


def test_api_sign_matches_the_published_example():
    assert api_sign("/0/private/AddOrder", VECTOR_NONCE, VECTOR_POST_DATA, VECTOR_SECRET) == VECTOR_SIGNATURE


def test_sign_request_builds_the_published_body_and_headers():
    params = {"ordertype": "limit", "pair": "XBTUSD", "price": "37500", "type": "buy", "volume": "1.25"}
    signed = sign_request("key", VECTOR_SECRET, params, VECTOR_NONCE, "/0/private/AddOrder")
    assert signed.query == ""
    assert signed.body == VECTOR_POST_DATA
    assert signed.headers == {
        "API-Key": "key",
        "API-Sign": VECTOR_SIGNATURE,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def test_the_adapter_signs_with_an_increasing_nonce_over_the_uri_path():
    first = ADAPTER.sign_request("key", VECTOR_SECRET, {"pair": "XBTUSD"}, 0, None, path="/0/private/Balance")
    second = ADAPTER.sign_request("key", VECTOR_SECRET, {"pair": "XBTUSD"}, 0, None, path="/0/private/Balance")
    nonces = [int(dict(parse_qsl(s.body))["nonce"]) for s in (first, second)]
    assert nonces[1] > nonces[0]
    secret = base64.b64decode(VECTOR_SECRET)
    digest = hashlib.sha256(f"{nonces[0]}{first.body}".encode()).digest()
    expected = base64.b64encode(hmac.new(secret, b"/0/private/Balance" + digest, hashlib.sha512).digest()).decode()
    assert first.headers["API-Sign"] == expected


def test_nonces_increase_even_when_asked_faster_than_the_clock_ticks():
    nonces = [NONCES.next() for _ in range(10_000)]
    assert all(b > a for a, b in itertools.pairwise(nonces))


def test_a_secret_that_is_not_base64_is_refused_without_echoing_it():
    with pytest.raises(ValueError, match="not valid base64") as info:
        api_sign("/0/private/Balance", 1, "nonce=1", "not*base64!")
    assert "not*base64!" not in str(info.value)


def envelope(*errors: str, result: object = None) -> bytes:
    payload: dict[str, object] = {"error": list(errors)}
    if result is not None:
        payload["result"] = result
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("EAPI:Rate limit exceeded", FailureKind.RATE_LIMITED),
        ("EGeneral:Too many requests", FailureKind.RATE_LIMITED),
        ("EOrder:Rate limit exceeded", FailureKind.RATE_LIMITED),
        ("EAPI:Invalid nonce", FailureKind.TIMESTAMP),
        ("EAPI:Invalid key", FailureKind.AUTH),
        ("EAPI:Invalid signature", FailureKind.AUTH),
        ("EGeneral:Temporary lockout", FailureKind.BANNED),
        ("EOrder:Insufficient funds", FailureKind.ORDER_REJECTED),
        ("EQuery:Unknown asset pair", FailureKind.BAD_REQUEST),
        ("EService:Unavailable", FailureKind.SERVER_ERROR),
        ("EService:Busy", FailureKind.SERVER_ERROR),
        ("EGeneral:Internal error", FailureKind.EXCHANGE_ERROR),
    ],
)
def test_errors_with_http_200_are_failures_classified_from_the_body(error, kind):
    verdict = classify(200, {}, envelope(error))
    assert not verdict.ok and verdict.kind is kind
    assert verdict.error_text() == f"{kind}: {error} HTTP 200"


def test_the_throttle_error_keeps_its_timestamp_out_of_the_failure_text():
    verdict = classify(200, {}, envelope("EService: Throttled: 1700000000"))
    assert verdict.kind is FailureKind.RATE_LIMITED
    assert verdict.error_text() == "rate_limited: EService:Throttled HTTP 200"


def test_success_warnings_and_non_kraken_answers():
    assert classify(200, {}, envelope(result={"unixtime": 1})).ok
    assert classify(200, {}, envelope("WGeneral:Deprecated", result={})).ok  # a warning is not an error
    assert classify(503, {}, b"<html>busy</html>").kind is FailureKind.SERVER_ERROR
    limited = classify(429, {"Retry-After": "3"}, b"error code: 1015")
    assert limited.kind is FailureKind.RATE_LIMITED and limited.retry_after_s == 3
    assert classify(200, {}, b"<html>captcha</html>").kind is FailureKind.PROTOCOL
    assert classify(404, {}, envelope("EGeneral:Unknown method")).kind is FailureKind.EXCHANGE_ERROR


def test_endpoint_catalog_costs_and_names():
    assert get_adapter("kraken") is ADAPTER
    assert ENDPOINTS["Ticker"].method == "GET" and ENDPOINTS["Ticker"].path == "/0/public/Ticker"
    assert ENDPOINTS["AddOrder"].method == "POST" and ENDPOINTS["AddOrder"].signed
    assert ENDPOINTS["Balance"].weight_for({}) == 1
    assert ENDPOINTS["AddOrder"].weight_for({}) == 0  # the trading counter limits orders, not the call counter
    assert rest_pair("BTC/USD") == "XBTUSD" and rest_pair("DOGE/USD") == "XDGUSD"
    assert rest_pair("ETH/BTC") == "ETHXBT"
    assert rest_pair("XXBTZUSD") == "XXBTZUSD"
    assert [cancel_penalty(s) for s in (0, 7, 12, 30, 60, 200, 400)] == [8, 6, 5, 4, 2, 1, 0]


def test_hosts_targets_and_websocket_endpoints():
    assert ADAPTER.target_kind("https://api.kraken.com") is TargetKind.PRODUCTION
    assert ADAPTER.target_kind("wss://ws.kraken.com/v2") is TargetKind.PRODUCTION
    assert ADAPTER.target_kind("http://127.0.0.1:8000/kraken") is TargetKind.SIMULATOR
    assert ADAPTER.ws_base_for("https://api.kraken.com") == "wss://ws.kraken.com/v2"
    assert ADAPTER.ws_base_for("http://127.0.0.1:8000/kraken") == "ws://127.0.0.1:8000/kraken/ws/v2"
    ws_url = "ws://127.0.0.1:8000/kraken/ws/v2"
    assert ADAPTER.stream_url(ws_url, ["book:BTC/USD"]) == ws_url


def test_subscriptions_group_symbols_by_channel_and_books_name_their_depth():
    streams = [ADAPTER.stream_name(s, k) for s in ("btc/usd", "ETH/USD") for k in ("trade", "book")]
    assert streams == ["trade:BTC/USD", "book:BTC/USD", "trade:ETH/USD", "book:ETH/USD"]
    messages = [json.loads(m) for m in subscribe_messages(streams)]
    assert messages == [
        {"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD", "ETH/USD"], "snapshot": True},
         "req_id": 1},
        {"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD", "ETH/USD"], "depth": 10,
                                           "snapshot": True}, "req_id": 2},
    ]
    unsubscribe, subscribe = (json.loads(m) for m in ADAPTER.resubscribe_messages("book:ETH/USD", 7))
    assert unsubscribe["method"] == "unsubscribe" and unsubscribe["params"]["depth"] == 10
    assert subscribe["params"]["symbol"] == ["ETH/USD"] and subscribe["req_id"] == 8


def test_book_checksum_matches_the_published_example():
    assert book_checksum(CHECKSUM_ASKS, CHECKSUM_BIDS) == CHECKSUM
    assert book_checksum([*CHECKSUM_ASKS, ("0.05055", "1.0")], CHECKSUM_BIDS) == CHECKSUM  # top 10 only


def test_book_checksum_strips_dots_and_leading_zeros_of_the_wire_text():
    # Hand-checked: "45285.2" -> "452852", "0.00100000" -> "100000" (the v2 guide's own example step).
    assert book_checksum([("45285.2", "0.00100000")], []) == zlib.crc32(b"452852100000")


def test_decoding_channel_messages_keeps_the_wire_text_of_numbers():
    frame = ('{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,'
             '"qty":0.10000000}],"asks":[],"checksum":3310070434,"timestamp":"2023-10-06T17:35:55.440295Z"}]}')
    message = decode_message(frame)
    assert message is not None and message.stream == "book:BTC/USD"
    assert message.event_time_ms == pytest.approx(1696613755440.295)
    update = book_update(message)
    assert update is not None and not update.snapshot
    assert update.bids == [("45283.5", "0.10000000")] and update.asks == [] and update.checksum == 3310070434


def test_heartbeats_status_and_acks_are_not_data_and_refusals_raise():
    assert decode_message('{"channel":"heartbeat"}') is None
    assert decode_message('{"channel":"status","type":"update","data":[{"system":"online"}]}') is None
    ack = '{"method":"subscribe","result":{"channel":"trade","symbol":"BTC/USD"},"success":true,"req_id":1}'
    assert decode_message(ack) is None
    refusal = ('{"error":"Currency pair not supported BTC/XYZ","method":"subscribe","success":false,'
               '"symbol":"BTC/XYZ","req_id":1}')
    with pytest.raises(StreamError) as info:
        decode_message(refusal)
    assert info.value.verdict.error_text() == "bad_request: subscribe Currency pair not supported BTC/XYZ"


def test_the_clock_offset_from_a_pong_uses_its_microsecond_times():
    pong = {"time_in": "2023-09-24T14:10:23.799685Z", "time_out": "2023-09-24T14:10:23.799703Z"}
    server_ms = 1695564623799.694
    assert pong_clock_offset_ms(server_ms + 40, server_ms + 60, pong) == pytest.approx(50.0, abs=0.01)


def test_server_time_is_the_middle_of_the_reported_second():
    assert ADAPTER.parse_server_time(envelope(result={"unixtime": 1688669448, "rfc1123": "x"})) == 1688669448500


def test_ws_orders_map_ids_both_ways_and_decode_answers_and_executions() -> None:
    ids = WsIds()
    frame = json.loads(ws_order_request(ids, "u1xabn1", "add_order", {"symbol": "BTC/USD", "cl_ord_id": "u1xabn1",
                                                                       "token": "t"}))
    assert frame["method"] == "add_order" and isinstance(frame["req_id"], int)
    cl_ord_id = frame["params"]["cl_ord_id"]
    assert len(cl_ord_id) == 32 and int(cl_ord_id, 16) >= 0  # a short UUID, as Kraken takes them
    update = {"channel": "executions", "type": "update", "data": [
        {"exec_type": "trade", "cl_ord_id": cl_ord_id, "timestamp": "2024-01-01T00:00:00.500000Z"},
        {"exec_type": "filled", "cl_ord_id": cl_ord_id, "timestamp": "2024-01-01T00:00:00.500000Z"},
        {"exec_type": "new", "cl_ord_id": "someone-else"}]}
    at_ms = 1704067200500.0
    assert decode_ws_order_message(ids, json.dumps(update)) == [
        OrderUpdate("u1xabn1", "TRADE", False, at_ms), OrderUpdate("u1xabn1", "FILLED", True, at_ms)]
    # every session of the account gets the events: the id is still known for the next session's copy
    assert len(decode_ws_order_message(ids, json.dumps(update))) == 2
    assert decode_ws_order_message(ids, json.dumps({**update, "type": "snapshot"})) is None
    ok = {"method": "add_order", "req_id": frame["req_id"], "success": True, "result": {"order_id": "O1"}}
    assert decode_ws_order_message(ids, json.dumps(ok)) == WsApiAnswer("u1xabn1", OK)
    assert decode_ws_order_message(ids, json.dumps(ok)) is None  # answered once
    second = json.loads(ws_order_request(ids, "u1xabs2", "subscribe", {"channel": "executions"}))
    refused = {"method": "add_order", "req_id": second["req_id"], "success": False,
               "error": "EOrder:Rate limit exceeded"}
    answer = decode_ws_order_message(ids, json.dumps(refused))
    assert answer.request_id == "u1xabs2" and answer.verdict.kind is FailureKind.RATE_LIMITED
    assert answer.verdict.error_text() == "rate_limited: EOrder:Rate limit exceeded WS"
    assert decode_ws_order_message(ids, '{"channel":"heartbeat"}') is None


def test_ws_orders_go_to_ws_auth_with_a_token_from_rest() -> None:
    assert ADAPTER.ws_order_url("http://127.0.0.1:8/kraken", "ws://127.0.0.1:8/kraken/ws/v2") == \
        "ws://127.0.0.1:8/kraken/ws-auth/v2"
    assert ADAPTER.ws_order_url("https://api.kraken.com", "wss://ws.kraken.com/v2") == "wss://ws-auth.kraken.com/v2"
    assert ADAPTER.ws_session_endpoint == "GetWebSocketsToken" and ADAPTER.endpoint("GetWebSocketsToken").signed
    assert ADAPTER.parse_ws_session_token(b'{"error":[],"result":{"token":"abc","expires":900}}') == "abc"
    ((method, params),) = ADAPTER.ws_session_requests("key", "secret", 0, "abc")
    assert (method, params["channel"], params["token"]) == ("subscribe", "executions", "abc")
    assert ADAPTER.ws_order_sent_params({"side": "buy"}, "k", "s", 1, "abc") == {"side": "buy", "token": "abc"}
