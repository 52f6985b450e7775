"""The simulated Bybit v5 public spot stream: subscribe acknowledgements, the orderbook snapshot and deltas with
consecutive update ids kept by a client book equal to the market's, trades and tickers, ping/pong, refusals and
limits.

Each test serves the whole simulator app (market ticks included) on a free port in its own event loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import WSMsgType

from exchanges.bybit import ADAPTER, decode_message
from loadgen.users.books import StreamBook, StreamBookOutcome
from simulator.bybit.sim import BybitSim
from simulator.market import BUY, SELL
from tests.support.ws_client import receive_json, receive_until, run, serve_simulator


@dataclass
class Server:
    sim: BybitSim
    url: str  # ws://127.0.0.1:<port>/bybit/v5/public/spot


@contextlib.asynccontextmanager
async def serve(**bybit: Any) -> AsyncIterator[Server]:
    async with serve_simulator({"bybit": bybit}) as served:
        yield Server(served.sim(BybitSim), served.url("ws", "/bybit/v5/public/spot"))


def op(name: str, *args: str, req_id: str = "1") -> dict[str, Any]:
    return {"req_id": req_id, "op": name, "args": list(args)}


def test_the_book_follows_the_market_through_consecutive_update_ids() -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            ws = await session.ws_connect(server.url)
            await ws.send_json(op("subscribe", "orderbook.50.BTCUSDT", "publicTrade.BTCUSDT", "tickers.BTCUSDT",
                                  req_id="7"))
            ack = await receive_json(ws)
            assert ack["success"] is True and ack["ret_msg"] == "subscribe" and ack["req_id"] == "7"
            assert ack["op"] == "subscribe" and ack["conn_id"]
            book = StreamBook(ADAPTER.book_depth("orderbook"))
            kinds: dict[str, int] = {}
            last_u = None
            deltas = compared = 0
            while deltas < 15 or "publicTrade.BTCUSDT" not in kinds:
                message = decode_message((await ws.receive(timeout=3)).data)
                assert message is not None
                kinds[message.stream] = kinds.get(message.stream, 0) + 1
                update = ADAPTER.book_update(message)
                if update is None:
                    continue
                assert update.snapshot is (last_u is None)
                if last_u is not None:
                    assert update.sequence == last_u + 1
                    deltas += 1
                last_u = update.sequence
                assert book.apply(update) is StreamBookOutcome.APPLIED
                sym = server.sim.market.symbols["BTCUSDT"]
                spec = sym.spec
                if message.data["data"]["seq"] == sym.last_update_id:  # the market has not moved since: same book
                    compared += 1
                    assert book.best_bids() == [(spec.price_str(p), spec.qty_str(q)) for p, q in sym.top(BUY, 50)]
                    assert book.best_asks() == [(spec.price_str(p), spec.qty_str(q)) for p, q in sym.top(SELL, 50)]
            assert kinds["tickers.BTCUSDT"] >= 1 and compared >= 10
            await ws.send_json({"op": "ping"})
            pong = await receive_until(ws, lambda m: m.get("op") == "ping")
            assert pong["success"] is True and pong["ret_msg"] == "pong"
            await ws.close()

    run(scenario)


def test_refusals_too_many_args_and_resubscription_snapshot() -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            ws = await session.ws_connect(server.url)
            await ws.send_json(op("subscribe", "orderbook.7.BTCUSDT"))
            refused = await receive_json(ws)
            assert refused["success"] is False and "handler not found" in refused["ret_msg"]
            await ws.send_json(op("subscribe", *[f"publicTrade.{s}" for s in ("BTCUSDT", "ETHUSDT")] * 6))
            assert "args size" in (await receive_json(ws))["ret_msg"]
            await ws.send_json(op("subscribe", "orderbook.50.ETHUSDT"))
            assert (await receive_json(ws))["success"] is True
            assert (await receive_json(ws))["type"] == "snapshot"
            await ws.send_json(op("subscribe", "orderbook.50.ETHUSDT"))
            assert "already subscribed" in (await receive_until(ws, lambda m: "success" in m))["ret_msg"]
            await ws.send_json(op("unsubscribe", "orderbook.50.ETHUSDT", req_id="8"))
            await receive_until(ws, lambda m: m.get("req_id") == "8")
            await ws.send_json(op("subscribe", "orderbook.50.ETHUSDT", req_id="9"))
            await receive_until(ws, lambda m: m.get("req_id") == "9")
            assert (await receive_until(ws, lambda m: "topic" in m))["type"] == "snapshot"
            assert server.sim.stats.ws["control_errors"] == 3
            await ws.close()

    run(scenario)


def test_connection_attempts_over_the_window_are_refused_and_idle_connections_closed() -> None:
    async def scenario() -> None:
        async with serve(ws={"connection_attempts": 2, "idle_timeout_s": 0.3}) as server, \
                aiohttp.ClientSession() as session:
            first = await session.ws_connect(server.url)
            second = await session.ws_connect(server.url)
            try:
                await session.ws_connect(server.url)
                raise AssertionError("a third attempt was let in")
            except aiohttp.WSServerHandshakeError as refused:
                assert refused.status == 429
            msg = await first.receive(timeout=3)  # nothing sent, no ping: closed as idle
            assert msg.type is WSMsgType.CLOSE and first.close_code == 1008
            await second.close()
            assert server.sim.stats.ws["rejected_attempts"] == 1 and server.sim.stats.ws["closes_idle"] >= 1

    run(scenario)
