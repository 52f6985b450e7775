"""Binance's WebSocket API in the simulator: signed requests and logon, orders through the REST order code,
the user data stream's events on the same connection, rateLimits with the ORDERS counts, 429 then 418."""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websocket

from exchanges.binance import (
    ed25519_signature,
    hmac_signature,
    simulator_credentials,
    simulator_ed25519_credentials,
    ws_api_signature_payload,
    ws_api_signed,
)
from tests.support.simserver import SimServer

KEY, SECRET = simulator_credentials()
ED_KEY, ED_PRIVATE_KEY = simulator_ed25519_credentials()
QUIET_MARKET = {"binance": {"tick_ms": 600_000}}  # the book stays still while a test trades it


class Session:
    """One WS API connection; answers are matched by id, pushed events are kept in `events`."""

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=5)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None, *, sign: bool = False,
             secret: str = SECRET) -> dict[str, Any]:
        params = dict(params or {})
        if sign:
            params |= {"apiKey": KEY, "timestamp": int(time.time() * 1000)}
            params["signature"] = hmac_signature(secret, ws_api_signature_payload(params))
        request_id = next(self.ids)
        self.ws.send(json.dumps({"id": request_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if "event" in message:
                self.events.append(message)
            elif message.get("id") == request_id:
                return message

    def logon(self) -> dict[str, Any]:
        """session.logon with the demo account's Ed25519 key (Binance takes no other key type there)."""
        return self.call("session.logon", ws_api_signed(ED_KEY, ED_PRIVATE_KEY, {}, int(time.time() * 1000)))

    def wait_events(self, count: int) -> list[dict[str, Any]]:
        while len(self.events) < count:
            message = json.loads(self.ws.recv())
            assert "event" in message, message
            self.events.append(message)
        return [m["event"] for m in self.events]


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer(QUIET_MARKET) as server:
        yield server


def ws_url(sim: SimServer) -> str:
    return sim.url.replace("http", "ws") + "/binance/ws-api/v3"


def below_market(sim: SimServer) -> str:
    sym = sim.binance.market.symbols["BTCUSDT"]
    return sym.spec.price_str(sym.best_bid() // 2)


def test_logon_subscribe_place_cancel_and_the_events(sim: SimServer) -> None:
    session = Session(ws_url(sim))
    logon = session.logon()
    assert logon["status"] == 200 and logon["result"]["apiKey"] == ED_KEY
    assert session.call("userDataStream.subscribe")["result"] == {"subscriptionId": 0}
    price = below_market(sim)
    placed = session.call("order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                          "timeInForce": "GTC", "quantity": "0.001", "price": price})
    assert placed["status"] == 200 and placed["result"]["status"] == "NEW", placed
    limits = {(r["rateLimitType"], r["interval"], r["intervalNum"]): r for r in placed["rateLimits"]}
    assert limits[("ORDERS", "SECOND", 10)]["count"] == 1 and limits[("ORDERS", "DAY", 1)]["count"] == 1
    assert ("REQUEST_WEIGHT", "MINUTE", 1) in limits
    order_id = placed["result"]["orderId"]
    events = session.wait_events(2)
    assert [e["e"] for e in events] == ["executionReport", "outboundAccountPosition"]
    assert (events[0]["x"], events[0]["X"], events[0]["i"]) == ("NEW", "NEW", order_id)
    status = session.call("order.status", {"symbol": "BTCUSDT", "orderId": order_id})
    assert status["result"]["status"] == "NEW"
    assert [o["orderId"] for o in session.call("openOrders.status", {"symbol": "BTCUSDT"})["result"]] == [order_id]
    canceled = session.call("order.cancel", {"symbol": "BTCUSDT", "orderId": order_id})
    assert canceled["result"]["status"] == "CANCELED"
    events = session.wait_events(4)
    assert (events[2]["x"], events[2]["X"]) == ("CANCELED", "CANCELED")
    assert session.call("order.test", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                       "quantity": "0.001"})["result"] == {}
    stats = sim.binance.stats.to_json()
    assert stats["ws_api"]["requests"]["order.place"] == {"200": 1} and stats["requests_total"] == 0  # not HTTP
    assert stats["ws_api"]["requests"]["order.cancel"] == stats["ws_api"]["requests"]["order.test"] == {"200": 1}
    assert stats["ws_api"]["events"] == {"executionReport NEW": 1, "executionReport CANCELED": 1,
                                         "outboundAccountPosition": 2}


def test_signature_subscription_and_a_market_order_that_fills(sim: SimServer) -> None:
    """An HMAC key cannot log on (web-socket-api.md: "Only Ed25519 keys are supported for this feature"): it
    subscribes with a signed request and signs each order."""
    session = Session(ws_url(sim))
    refused = session.call("session.logon", sign=True)
    assert (refused["status"], refused["error"]["code"]) == (400, -4056)
    assert refused["error"]["msg"] == "HMAC_SHA256 API key is not supported."
    assert session.call("userDataStream.subscribe.signature", sign=True)["result"] == {"subscriptionId": 0}
    placed = session.call("order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001",
                                          "newOrderRespType": "ACK"}, sign=True)
    assert placed["status"] == 200, placed
    events = [e for e in session.wait_events(3) if e["e"] == "executionReport"]
    assert events[0]["X"] == "NEW" and events[-1]["X"] == "FILLED" and events[-1]["x"] == "TRADE"
    assert events[-1]["z"] == "0.00100000"
    assert sim.binance.trading.listeners  # order events are built while someone is subscribed ...
    session.ws.close()
    deadline = time.monotonic() + 5
    while sim.binance.trading.listeners and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim.binance.trading.listeners == []  # ... and not for nobody


def test_resting_order_filled_by_the_market_is_reported() -> None:
    with SimServer({"binance": {"tick_ms": 50}}) as sim:
        session = Session(ws_url(sim))
        session.logon()
        session.call("userDataStream.subscribe")
        sym = sim.binance.market.symbols["BTCUSDT"]
        price = sym.spec.price_str(sym.best_ask() - 1)  # at the top of the bids: market sells hit it
        placed = session.call("order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                              "timeInForce": "GTC", "quantity": "0.001", "price": price})
        assert placed["status"] == 200, placed
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            reports = [e for e in session.wait_events(len(session.events) + 1) if e["e"] == "executionReport"]
            if reports[-1]["X"] == "FILLED":
                assert reports[-1]["m"] is True
                return
        pytest.fail("the resting order was not filled")


def test_the_signature_payload_of_binances_hmac_example() -> None:
    """web-socket-api.md, "SIGNED request example (HMAC)": the payload and signature it shows."""
    params = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01000000",
              "price": "52000.00", "newOrderRespType": "ACK", "recvWindow": 100, "timestamp": 1645423376532,
              "apiKey": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A", "signature": "x"}
    payload = ws_api_signature_payload(params)
    assert payload.startswith("apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&")
    assert payload.endswith("&timeInForce=GTC&timestamp=1645423376532&type=LIMIT")
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    assert hmac_signature(secret, payload) == "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a"


# Binance's Ed25519 test vector (fix-api.md, "Logon <A>" signature example: its illustrative private key, the payload
# of MsgType, SenderCompID, TargetCompID, MsgSeqNum and SendingTime joined by SOH, and the signature it computes).
BINANCE_EXAMPLE_ED25519_KEY = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u\n"
    "-----END PRIVATE KEY-----\n"
)


def test_the_ed25519_signature_of_binances_example() -> None:
    payload = "\x01".join(["A", "EXAMPLE", "SPOT", "1", "20240627-11:17:25.223"])
    assert ed25519_signature(BINANCE_EXAMPLE_ED25519_KEY, payload) == (
        "4MHXelVVcpkdwuLbl6n73HQUXUf1dse2PCgT1DYqW9w8AVZ1RACFGM+5UdlGPrQHrgtS3CvsRURC1oj73j8gCA==")


def test_logon_with_the_accounts_ed25519_key(sim: SimServer) -> None:
    """web-socket-api.md: session.logon with an Ed25519 API key; the payload (params but signature, sorted) signed
    with its private key, base64. The account's orders and events are the same whichever key logs on."""
    ed_key, private_key = simulator_ed25519_credentials()
    session = Session(ws_url(sim))
    logon = session.call("session.logon", ws_api_signed(ed_key, private_key, {}, int(time.time() * 1000)))
    assert logon["status"] == 200 and logon["result"]["apiKey"] == ed_key
    assert sim.binance.stats.ws["api_ed25519_logons"] == 1
    assert session.call("userDataStream.subscribe")["status"] == 200
    placed = session.call("order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                          "quantity": "0.001", "price": below_market(sim)})
    assert placed["status"] == 200 and session.wait_events(2)[0]["X"] == "NEW"
    # an HMAC signature with that key, a signature by another key, or a malformed one: -1022
    other = Session(ws_url(sim))
    timestamp = int(time.time() * 1000)
    hmac_signed = {"apiKey": ed_key, "timestamp": timestamp}
    hmac_signed["signature"] = hmac_signature(simulator_credentials()[1], ws_api_signature_payload(hmac_signed))
    for params in (hmac_signed, ws_api_signed(ed_key, BINANCE_EXAMPLE_ED25519_KEY, {}, timestamp),
                   {"apiKey": ed_key, "timestamp": timestamp, "signature": "not base64!"}):
        refused = other.call("session.logon", params)
        assert (refused["status"], refused["error"]["code"]) == (400, -1022), params


def test_rate_limits_can_be_hidden_per_connection_and_per_request(sim: SimServer) -> None:
    session = Session(ws_url(sim) + "?returnRateLimits=false")
    assert "rateLimits" not in session.call("order.status", {"symbol": "BTCUSDT", "orderId": 1}, sign=True)
    shown = session.call("order.status", {"symbol": "BTCUSDT", "orderId": 1, "returnRateLimits": True}, sign=True)
    weight = shown["rateLimits"][0]
    assert (weight["rateLimitType"], weight["count"]) == ("REQUEST_WEIGHT", 2 + 4 + 4)  # connecting weighs 2


def test_errors_are_answered_with_binance_codes(sim: SimServer) -> None:
    session = Session(ws_url(sim))
    bad = session.call("order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"},
                       sign=True, secret="wrong")
    assert (bad["status"], bad["error"]["code"]) == (400, -1022)
    assert session.call("userDataStream.subscribe")["error"]["code"] == -1002
    assert session.call("nosuch.method")["error"]["code"] == -1020
    unsigned = session.call("order.place", {"symbol": "BTCUSDT"})
    assert unsigned["error"]["code"] == -2014
    session.ws.send("not json")
    assert json.loads(session.ws.recv()) == {"id": None, "status": 400,
                                             "error": {"code": -1000, "msg": "Malformed request."}}


def test_weight_limit_then_ban_as_on_rest() -> None:
    config = {"binance": {"tick_ms": 600_000, "rate_limits": {"request_weight": {"limit": 10, "interval_s": 60}},
                          "bans": {"first_ban_s": 60, "max_ban_s": 120, "limited_requests_before_ban": 2}}}
    with SimServer(config) as sim:
        session = Session(ws_url(sim))
        answers = [session.call("order.status", {"symbol": "BTCUSDT", "orderId": 1}, sign=True) for _ in range(5)]
        # connecting weighs 2 and order.status 4: 10 is used up by the second request
        assert [a["status"] for a in answers] == [400, 400, 429, 429, 418]
        assert answers[2]["error"]["code"] == -1003 and "retryAfter" in answers[2]["error"]["data"]
        assert sim.binance.stats.rate_limited == 2 and sim.binance.stats.bans == 1


def close_code(ws: websocket.WebSocket, limit_s: float = 5) -> int:
    """The code of the close frame the server sends next (other frames are skipped)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        frame = ws.recv_frame()
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big")
    raise AssertionError("no close frame")


def test_a_banned_ip_is_disconnected_and_its_handshakes_refused_with_418() -> None:
    """web-socket-api.md: failing to back off after 429s brings an IP ban "and you will be disconnected"."""
    config = {"binance": {"tick_ms": 600_000, "rate_limits": {"request_weight": {"limit": 10, "interval_s": 60}},
                          "bans": {"first_ban_s": 60, "max_ban_s": 120, "limited_requests_before_ban": 1},
                          "ws": {"ping_interval_s": 0.2}}}  # housekeeping passes every 0.05 s
    with SimServer(config) as sim:
        other = websocket.WebSocket(skip_utf8_validation=True)
        other.connect(ws_url(sim), timeout=5)
        session = Session(ws_url(sim))
        answers = [session.call("order.status", {"symbol": "BTCUSDT", "orderId": 1}, sign=True) for _ in range(3)]
        assert [a["status"] for a in answers] == [400, 429, 418]  # the ban's answer arrives, then the close
        assert close_code(session.ws) == 1008 and close_code(other) == 1008  # every connection of the IP
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(ws_url(sim), timeout=5)
        assert refused.value.status_code == 418 and b"IP banned until" in refused.value.resp_body
        assert sim.binance.stats.ws["api_ban_closes"] == 2 and sim.binance.stats.ws["api_banned_attempts"] == 1


def test_one_subscription_per_account_and_the_active_subscription_limit() -> None:
    with SimServer({"binance": {"tick_ms": 600_000}}) as sim:
        session = Session(ws_url(sim))
        session.logon()
        assert session.call("userDataStream.subscribe")["result"] == {"subscriptionId": 0}
        again = session.call("userDataStream.subscribe")
        assert (again["status"], again["error"]["code"]) == (400, -2035)
        second = Session(ws_url(sim))  # another session may subscribe the same account
        assert second.call("userDataStream.subscribe.signature", sign=True)["status"] == 200
    with SimServer({"binance": {"tick_ms": 600_000, "ws_api": {"active_subscriptions": 1}}}) as sim:
        session = Session(ws_url(sim))
        session.call("userDataStream.subscribe.signature", sign=True)
        refused = session.call("userDataStream.subscribe.signature", sign=True)
        assert (refused["status"], refused["error"]["code"]) == (400, -1191)


def test_order_count_limit_is_refused_with_minus_1015() -> None:
    config = {"binance": {"tick_ms": 600_000, "rate_limits": {"orders_10s": {"limit": 2, "interval_s": 10}}}}
    with SimServer(config) as sim:
        session = Session(ws_url(sim))
        session.logon()
        order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
                 "price": below_market(sim)}
        answers = [session.call("order.place", order) for _ in range(3)]
        assert [a["status"] for a in answers] == [200, 200, 429]
        assert answers[2]["error"]["code"] == -1015
        counts = [r["count"] for r in answers[1]["rateLimits"] if r["rateLimitType"] == "ORDERS"]
        assert counts[0] == 2


def test_connection_rules_attempts_pings_and_pong_timeout() -> None:
    config = {"binance": {"tick_ms": 600_000, "ws": {"connection_attempts": 2, "connection_window_s": 60,
                                                       "ping_interval_s": 0.2, "pong_timeout_s": 0.5}}}
    with SimServer(config) as sim:
        answering = websocket.create_connection(ws_url(sim), timeout=5)  # websocket-client answers pings itself
        silent = websocket.WebSocket(skip_utf8_validation=True)
        silent.connect(ws_url(sim), timeout=5)
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(ws_url(sim), timeout=5)
        assert refused.value.status_code == 429
        answering.settimeout(0.05)
        deadline = time.monotonic() + 1.2
        while time.monotonic() < deadline:  # websocket-client's recv answers the pings it reads
            with contextlib.suppress(websocket.WebSocketTimeoutException):
                answering.recv()
        frame = silent.recv_frame()  # a server ping, left unanswered: closed after pong_timeout_s
        assert frame.opcode == websocket.ABNF.OPCODE_PING
        deadline = time.monotonic() + 5
        while silent.recv_frame().opcode != websocket.ABNF.OPCODE_CLOSE and time.monotonic() < deadline:
            pass
        assert sim.binance.stats.ws["pong_timeouts"] == 1 and sim.binance.stats.ws["api_rejected_attempts"] == 1
        answering.settimeout(5)
        answering.send(json.dumps({"id": 1, "method": "order.status", "params": {}}))
        assert json.loads(answering.recv())["id"] == 1  # the answering connection is still open


def test_orders_that_trade_give_their_count_back() -> None:
    """faqs/order_count_decrement.md: an order's first fill takes one off every ORDERS window (never below 0)."""
    config = {"binance": {"tick_ms": 600_000, "rate_limits": {"orders_10s": {"limit": 2, "interval_s": 10}}}}
    with SimServer(config) as sim:
        session = Session(ws_url(sim))
        session.logon()

        def orders_counts(answer: dict[str, Any]) -> list[int]:
            return [r["count"] for r in answer["rateLimits"] if r["rateLimitType"] == "ORDERS"]

        for side in ("BUY", "SELL", "BUY", "SELL"):  # MARKET orders fill at once: they never count
            market = session.call("order.place", {"symbol": "BTCUSDT", "side": side, "type": "MARKET",
                                                  "quantity": "0.001"})
            assert market["status"] == 200 and orders_counts(market) == [0, 0], market
        resting = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
                   "price": below_market(sim)}
        answers = [session.call("order.place", resting) for _ in range(3)]
        assert [a["status"] for a in answers] == [200, 200, 429] and orders_counts(answers[1]) == [2, 2]
