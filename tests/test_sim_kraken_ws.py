"""The simulated Kraken WebSocket v2: status, subscribe and acknowledgements, ticker/book/trade messages,
book checksums kept by a client book through every update, heartbeats, ping/pong, errors, limits and faults.

Each test serves the whole simulator app (market ticks included) on a free port in its own event loop.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from exchanges.kraken import ADAPTER, book_checksum, decode_message
from loadgen.users.books import StreamBook, StreamBookOutcome
from simulator.kraken.sim import KrakenSim
from simulator.kraken.ws import SERVER_KEY, BookChannel, StreamServer
from tests.support.ws_client import receive_json, receive_until, run, serve_simulator


@dataclass
class Server:
    sim: KrakenSim
    app: web.Application
    url: str  # ws://127.0.0.1:<port>/kraken/ws/v2

    @property
    def streams(self) -> StreamServer:
        return self.app[SERVER_KEY]


@contextlib.asynccontextmanager
async def serve(**kraken: Any) -> AsyncIterator[Server]:
    async with serve_simulator({"kraken": kraken}) as served:
        yield Server(served.sim(KrakenSim), served.app, served.url("ws", "/kraken/ws/v2"))


async def connect(session: aiohttp.ClientSession, server: Server) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(server.url)
    status = await receive_json(ws)
    assert status["channel"] == "status" and status["type"] == "update"
    assert status["data"][0]["system"] == "online" and status["data"][0]["api_version"] == "v2"
    return ws


def subscribe(channel: str, symbols: list[str], req_id: int = 1, **params: Any) -> dict[str, Any]:
    return {"method": "subscribe", "params": {"channel": channel, "symbol": symbols, **params}, "req_id": req_id}


def test_subscriptions_are_acknowledged_per_symbol_and_start_with_snapshots() -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            ws = await connect(session, server)
            await ws.send_json(subscribe("ticker", ["BTC/USD", "ETH/USD"], req_id=7))
            acks = [await receive_json(ws) for _ in range(4)]  # ack, snapshot, ack, snapshot
            assert [m.get("method") or m["channel"] for m in acks] == ["subscribe", "ticker", "subscribe", "ticker"]
            ack = acks[0]
            assert ack["result"] == {"channel": "ticker", "event_trigger": "trades", "snapshot": True,
                                     "symbol": "BTC/USD"}
            assert ack["success"] is True and ack["req_id"] == 7
            assert ack["time_in"].endswith("Z") and ack["time_out"] >= ack["time_in"]
            ticker = acks[1]
            assert ticker["type"] == "snapshot"
            data = ticker["data"][0]
            assert data["symbol"] == "BTC/USD" and data["bid"] < data["ask"]
            for field in ("bid_qty", "ask_qty", "last", "volume", "vwap", "low", "high", "change", "change_pct"):
                assert isinstance(data[field], float | int), field

            await ws.send_json(subscribe("trade", ["BTC/USD"], req_id=8))
            assert (await receive_until(ws, lambda m: m.get("method") == "subscribe"))["result"]["channel"] == "trade"
            trades = await receive_until(ws, lambda m: m.get("channel") == "trade")
            assert trades["type"] == "snapshot" and 0 < len(trades["data"]) <= 50
            trade = trades["data"][-1]
            assert set(trade) == {"symbol", "side", "price", "qty", "ord_type", "trade_id", "timestamp"}
            assert trade["side"] in ("buy", "sell") and isinstance(trade["trade_id"], int)
            update = await receive_until(ws, lambda m: m.get("channel") == "trade")
            assert update["type"] == "update" and update["data"][0]["trade_id"] > trade["trade_id"]
            await ws.close()

    run(scenario)


@pytest.mark.parametrize("depth", [10, 25])
def test_every_book_message_matches_its_checksum_in_a_client_book(depth: int) -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            ws = await connect(session, server)
            await ws.send_json(subscribe("book", ["BTC/USD", "DOGE/USD"], depth=depth))
            books = {s: StreamBook(depth, book_checksum) for s in ("book:BTC/USD", "book:DOGE/USD")}
            checked = 0
            while checked < 60:
                message = decode_message((await ws.receive(timeout=3)).data)
                if message is None:
                    continue
                update = ADAPTER.book_update(message)
                assert update is not None
                assert books[message.stream].apply(update) is StreamBookOutcome.APPLIED, message.data
                checked += 1
            assert all(len(book.bids) == len(book.asks) == depth for book in books.values())
            # The client book is the server's view of the book, level for level, once the market stands
            # still and the client has read what was in flight.
            server.sim.tick = lambda: 0
            with contextlib.suppress(TimeoutError):
                while True:
                    message = decode_message((await ws.receive(timeout=0.5)).data)
                    update = ADAPTER.book_update(message) if message is not None else None
                    if update is not None:
                        assert books[message.stream].apply(update) is StreamBookOutcome.APPLIED, message.data
            chan = server.streams.channels[("book", "XXBTZUSD", depth)]
            assert isinstance(chan, BookChannel)
            spec = chan.spec
            book = books["book:BTC/USD"]
            await ws.close()
            assert book.best_bids() == [(spec.price_str(p), spec.qty_str(q)) for p, q in chan.bids]
            assert book.best_asks() == [(spec.price_str(p), spec.qty_str(q)) for p, q in chan.asks]
            # Levels pushed below the depth came without a removal: the client had to cut them off.
            assert sum(b.levels_truncated for b in books.values()) > 0

    run(scenario)


def test_the_checksum_covers_the_wire_text_of_the_top_ten() -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            ws = await connect(session, server)
            await ws.send_json(subscribe("book", ["BTC/USD"], depth=25))
            await receive_json(ws)
            raw = (await ws.receive(timeout=3)).data
            snapshot = json.loads(raw, parse_float=str)["data"][0]
            assert '"qty":0.' in raw or '"qty":1' in raw  # numbers, not strings, with their trailing zeros
            asks = [(a["price"], a["qty"]) for a in snapshot["asks"]][:10]
            bids = [(b["price"], b["qty"]) for b in snapshot["bids"]][:10]
            assert all(len(q.split(".")[1]) == 8 for _, q in asks + bids)
            assert book_checksum(asks, bids) == snapshot["checksum"]
            await ws.close()

    run(scenario)


def test_refusals_per_symbol_and_for_whole_requests() -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            ws = await connect(session, server)
            await ws.send_json(subscribe("ticker", ["BTC/XYZ"], req_id=3))
            refused = await receive_json(ws)
            assert refused["success"] is False and refused["error"] == "Currency pair not supported BTC/XYZ"
            assert refused["symbol"] == "BTC/XYZ" and refused["method"] == "subscribe" and refused["req_id"] == 3
            await ws.send_json(subscribe("trade", ["BTC/USD"]))
            await receive_until(ws, lambda m: m.get("channel") == "trade")
            await ws.send_json(subscribe("trade", ["BTC/USD"]))
            again = await receive_until(ws, lambda m: "success" in m)
            assert again["success"] is False and again["error"] == "Already subscribed"
            for request, error in (
                ("{not json", "EGeneral:Invalid arguments"),
                (json.dumps({"method": "fly", "req_id": 4}), "EGeneral:Invalid arguments:method"),
                (json.dumps(subscribe("book", ["BTC/USD"], depth=7)), "EGeneral:Invalid arguments:depth"),
                (json.dumps(subscribe("book", ["BTC/USD"], depth=10.0)), "EGeneral:Invalid arguments:depth"),
                (json.dumps(subscribe("level3", ["BTC/USD"])), "EGeneral:Invalid arguments:channel"),
                (json.dumps({"method": "subscribe", "params": {"channel": "trade"}}),
                 "EGeneral:Invalid arguments:symbol"),
            ):
                await ws.send_str(request)
                answer = await receive_until(ws, lambda m: "success" in m)
                assert answer["success"] is False and answer["error"] == error, request
            assert not ws.closed
            assert server.sim.stats.ws["control_errors"] == 8
            await ws.close()

    run(scenario)


def test_ping_pong_unsubscribe_and_the_close_of_a_connection_without_subscriptions() -> None:
    async def scenario() -> None:
        async with serve(ws={"unsubscribed_timeout_s": 0.5}) as server, aiohttp.ClientSession() as session:
            ws = await connect(session, server)
            await ws.send_json({"method": "ping", "req_id": 101})
            pong = await receive_json(ws)
            assert pong["method"] == "pong" and pong["req_id"] == 101 and pong["time_out"] >= pong["time_in"]
            await ws.send_json(subscribe("book", ["BTC/USD"]))
            await receive_until(ws, lambda m: m.get("type") == "snapshot")
            wrong_depth = {"method": "unsubscribe", "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 25}}
            await ws.send_json(wrong_depth)
            assert (await receive_until(ws, lambda m: "success" in m))["error"] == "Subscription Not Found"
            await ws.send_json({"method": "unsubscribe", "params": {"channel": "book", "symbol": ["BTC/USD"],
                                                                   "depth": 10}, "req_id": 9})
            ack = await receive_until(ws, lambda m: m.get("method") == "unsubscribe")
            assert ack["success"] is True and ack["result"] == {"channel": "book", "depth": 10, "symbol": "BTC/USD"}
            assert not server.streams.channels
            close = await ws.receive(timeout=3)
            while close.type is WSMsgType.TEXT:  # book updates already in flight
                close = await ws.receive(timeout=3)
            assert close.type is WSMsgType.CLOSE and close.data == 1008
            assert server.sim.stats.ws["closes_unsubscribed"] == 1

    run(scenario)


def test_heartbeats_when_the_channels_are_quiet() -> None:
    async def scenario() -> None:
        quiet = {"tick_ms": 60_000, "ws": {"heartbeat_interval_s": 0.2}}
        async with serve(**quiet) as server, aiohttp.ClientSession() as session:
            ws = await connect(session, server)
            await ws.send_json(subscribe("trade", ["ETH/USD"]))
            await receive_until(ws, lambda m: m.get("channel") == "trade")
            beats = [await receive_json(ws, timeout_s=1) for _ in range(3)]
            assert beats == [{"channel": "heartbeat"}] * 3
            await ws.close()
            assert server.sim.stats.ws["messages_sent"] >= 6

    run(scenario)


def test_too_many_messages_and_connection_attempts() -> None:
    async def scenario() -> None:
        limits = {"incoming_messages_per_s": 3, "connection_attempts": 2, "connection_window_s": 60}
        async with serve(ws=limits) as server, aiohttp.ClientSession() as session:
            ws = await connect(session, server)
            for i in range(4):
                await ws.send_json({"method": "ping", "req_id": i})
            messages = [await ws.receive(timeout=3) for _ in range(5)]
            assert [json.loads(m.data).get("method") for m in messages[:3]] == ["pong"] * 3
            assert json.loads(messages[3].data)["error"] == "Exceeded msg rate"
            assert messages[4].type is WSMsgType.CLOSE and messages[4].data == 1008
            await connect(session, server)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(server.url)
            assert refused.value.status == 429
            assert server.sim.stats.ws["disconnects_msg_rate"] == 1 and server.sim.stats.ws["rejected_attempts"] == 1

    run(scenario)


def test_injected_drops_and_shutdown() -> None:
    async def scenario() -> None:
        async with serve(faults={"ws_drop_per_min": 6000.0}) as server, aiohttp.ClientSession() as session:
            ws = await connect(session, server)
            await ws.send_json(subscribe("trade", ["BTC/USD"]))
            while (msg := await ws.receive(timeout=5)).type is WSMsgType.TEXT:
                pass
            assert msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR) and ws.close_code != 1000
            assert server.sim.stats.faults["ws_drop"] >= 1
        async with aiohttp.ClientSession() as session:
            async with serve() as server:
                ws = await connect(session, server)
                await ws.send_json(subscribe("trade", ["BTC/USD"]))
                await receive_until(ws, lambda m: m.get("channel") == "trade")
            while (msg := await ws.receive(timeout=5)).type is WSMsgType.TEXT:
                pass
            assert msg.type is WSMsgType.CLOSE and msg.data == 1001
            assert server.sim.stats.ws["connections_open"] == 0

    run(scenario)
