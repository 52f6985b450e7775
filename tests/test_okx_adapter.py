"""The OKX adapter: signing and the book checksum against OKX's documented examples, answer classification, streams."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from exchanges.base import FailureKind, StreamError
from exchanges.okx import (
    ADAPTER,
    book_checksum,
    book_update,
    decode_message,
    resubscribe_messages,
    sign_request,
    signature,
    timestamp_text,
)
from simulator.common_config import ConfigError
from simulator.config import parse_config


def test_signature_is_base64_hmac_sha256_of_timestamp_method_path_and_body():
    # The docs' example: sign(timestamp + 'GET' + '/api/v5/account/balance?ccy=BTC', SecretKey), secret used as text.
    expected = base64.b64encode(hmac.new(b"secret", b"2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC",
                                         hashlib.sha256).digest()).decode()
    assert signature("secret", "2020-12-08T09:08:57.715Z", "get", "/api/v5/account/balance?ccy=BTC", "") == expected
    assert timestamp_text(1607418537715) == "2020-12-08T09:08:57.715Z"


def test_get_signs_its_query_and_post_its_json_body():
    get = sign_request("k", "s", "p", "GET", "/api/v5/account/balance", {"ccy": "BTC"}, 1607418537715)
    assert (get.query, get.body) == ("ccy=BTC", "")
    assert get.headers["OK-ACCESS-SIGN"] == signature("s", "2020-12-08T09:08:57.715Z", "GET",
                                                      "/api/v5/account/balance?ccy=BTC", "")
    assert (get.headers["OK-ACCESS-KEY"], get.headers["OK-ACCESS-PASSPHRASE"]) == ("k", "p")
    post = sign_request("k", "s", "p", "POST", "/api/v5/trade/order", {"instId": "BTC-USDT", "sz": "1"}, 0)
    assert post.body == '{"instId":"BTC-USDT","sz":"1"}' and post.query == ""
    assert post.headers["OK-ACCESS-SIGN"] == signature("s", "1970-01-01T00:00:00.000Z", "POST", "/api/v5/trade/order",
                                                       post.body)


def test_book_checksum_matches_okxs_examples():
    # docs-v5 #order-book-trading-market-data-ws-order-book-channel, "Checksum": interleaved bid:ask, signed CRC32.
    assert book_checksum([("3366.8", "9"), ("3368", "8")], [("3366.1", "7"), ("3366", "6")]) == -1881014294
    assert book_checksum([("3366.8", "9"), ("3368", "8"), ("3372", "8")], [("3366.1", "7")]) == 831078360


def test_classification_in_okxs_terms():
    def kind(status: int, body: dict) -> FailureKind | None:
        return ADAPTER.classify(status, {}, json.dumps(body).encode()).kind

    assert ADAPTER.classify(200, {}, b'{"code":"0","msg":"","data":[]}').ok
    assert kind(429, {"code": "50011", "msg": "Too Many Requests", "data": []}) == FailureKind.RATE_LIMITED
    assert kind(200, {"code": "1", "data": [{"sCode": "50061"}]}) == FailureKind.RATE_LIMITED
    assert kind(429, {"code": "50013", "data": []}) == FailureKind.SERVER_ERROR
    assert kind(401, {"code": "50113", "data": []}) == FailureKind.AUTH
    assert kind(401, {"code": "50102", "data": []}) == FailureKind.TIMESTAMP
    assert kind(400, {"code": "51000", "data": []}) == FailureKind.BAD_REQUEST
    assert kind(200, {"code": "1", "data": [{"sCode": "51008"}]}) == FailureKind.ORDER_REJECTED
    assert ADAPTER.classify(502, {}, b"<html>").kind == FailureKind.SERVER_ERROR


def test_streams_decode_books_with_checksum_and_sequence():
    snapshot = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "snapshot",
                "data": [{"asks": [["3366.8", "9", "0", "3"]], "bids": [["3366.1", "7", "0", "3"]], "ts": "1",
                          "checksum": 5, "prevSeqId": -1, "seqId": 10}]}
    update = book_update(decode_message(json.dumps(snapshot)))
    assert update.snapshot and update.prev_sequence is None and update.sequence == 10 and update.checksum == 5
    assert update.bids == [("3366.1", "7")]
    snapshot["action"], snapshot["data"][0]["prevSeqId"], snapshot["data"][0]["checksum"] = "update", 10, 0
    update = book_update(decode_message(json.dumps(snapshot)))
    assert update.prev_sequence == 10 and update.checksum is None  # 0: OKX's deprecated checksum, not checked
    assert decode_message("pong") is None
    assert decode_message('{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"}}') is None
    with pytest.raises(StreamError) as refused:
        decode_message('{"event":"error","code":"60018","msg":"doesn\'t exist"}')
    assert refused.value.verdict.kind == FailureKind.BAD_REQUEST and refused.value.verdict.code == "60018"
    unsubscribe, subscribe = resubscribe_messages("books:BTC-USDT", 1000)
    assert json.loads(unsubscribe) == {"op": "unsubscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}],
                                       "id": "1000"}
    assert json.loads(subscribe)["op"] == "subscribe"
    assert ADAPTER.ws_base_for("http://127.0.0.1:8000/okx") == "ws://127.0.0.1:8000/okx/ws/v5/public"
    assert ADAPTER.ws_base_for("https://www.okx.com") == "wss://ws.okx.com:8443/ws/v5/public"


def test_the_okx_section_refuses_bad_values_in_one_line():
    config = parse_config({"okx": {"endpoint_limits": {"ticker": {"limit": 5}}, "ws": {"connections_per_s": 9}}})
    assert (config.okx.endpoint_limits["ticker"].limit, config.okx.endpoint_limits["ticker"].rule) == (5, "ip")
    assert config.okx.ws.connections_per_s == 9
    for data, message in (
        ({"endpoint_limits": {"ticker": {"rule": "planet"}}}, "okx.endpoint_limits.ticker.rule must be one of"),
        ({"endpoint_limits": {"ticker": {"limit": 0}}}, "okx.endpoint_limits.ticker: limit and interval_s"),
        ({"endpoint_limits": {"nope": {"limit": 1}}}, "unknown key 'okx.endpoint_limits.nope'"),
        ({"ws": {"idle_timeout_s": 0}}, "okx.ws.idle_timeout_s must be positive"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_config({"okx": data})
