"""The simulated Binance WebSocket streams: payload shapes, control messages, limits, faults and book sync.

Each test serves the whole simulator app (`build_app`, market ticks included) on a free port in its own
event loop and stops it; limits are made small through the simulator's config.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from exchanges.binance import STREAM_KINDS, WS_LIMITS, WsLimits, sign_request, simulator_credentials
from simulator.binance import ws as stream_server_module
from simulator.binance.sim import BinanceSim
from simulator.binance.symbols import symbol_specs
from simulator.binance.ws import SERVER_KEY, kline_bounds
from simulator.market import SymbolMarket
from tests.support.ws_client import frames_within, receive_json, run, serve_simulator

# Pings every second: the client's pongs count towards the 5 incoming messages per second.
TEST_LIMITS = replace(WS_LIMITS, ping_interval_s=1.0, pong_timeout_s=3.0)
FAST_PINGS = replace(WS_LIMITS, ping_interval_s=0.2, pong_timeout_s=0.5)
CONTROL_PACE_S = 0.25  # keeps a client's control messages (and its pongs) under 5 per second
NO_RATE_LIMIT = replace(TEST_LIMITS, incoming_messages_per_s=1_000_000)


@dataclass
class Server:
    sim: BinanceSim
    app: web.Application
    url: str  # ws://127.0.0.1:<port>/binance
    api: str  # http://127.0.0.1:<port>/binance/api/v3

    def market(self, symbol: str = "BTCUSDT") -> SymbolMarket:
        return self.sim.market.symbols[symbol]


@contextlib.asynccontextmanager
async def serve(ws: WsLimits = TEST_LIMITS, **binance: Any) -> AsyncIterator[Server]:
    """The whole simulator app on a free port, in this event loop (so tests may look at the market)."""
    async with serve_simulator({"binance": {"ws": asdict(ws), **binance}}) as served:
        yield Server(served.sim(BinanceSim), served.app, served.url("ws", "/binance"),
                     served.url("http", "/binance/api/v3"))


async def control(
    ws: aiohttp.ClientWebSocketResponse, request: object, timeout_s: float = 3.0, pace_s: float = CONTROL_PACE_S
) -> Any:
    """Send a control message (after `pace_s`) and return its answer, skipping stream events."""
    await asyncio.sleep(pace_s)
    await ws.send_str(request if isinstance(request, str) else json.dumps(request))
    deadline = time.monotonic() + timeout_s
    while True:
        payload = await receive_json(ws, max(0.01, deadline - time.monotonic()))
        if isinstance(payload, dict) and ("result" in payload or "error" in payload):
            return payload


# --- payload shapes ------------------------------------------------------------------------------

PRICE = str  # prices and quantities are JSON strings
LEVELS = list
EXPECTED_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "trade": {"e": str, "E": int, "s": str, "t": int, "p": PRICE, "q": PRICE, "T": int, "m": bool, "M": bool},
    "aggTrade": {"e": str, "E": int, "s": str, "a": int, "p": PRICE, "q": PRICE, "f": int, "l": int, "T": int,
                 "m": bool, "M": bool},
    "ticker": {"e": str, "E": int, "s": str, "p": PRICE, "P": PRICE, "w": PRICE, "x": PRICE, "c": PRICE, "Q": PRICE,
               "b": PRICE, "B": PRICE, "a": PRICE, "A": PRICE, "o": PRICE, "h": PRICE, "l": PRICE, "v": PRICE,
               "q": PRICE, "O": int, "C": int, "F": int, "L": int, "n": int},
    "miniTicker": {"e": str, "E": int, "s": str, "c": PRICE, "o": PRICE, "h": PRICE, "l": PRICE, "v": PRICE,
                   "q": PRICE},
    "bookTicker": {"u": int, "s": str, "b": PRICE, "B": PRICE, "a": PRICE, "A": PRICE},
    "depth": {"e": str, "E": int, "s": str, "U": int, "u": int, "b": LEVELS, "a": LEVELS},
    "partial": {"lastUpdateId": int, "bids": LEVELS, "asks": LEVELS},
    "kline": {"e": str, "E": int, "s": str, "k": dict},
}
KLINE_KEYS = {"t": int, "T": int, "s": str, "i": str, "f": int, "L": int, "o": PRICE, "c": PRICE, "h": PRICE,
              "l": PRICE, "v": PRICE, "n": int, "x": bool, "q": PRICE, "V": PRICE, "Q": PRICE, "B": PRICE}
EVENT_TYPES = {"trade": "trade", "aggTrade": "aggTrade", "ticker": "24hrTicker", "miniTicker": "24hrMiniTicker",
               "depth": "depthUpdate", "kline": "kline"}


def shape_of(kind: str) -> str:
    if kind.startswith("kline_"):
        return "kline"
    if kind.startswith("depth") and kind[5:6].isdigit():
        return "partial"
    return "depth" if kind.startswith("depth") else kind


def assert_shape(kind: str, payload: dict[str, Any]) -> None:
    shape = shape_of(kind)
    expected = EXPECTED_KEYS[shape]
    assert set(payload) == set(expected), (kind, payload)
    for key, typ in expected.items():
        assert isinstance(payload[key], typ) and not (typ is int and isinstance(payload[key], bool)), (kind, key)
    if shape in EVENT_TYPES:
        assert payload["e"] == EVENT_TYPES[shape]
    if "s" in payload:
        assert payload["s"] == "BTCUSDT"
    for key in ("b", "a", "bids", "asks"):
        if isinstance(payload.get(key), list):
            for level in payload[key]:
                assert len(level) == 2 and all(isinstance(x, str) for x in level)
                float(level[0]), float(level[1])
    if shape == "partial":
        depth = int(kind[5:].split("@")[0])
        assert 0 < len(payload["bids"]) <= depth and 0 < len(payload["asks"]) <= depth
        assert float(payload["bids"][0][0]) < float(payload["asks"][0][0])
    if shape == "kline":
        k = payload["k"]
        assert set(k) == set(KLINE_KEYS)
        for key, typ in KLINE_KEYS.items():
            assert isinstance(k[key], typ) and not (typ is int and isinstance(k[key], bool)), (kind, key)
        assert k["i"] == kind.removeprefix("kline_")
        assert (k["t"], k["T"] + 1) == kline_bounds(k["i"], k["t"])
        assert float(k["l"]) <= min(float(k["o"]), float(k["c"])) <= max(float(k["o"]), float(k["c"])) <= float(k["h"])


def test_combined_stream_delivers_every_kind_with_binance_shapes() -> None:
    kinds = [*STREAM_KINDS, "kline_1s", "kline_1m", "kline_1w", "kline_1M"]
    names = [f"btcusdt@{kind}" for kind in kinds]

    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            seen: dict[str, list[dict[str, Any]]] = {}
            async with session.ws_connect(f"{server.url}/stream?streams={'/'.join(names)}") as ws:
                deadline = time.monotonic() + 4.5
                while time.monotonic() < deadline and len(seen) < len(names):
                    envelope = await receive_json(ws)
                    assert set(envelope) == {"stream", "data"}
                    seen.setdefault(envelope["stream"], []).append(envelope["data"])
            assert set(seen) == set(names)
            for name, payloads in seen.items():
                for payload in payloads:
                    assert_shape(name.split("@", 1)[1], payload)
            # After the first event, each 1s kline is the second that just closed (x=true).
            for payload in seen["btcusdt@kline_1s"][1:]:
                assert payload["k"]["x"] and payload["k"]["T"] < payload["E"]

    run(scenario)


def test_raw_streams_in_the_path_and_in_subscribe() -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.url}/ws/btcusdt@depth@100ms/btcusdt@bookTicker") as ws:
                kinds = set()
                while len(kinds) < 2:
                    payload = await receive_json(ws)
                    kind = "depth@100ms" if payload.get("e") == "depthUpdate" else "bookTicker"
                    assert_shape(kind, payload)
                    kinds.add(kind)
            async with session.ws_connect(f"{server.url}/ws") as ws:
                assert await control(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}) == {
                    "result": None, "id": 1}
                payload = await receive_json(ws)
                assert_shape("trade", payload)

    run(scenario)


def test_an_unknown_stream_in_the_url_connects_and_sends_nothing() -> None:
    async def scenario() -> None:
        async with (
            serve() as server,
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{server.url}/ws/btcusdt@nosuchstream/XRPUSDT@trade") as ws,
        ):
            assert await frames_within(ws, 0.5) == []
            assert await control(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {"result": [], "id": 1}

    run(scenario)


# --- control messages ----------------------------------------------------------------------------


def test_subscribe_unsubscribe_list_and_properties() -> None:
    async def scenario() -> None:
        async with (
            serve() as server,
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{server.url}/ws") as ws,
        ):
            subscribe = {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "ethusdt@depth"], "id": 1}
            assert await control(ws, subscribe) == {"result": None, "id": 1}
            listed = await control(ws, {"method": "LIST_SUBSCRIPTIONS", "id": "abc3"})
            assert listed == {"result": ["btcusdt@aggTrade", "ethusdt@depth"], "id": "abc3"}
            unsubscribe = {"method": "UNSUBSCRIBE", "params": ["ethusdt@depth"], "id": 312}
            assert await control(ws, unsubscribe) == {"result": None, "id": 312}
            listed = await control(ws, {"method": "LIST_SUBSCRIPTIONS", "id": None})
            assert listed == {"result": ["btcusdt@aggTrade"], "id": None}
            get = {"method": "GET_PROPERTY", "params": ["combined"], "id": 2}
            assert await control(ws, get) == {"result": False, "id": 2}
            set_ = {"method": "SET_PROPERTY", "params": ["combined", True], "id": 5}
            assert await control(ws, set_) == {"result": None, "id": 5}
            assert await control(ws, get) == {"result": True, "id": 2}
            while True:  # events now come in the combined envelope
                payload = await receive_json(ws)
                if "stream" in payload:
                    assert payload["stream"] == "btcusdt@aggTrade"
                    assert_shape("aggTrade", payload["data"])
                    break

    run(scenario)


def test_error_answers() -> None:
    cases: list[tuple[object, dict[str, Any]]] = [
        ("{not json", {"error": {"code": 3, "msg": "Invalid JSON: Expecting property name enclosed in double quotes "
                                                   "at line 1 column 2"}}),
        ({"method": "SUBSCRIBE", "params": ["btcusdt@nosuchstream"], "id": 7},
         {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 7}),
        ({"method": "SUBSCRIBE", "params": ["BTCUSDT@trade"], "id": 8},
         {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 8}),
        ({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1.5},
         {"error": {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}, "id": None}),
        ({"method": "SUBSCRIBE", "params": ["btcusdt@trade"]},
         {"error": {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}, "id": None}),
        ({"params": [], "id": 9}, {"error": {"code": 2, "msg": "Invalid request: missing field `method`"}, "id": 9}),
        ({"method": "SUBSCRIBEE", "id": 10},
         {"error": {"code": 2, "msg": "Invalid request: unknown variant `SUBSCRIBEE`, expected one of `SUBSCRIBE`, "
                                      "`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"},
          "id": 10}),
        ({"method": "SET_PROPERTY", "params": ["colour", True], "id": 11},
         {"error": {"code": 0, "msg": "Unknown property"}, "id": 11}),
        ({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 12},
         {"error": {"code": 1, "msg": "Invalid value type: expected Boolean"}, "id": 12}),
        ({"method": "GET_PROPERTY", "params": [3], "id": 13},
         {"error": {"code": 2, "msg": "Invalid request: property name must be a string"}, "id": 13}),
        ({"method": "LIST_SUBSCRIPTIONS", "params": ["x"], "id": 14},
         {"error": {"code": 2, "msg": "Invalid request: too many parameters"}, "id": 14}),
        ([1, 2], {"error": {"code": 2, "msg": "Invalid request: expected a JSON object"}, "id": None}),
    ]

    async def scenario() -> None:
        async with serve(NO_RATE_LIMIT) as server, aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.url}/ws") as ws:
                for request, expected in cases:
                    assert await control(ws, request, pace_s=0) == expected
                listed = await control(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}, pace_s=0)
                assert listed == {"result": [], "id": 1}
            assert server.sim.stats.ws["control_errors"] == len(cases)

    run(scenario)


def test_malformed_input_is_answered_and_never_breaks_the_server(caplog: pytest.LogCaptureFixture) -> None:
    odd_texts = [
        "", "null", "[]", '"SUBSCRIBE"', "[" * 100_000 + "]" * 100_000, '{"id": 1e999, "method": "SUBSCRIBE"}',
        '{"id": ' + "9" * 5000 + ', "method": "SUBSCRIBE"}', '{"id": 9223372036854775808, "method": "SUBSCRIBE"}',
        '{"id": "' + "a" * 37 + '", "method": "SUBSCRIBE"}', '{"id": "a-b", "method": "SUBSCRIBE"}',
        '{"id": true, "method": "SUBSCRIBE"}', '{"id": 1, "method": ["SUBSCRIBE"]}', '{"id": 1, "method": null}',
        '{"id": 1, "method": "SUBSCRIBE", "params": "btcusdt@trade"}',
        '{"id": 1, "method": "SUBSCRIBE", "params": [["btcusdt@trade"]]}',
        '{"id": 1, "method": "SUBSCRIBE", "params": ["btcusdt@trade\u0000"]}',
        '{"id": 1, "method": "SUBSCRIBE", "params": ["btcusdt@"]}', '{"id": 1, "method": "SUBSCRIBE", "params": ["@"]}',
        '{"id": 1, "method": "SUBSCRIBE", "params": ["btcusdt@kline_2m", "btcusdt@depth7"]}',
        '{"id": 1, "method": "UNSUBSCRIBE", "params": [1, null, {}, "never@subscribed"]}',
        '{"id": 1, "method": "SET_PROPERTY", "params": []}', '{"id": 1, "method": "SET_PROPERTY", "params": {}}',
        '{"id": 1, "method": "SET_PROPERTY", "params": ["combined", true, 3]}',
        '{"id": 1, "method": "GET_PROPERTY"}', '"\\ud800"', "\u00e9\u00e9",
    ]

    async def scenario() -> None:
        async with serve(NO_RATE_LIMIT) as server, aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.url}/ws", max_msg_size=0) as ws:
                for text in odd_texts:
                    answer = await control(ws, text, pace_s=0)
                    assert set(answer) <= {"result", "error", "id"}, (text, answer)
                await ws.send_bytes(b"\xff\xfe not utf-8")
                assert (await receive_json(ws))["error"]["code"] == 3
                assert await control(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 2}, pace_s=0) == {"result": [], "id": 2}
            async with session.ws_connect(f"{server.url}/ws") as ws:  # the server still serves new connections
                subscribe = {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 3}
                assert await control(ws, subscribe, pace_s=0) == {"result": None, "id": 3}
            async with session.get(f"{server.url.replace('ws://', 'http://')}/ws") as plain:
                assert plain.status == 400  # not a WebSocket upgrade

    run(scenario)
    assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []


# --- limits --------------------------------------------------------------------------------------


def test_more_than_the_allowed_messages_per_second_disconnects() -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.url}/ws", autoping=False) as ws:
                for _ in range(TEST_LIMITS.incoming_messages_per_s + 1):
                    await ws.ping()
                while (msg := await ws.receive(timeout=3)).type is not WSMsgType.CLOSE:
                    pass
                assert (msg.data, msg.extra) == (1008, "Too many requests")
            assert server.sim.stats.ws["disconnects_msg_rate"] == 1

    run(scenario)


def test_stream_cap_per_connection() -> None:
    limits = replace(TEST_LIMITS, max_streams_per_connection=3)

    async def scenario() -> None:
        async with serve(limits) as server, aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.url}/ws/btcusdt@trade/btcusdt@depth") as ws:
                too_many = {"method": "SUBSCRIBE", "params": ["ethusdt@trade", "ethusdt@depth"], "id": 1}
                answer = await control(ws, too_many)
                assert answer["error"]["code"] == 2 and answer["id"] == 1
                listed = await control(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 2})
                assert listed["result"] == ["btcusdt@trade", "btcusdt@depth"]
                assert await control(ws, {"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 3}) == {
                    "result": None, "id": 3}
            four = "/".join(f"btcusdt@{k}" for k in ("trade", "aggTrade", "depth", "ticker"))
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"{server.url}/ws/{four}")
            assert refused.value.status == 400
            assert server.sim.stats.ws["rejected_too_many_streams"] == 1

    run(scenario)


def test_connection_attempts_per_ip_are_capped() -> None:
    limits = replace(TEST_LIMITS, connection_attempts=3, connection_window_s=5)

    async def scenario() -> None:
        async with serve(limits) as server, aiohttp.ClientSession() as session:
            ws_stats = server.sim.stats.ws
            while 5 - time.time() % 5 < 2:  # windows are aligned to the clock: start early in one
                await asyncio.sleep(0.1)
            for _ in range(3):
                ws = await session.ws_connect(f"{server.url}/ws")
                await ws.close()
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"{server.url}/stream?streams=btcusdt@trade")
            assert refused.value.status == 429
            assert int(refused.value.headers["Retry-After"]) <= 5
            assert ws_stats["rejected_attempts"] == 1
            assert ws_stats["connections_total"] == 3

    run(scenario)


def test_no_pong_within_the_timeout_disconnects() -> None:
    async def scenario() -> None:
        async with serve(FAST_PINGS) as server, aiohttp.ClientSession() as session:
            answering = await session.ws_connect(f"{server.url}/ws")  # aiohttp answers pings while it reads
            reading = asyncio.create_task(frames_within(answering, 1.5))
            try:
                async with session.ws_connect(f"{server.url}/ws", autoping=False) as silent:
                    pings = 0
                    started = time.monotonic()
                    while (msg := await silent.receive(timeout=3)).type is WSMsgType.PING:
                        pings += 1
                    assert msg.type is WSMsgType.CLOSE and msg.data == 1008
                    waited = time.monotonic() - started
                    assert FAST_PINGS.ping_interval_s + FAST_PINGS.pong_timeout_s - 0.1 < waited < 3.0
                    # one every ping_interval_s until the timeout: at least the one it waited for (a loaded machine
                    # may delay the next past the timeout)
                    assert pings >= 1
                assert [m.type for m in await reading] == []  # no close: its pongs kept it alive
                assert server.sim.stats.ws["pong_timeouts"] == 1
            finally:  # a failed check must not leave a reader and a connection holding the server open
                reading.cancel()
                await answering.close()

    run(scenario)


def test_connections_close_at_their_maximum_lifetime() -> None:
    async def scenario() -> None:
        async with serve(replace(TEST_LIMITS, max_lifetime_s=0.5)) as server, aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.url}/ws/btcusdt@trade") as ws:
                while (msg := await ws.receive(timeout=3)).type is WSMsgType.TEXT:
                    pass
                assert msg.type is WSMsgType.CLOSE and msg.data == 1000
            assert server.sim.stats.ws["lifetime_closes"] == 1

    run(scenario)


# --- faults, shutdown, slow readers --------------------------------------------------------------


def test_injected_drop_is_an_abnormal_close_and_is_counted() -> None:
    async def scenario() -> None:
        async with serve(faults={"ws_drop_per_min": 600.0}) as server, aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.url}/ws/btcusdt@trade") as ws:
                while (msg := await ws.receive(timeout=5)).type is WSMsgType.TEXT:
                    pass
                assert msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR)
                assert ws.close_code == 1006
            assert server.sim.stats.faults["ws_drop"] >= 1

    run(scenario)


def test_shutdown_sends_server_shutdown_and_closes_with_1001() -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            async with serve() as server:
                raw = await session.ws_connect(f"{server.url}/ws")
                combined = await session.ws_connect(f"{server.url}/stream")
                await asyncio.sleep(0.1)
                started = time.monotonic()
            assert time.monotonic() - started < 3
            for ws, wrap in ((raw, False), (combined, True)):
                event = await receive_json(ws)
                if wrap:
                    assert event["stream"] == "!serverShutdown"
                    event = event["data"]
                assert event["e"] == "serverShutdown" and isinstance(event["E"], int)
                msg = await ws.receive(timeout=3)
                assert msg.type is WSMsgType.CLOSE and msg.data == 1001
            assert server.sim.stats.ws["connections_open"] == 0

    run(scenario)


def test_every_subscriber_gets_the_same_events_and_a_stalled_reader_is_cut_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encodings: list[object] = []
    encode = stream_server_module.dumps
    monkeypatch.setattr(stream_server_module, "dumps", lambda payload: encodings.append(payload) or encode(payload))
    kinds = ("depth20@100ms", "depth10@100ms", "depth@100ms")
    streams = "/".join(f"{s.symbol.lower()}@{k}" for s in symbol_specs() for k in kinds)

    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            stream_server = server.app[SERVER_KEY]
            stream_server.send_buffer_limit = 64 * 1024
            readers = [await session.ws_connect(f"{server.url}/ws/{streams}") for _ in range(20)]
            stalled = await session.ws_connect(f"{server.url}/ws/{streams}")
            # Small socket buffers on both ends, so the backlog reaches the server's send buffer soon.
            stalled.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            for conn in stream_server.connections:
                conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            received: list[list[str]] = [[] for _ in readers]

            async def read(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
                while len(received[i]) < 40:
                    received[i].append((await ws.receive(timeout=3)).data)

            await asyncio.gather(*(read(i, ws) for i, ws in enumerate(readers)))
            first = received[0]
            assert all(r[:30] == first[:30] for r in received)
            assert len(encodings) * 10 < sum(map(len, received))  # each event is encoded once, not per subscriber
            deadline = time.monotonic() + 10
            while not server.sim.stats.ws["drops_slow_consumer"] and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert server.sim.stats.ws["drops_slow_consumer"] == 1
            for ws in [*readers, stalled]:
                await ws.close()

    run(scenario)


# --- local order book ----------------------------------------------------------------------------


async def trade_through_rest(session: aiohttp.ClientSession, server: Server, stop: asyncio.Event) -> int:
    """Place, cancel and take with signed REST orders between market ticks; return how many were accepted.

    The book changes they make reach the market's diff log outside the market-tick listener.
    """
    rng = random.Random(5)
    sym = server.market()
    api_key, secret = simulator_credentials()
    resting: list[int] = []
    accepted = 0

    async def order(method: str, params: dict[str, str | int]) -> dict[str, Any]:
        nonlocal accepted
        signed = sign_request(api_key, secret, params, int(time.time() * 1000))
        async with session.request(method, f"{server.api}/order?{signed.query}", headers=signed.headers) as answer:
            assert answer.status in (200, 400), await answer.text()  # 400: e.g. no liquidity left on a side
            accepted += answer.status == 200
            return await answer.json()

    while not stop.is_set():
        await asyncio.sleep(rng.uniform(0.02, 0.08))
        action = rng.random()
        if action < 0.45:
            side = rng.choice(("BUY", "SELL"))
            best = sym.best_bid() if side == "BUY" else sym.best_ask()
            if best is None:
                continue
            ticks = best - rng.randrange(4) if side == "BUY" else best + rng.randrange(4)
            placed = await order("POST", {"symbol": "BTCUSDT", "side": side, "type": "LIMIT", "timeInForce": "GTC",
                                          "price": sym.spec.price_str(ticks), "quantity": "0.00100"})
            if placed.get("status") == "NEW":
                resting.append(placed["orderId"])
        elif action < 0.75 and resting:
            await order("DELETE", {"symbol": "BTCUSDT", "orderId": resting.pop(rng.randrange(len(resting)))})
        else:
            await order("POST", {"symbol": "BTCUSDT", "side": rng.choice(("BUY", "SELL")), "type": "MARKET",
                                 "quantity": "0.00050"})
    return accepted


def book_of(sym: SymbolMarket) -> tuple[dict[str, str], dict[str, str]]:
    spec = sym.spec
    return ({spec.price_str(p): spec.qty_str(q) for p, q in sym.bids.items()},
            {spec.price_str(p): spec.qty_str(q) for p, q in sym.asks.items()})


@pytest.mark.parametrize("stream", ["depth@100ms", "depth"])
def test_local_order_book_following_binance_procedure_stays_equal_to_the_simulator(stream: str) -> None:
    """Binance's "How to manage a local order book correctly", with REST orders changing the book meanwhile."""

    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            sym = server.market()
            stop = asyncio.Event()
            trader = asyncio.create_task(trade_through_rest(session, server, stop))

            async def snapshot() -> dict[str, Any]:
                async with session.get(f"{server.api}/depth", params={"symbol": "BTCUSDT", "limit": "5000"}) as r:
                    assert r.status == 200
                    return await r.json()

            async with session.ws_connect(f"{server.url}/ws/btcusdt@{stream}") as ws:
                # 1-2. Buffer the events; note the U of the first one.
                buffered = [await receive_json(ws)]
                first_u = buffered[0]["U"]
                # 3-4. Take a snapshot; take it again while it is older than that U.
                snap = await snapshot()
                while snap["lastUpdateId"] < first_u:
                    await asyncio.sleep(0.1)
                    snap = await snapshot()
                # 5. Discard buffered events already in the snapshot; the first one left straddles it.
                while buffered[-1]["u"] <= snap["lastUpdateId"]:
                    buffered.append(await receive_json(ws))
                buffered = [e for e in buffered if e["u"] > snap["lastUpdateId"]]
                assert buffered[0]["U"] <= snap["lastUpdateId"] + 1 <= buffered[0]["u"]
                # 6. The local book starts as the snapshot.
                bids = {price: qty for price, qty in snap["bids"]}
                asks = {price: qty for price, qty in snap["asks"]}
                book_id = snap["lastUpdateId"]
                applied = 0

                def apply(event: dict[str, Any]) -> None:
                    nonlocal book_id, applied
                    if event["u"] < book_id:
                        return
                    assert event["U"] <= book_id + 1, f"gap: book at {book_id}, event starts at {event['U']}"
                    for side, levels in ((bids, event["b"]), (asks, event["a"])):
                        for price, qty in levels:
                            if float(qty) == 0:
                                side.pop(price, None)
                            else:
                                side[price] = qty
                    book_id = event["u"]
                    applied += 1

                # 7. Apply the buffered events, then everything that follows.
                for event in buffered:
                    apply(event)
                deadline = time.monotonic() + 3.0
                while time.monotonic() < deadline:
                    apply(await receive_json(ws))
                stop.set()
                assert await trader >= 10
                while book_id != sym.last_update_id:  # catch up with the last REST orders
                    apply(await receive_json(ws))
                assert (bids, asks) == book_of(sym)
                assert applied >= (20 if stream == "depth@100ms" else 3)
            assert server.sim.stats.ws["depth_diffs_lost"] == 0

    run(scenario)
