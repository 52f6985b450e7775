"""The Bybit v5 adapter: signing as the v5 docs define it, classification of its answers (retCode with HTTP 200,
the IP limit's 403), topics, subscription frames, and the sequenced order book of `orderbook.50.*`."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from exchanges.base import FailureKind, RequestToSign, SequencedBooks, StreamError, StreamMessage, TargetKind
from exchanges.bybit import (
    ADAPTER,
    book_update,
    classify,
    decode_message,
    resubscribe_messages,
    signature,
    subscribe_messages,
)
from loadgen.users.books import StreamBook, StreamBookOutcome


def envelope(code: int, message: str = "OK", result: object = None) -> bytes:
    return json.dumps({"retCode": code, "retMsg": message, "result": result or {}, "retExtInfo": {},
                       "time": 1}).encode()


# --- signing ---------------------------------------------------------------------------------------


def test_the_string_signed_is_the_docs_example() -> None:
    """The guide's GET example: "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"."""
    expected_text = "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
    digest = hmac.new(b"secret", expected_text.encode(), hashlib.sha256).hexdigest()
    assert signature("secret", 1658384314791, "XXXXXXXXXX", 5000, "category=option&symbol=BTC-29JUL22-25000-C") \
        == digest


def test_a_get_signs_its_query_and_a_post_its_json_body() -> None:
    params = {"category": "spot", "symbol": "BTCUSDT"}
    get = ADAPTER.sign(RequestToSign("key", "secret", params, 1700000000000, None, "GET", "/v5/order/realtime"))
    assert get.query == "category=spot&symbol=BTCUSDT" and get.body == ""
    assert get.headers["X-BAPI-API-KEY"] == "key" and get.headers["X-BAPI-TIMESTAMP"] == "1700000000000"
    assert get.headers["X-BAPI-RECV-WINDOW"] == "5000"  # Bybit's default window
    assert get.headers["X-BAPI-SIGN"] == signature("secret", 1700000000000, "key", 5000, get.query)
    post = ADAPTER.sign(RequestToSign("key", "secret", params, 1700000000000, 2000, "POST", "/v5/order/create"))
    assert post.query == "" and json.loads(post.body) == params and post.headers["Content-Type"] == "application/json"
    assert post.headers["X-BAPI-SIGN"] == signature("secret", 1700000000000, "key", 2000, post.body)
    assert "secret" not in repr(post)


# --- classification ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "body", "kind", "code"), [
    (200, envelope(0), None, None),
    (200, envelope(10006, "Too many visits!"), FailureKind.RATE_LIMITED, "10006"),
    (200, envelope(10002), FailureKind.TIMESTAMP, "10002"),
    (200, envelope(10003), FailureKind.AUTH, "10003"),
    (200, envelope(10004), FailureKind.AUTH, "10004"),
    (200, envelope(10001), FailureKind.BAD_REQUEST, "10001"),
    (200, envelope(170131), FailureKind.ORDER_REJECTED, "170131"),
    (200, envelope(170213), FailureKind.ORDER_REJECTED, "170213"),
    (200, envelope(10016), FailureKind.SERVER_ERROR, "10016"),
    (403, b"access too frequent", FailureKind.BANNED, None),
    (429, b"", FailureKind.RATE_LIMITED, None),
    (502, b"<html>bad gateway</html>", FailureKind.SERVER_ERROR, None),
    (404, b"404 page not found", FailureKind.BAD_REQUEST, None),
    (200, b"<html></html>", FailureKind.PROTOCOL, None),
])
def test_answers_are_classified_from_retcode_whatever_the_status(status, body, kind, code) -> None:
    verdict = classify(status, {}, body)
    assert verdict.ok is (kind is None) and verdict.kind == kind and verdict.code == code
    if kind is FailureKind.RATE_LIMITED and code:
        assert verdict.error_text() == "rate_limited: 10006 HTTP 200"
    if kind is FailureKind.BANNED:
        assert verdict.error_text() == "banned: HTTP 403 access too frequent"


# --- hosts and time ------------------------------------------------------------------------------------


def test_hosts_limit_unit_and_server_time() -> None:
    assert ADAPTER.target_kind("https://api.bybit.com") is TargetKind.PRODUCTION
    assert ADAPTER.target_kind("https://api-testnet.bybit.com") is TargetKind.TESTNET
    assert ADAPTER.ws_base_for("https://api.bybit.com") == "wss://stream.bybit.com/v5/public/spot"
    assert ADAPTER.ws_base_for("http://127.0.0.1:8000/bybit") == "ws://127.0.0.1:8000/bybit/v5/public/spot"
    assert ADAPTER.limit_unit == "requests/5s" and ADAPTER.published_rate_per_s() == 120.0
    body = envelope(0, result={"timeSecond": "1688639403", "timeNano": "1688639403423213947"})
    assert ADAPTER.parse_server_time(body) == 1688639403423


# --- streams -----------------------------------------------------------------------------------------------


def test_topics_and_subscription_frames() -> None:
    assert ADAPTER.stream_name("btcusdt", "orderbook") == "orderbook.50.BTCUSDT"
    assert ADAPTER.stream_name("ETHUSDT", "trade") == "publicTrade.ETHUSDT"
    assert ADAPTER.stream_name("ETHUSDT", "ticker") == "tickers.ETHUSDT"
    topics = [f"publicTrade.S{i}" for i in range(12)]
    frames = [json.loads(f) for f in subscribe_messages(topics)]
    assert [len(f["args"]) for f in frames] == [10, 2]  # spot takes at most 10 args per request
    assert all(f["op"] == "subscribe" for f in frames) and [a for f in frames for a in f["args"]] == topics
    unsub, sub = (json.loads(f) for f in resubscribe_messages("orderbook.50.BTCUSDT", 1000))
    assert (unsub["op"], sub["op"], unsub["args"], sub["req_id"]) == ("unsubscribe", "subscribe",
                                                                      ["orderbook.50.BTCUSDT"], "1001")


def test_decoding_acks_pongs_topics_and_refusals() -> None:
    assert decode_message('{"success":true,"ret_msg":"subscribe","conn_id":"c","req_id":"1","op":"subscribe"}') \
        is None
    assert decode_message('{"success":true,"ret_msg":"pong","conn_id":"c","op":"ping"}') is None
    message = decode_message('{"topic":"publicTrade.BTCUSDT","ts":1672304486868,"type":"snapshot","data":[]}')
    assert message is not None and message.stream == "publicTrade.BTCUSDT" and message.event_time_ms == 1672304486868
    with pytest.raises(StreamError) as refused:
        decode_message('{"success":false,"ret_msg":"error:handler not found,topic:x","conn_id":"c","op":"subscribe"}')
    assert refused.value.verdict.kind is FailureKind.BAD_REQUEST


def book_message(kind: str, u: int, bids: list[list[str]], asks: list[list[str]]) -> StreamMessage:
    payload = {"topic": "orderbook.50.BTCUSDT", "ts": 1, "type": kind,
               "data": {"s": "BTCUSDT", "b": bids, "a": asks, "u": u, "seq": 7}}
    decoded = decode_message(json.dumps(payload))
    assert decoded is not None
    return decoded


def test_orderbook_deltas_follow_the_update_before_them() -> None:
    assert isinstance(ADAPTER, SequencedBooks) and ADAPTER.is_sequenced_book_kind("orderbook")
    assert not ADAPTER.is_sequenced_book_kind("trade") and not ADAPTER.is_checksum_book_kind("orderbook")
    snapshot = book_update(book_message("snapshot", 18521288, [["100.00", "1"]], [["101.00", "2"]]))
    assert snapshot is not None and snapshot.snapshot and snapshot.sequence == 18521288
    assert snapshot.prev_sequence is None and snapshot.checksum is None
    delta = book_update(book_message("delta", 18521289, [["100.00", "0"]], []))
    assert delta is not None and not delta.snapshot and delta.prev_sequence == 18521288
    restart = book_update(book_message("delta", 1, [], []))  # u=1: a snapshot after a service restart
    assert restart is not None and restart.snapshot
    book = StreamBook(ADAPTER.book_depth("orderbook"))
    assert book.apply(snapshot) is StreamBookOutcome.APPLIED
    assert book.apply(delta) is StreamBookOutcome.APPLIED and book.best_bids() == []
    skipped = book_update(book_message("delta", 18521291, [["99.00", "1"]], []))
    assert skipped is not None and book.apply(skipped) is StreamBookOutcome.GAP
