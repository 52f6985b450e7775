"""The simulated Kraken's authenticated WebSocket v2 (`/kraken/ws-auth/v2`): the token from GetWebSocketsToken and
its time to live, add_order / cancel_order / cancel_all_orders_after answers, the executions channel, and the
per-pair trading counter shared with REST orders.

Each test serves the whole simulator app (market ticks included) on a free port in its own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from exchanges.kraken import INVALID_SESSION, NONCES, TRADING_RATE_LIMIT, sign_request, simulator_credentials
from simulator.kraken.sim import KrakenSim
from simulator.kraken.ws_auth import rest_order_params
from tests.support.ws_client import receive_json, run, serve_simulator

KEY, SECRET = simulator_credentials({})


@dataclass
class Server:
    sim: KrakenSim
    rest: str  # http://127.0.0.1:<port>/kraken
    url: str  # ws://127.0.0.1:<port>/kraken/ws-auth/v2


@contextlib.asynccontextmanager
async def serve(**kraken: Any) -> AsyncIterator[Server]:
    async with serve_simulator({"kraken": kraken}) as served:
        yield Server(served.sim(KrakenSim), served.url("http", "/kraken"), served.url("ws", "/kraken/ws-auth/v2"))


async def private(session: aiohttp.ClientSession, server: Server, method: str, **params: str) -> dict[str, Any]:
    path = f"/0/private/{method}"
    signed = sign_request(KEY, SECRET, params, NONCES.next(), path)
    async with session.post(server.rest + path, data=signed.body, headers=signed.headers) as response:
        return await response.json()


async def token(session: aiohttp.ClientSession, server: Server, expires: int = 900) -> str:
    answer = await private(session, server, "GetWebSocketsToken")
    assert answer["error"] == [] and answer["result"]["expires"] == expires
    return answer["result"]["token"]


async def request(ws: aiohttp.ClientWebSocketResponse, method: str, req_id: int, **params: Any) -> dict[str, Any]:
    """Send one request and return its answer (skipping channel messages)."""
    await ws.send_json({"method": method, "params": params, "req_id": req_id})
    while True:
        message = await receive_json(ws)
        if message.get("req_id") == req_id:
            return message


def market_buy(tok: str, **extra: Any) -> dict[str, Any]:
    return {"order_type": "market", "side": "buy", "order_qty": 0.0001, "symbol": "BTC/USD", "token": tok, **extra}


def test_orders_are_answered_then_reported_on_the_executions_channel() -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            tok = await token(session, server)
            ws = await session.ws_connect(server.url)
            ack = await request(ws, "subscribe", 1, channel="executions", token=tok)
            assert ack["success"] is True and ack["result"]["channel"] == "executions"
            snapshot = await receive_json(ws)
            assert (snapshot["channel"], snapshot["type"], snapshot["data"]) == ("executions", "snapshot", [])
            cl_ord_id = "0123456789abcdef0123456789abcdef"
            answer = await request(ws, "add_order", 2, **market_buy(tok, cl_ord_id=cl_ord_id))
            assert answer["method"] == "add_order" and answer["success"] is True
            assert answer["result"]["cl_ord_id"] == cl_ord_id and answer["result"]["order_id"].startswith("O")
            assert {"time_in", "time_out"} <= set(answer)
            events = [await receive_json(ws) for _ in range(4)]  # after the answer: every event of the order
            assert [e["data"][0]["exec_type"] for e in events] == ["pending_new", "new", "trade", "filled"]
            assert all(e["channel"] == "executions" and e["type"] == "update" for e in events)
            fill, done = events[2]["data"][0], events[3]["data"][0]
            assert fill["last_qty"] == 0.0001 and fill["last_price"] > 0 and fill["cl_ord_id"] == cl_ord_id
            assert done["order_status"] == "filled" and done["cum_qty"] == 0.0001
            assert done["order_id"] == answer["result"]["order_id"]
            # a resting limit order, cancelled by order_id
            price = server.sim.market.symbols["XXBTZUSD"].spec.price_str(
                server.sim.market.symbols["XXBTZUSD"].best_bid() // 2)
            rest_answer = await request(ws, "add_order", 3, order_type="limit", side="buy", order_qty=0.0001,
                                        limit_price=float(price), symbol="BTC/USD", token=tok)
            order_id = rest_answer["result"]["order_id"]
            cancelled = await request(ws, "cancel_order", 4, order_id=[order_id], token=tok)
            assert cancelled["success"] is True and cancelled["result"] == {"order_id": order_id}
            unknown = await request(ws, "cancel_order", 5, order_id=[order_id], token=tok)
            assert unknown["success"] is False and unknown["error"] == "EOrder:Unknown order"
            served = server.sim.stats.to_json()["ws_api"]
            assert served["requests"]["add_order"] == {"ok": 2}
            assert served["events"]["executions canceled"] == 1 and served["events"]["executions filled"] == 1
            await ws.close()

    run(scenario)


def test_a_token_is_needed_and_expires_unless_used() -> None:
    async def scenario() -> None:
        async with serve(ws={"token_ttl_s": 0.3}) as server, aiohttp.ClientSession() as session:
            ws = await session.ws_connect(server.url)
            refused = await request(ws, "add_order", 1, **market_buy("not-a-token"))
            assert refused["success"] is False and refused["error"] == INVALID_SESSION
            used, unused = await token(session, server, 0), await token(session, server, 0)
            assert (await request(ws, "subscribe", 2, channel="executions", token=used))["success"] is True
            await asyncio.sleep(0.4)
            expired = await request(ws, "add_order", 3, **market_buy(unused))
            assert expired["error"] == INVALID_SESSION
            kept = await request(ws, "add_order", 4, **market_buy(used))  # used within its time: still good here
            assert kept["success"] is True, kept
            await ws.close()

    run(scenario)


def test_rest_and_websocket_orders_share_the_trading_counter() -> None:
    async def scenario() -> None:
        tiers = {"starter": {"trading_threshold": 3, "trading_decay_per_s": 0.01}}
        async with serve(rate_limits={"tiers": tiers}) as server, aiohttp.ClientSession() as session:
            tok = await token(session, server)
            ws = await session.ws_connect(server.url)
            for _ in range(2):
                placed = await private(session, server, "AddOrder", pair="XBTUSD", type="buy", ordertype="market",
                                       volume="0.0001")
                assert placed["error"] == []
            assert (await request(ws, "add_order", 1, **market_buy(tok)))["success"] is True
            refused = await request(ws, "add_order", 2, **market_buy(tok))
            assert refused["success"] is False and refused["error"] == TRADING_RATE_LIMIT
            rest = await private(session, server, "AddOrder", pair="XBTUSD", type="buy", ordertype="market",
                                 volume="0.0001")
            assert rest["error"] == [TRADING_RATE_LIMIT]
            assert server.sim.stats.rate_limited == 2
            await ws.close()

    run(scenario)


def test_the_dead_mans_switch_cancels_the_open_orders_when_it_fires() -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            tok = await token(session, server)
            ws = await session.ws_connect(server.url)
            await request(ws, "subscribe", 1, channel="executions", token=tok, snap_orders=False)
            sym = server.sim.market.symbols["XXBTZUSD"]
            low = float(sym.spec.price_str(sym.best_bid() // 2))
            placed = await request(ws, "add_order", 2, order_type="limit", side="buy", order_qty=0.0001,
                                   limit_price=low, symbol="BTC/USD", token=tok)
            switch = await request(ws, "cancel_all_orders_after", 3, timeout=1, token=tok)
            assert switch["success"] is True and switch["result"]["triggerTime"] > switch["result"]["currentTime"]
            assert len(server.sim.trading.accounts[KEY].open) == 1
            while True:
                message = await receive_json(ws, timeout_s=3)
                entry = (message.get("data") or [{}])[0]
                if entry.get("exec_type") == "canceled":
                    break
            assert entry["order_id"] == placed["result"]["order_id"] and entry["reason"] == "Dead man's switch"
            assert server.sim.trading.accounts[KEY].open == {}
            off = await request(ws, "cancel_all_orders_after", 4, timeout=0, token=tok)
            assert off["result"]["triggerTime"] == "0"
            await ws.close()

    run(scenario)


def test_add_order_parameters_become_add_orders() -> None:
    params = {"symbol": "BTC/USD", "side": "sell", "order_type": "limit", "order_qty": 5e-05, "limit_price": 30000.5,
              "time_in_force": "ioc", "cl_ord_id": "abc", "order_userref": 7, "validate": True, "token": "t"}
    assert rest_order_params(params) == {"pair": "BTC/USD", "type": "sell", "ordertype": "limit",
                                         "volume": "0.00005", "price": "30000.5", "cl_ord_id": "abc", "userref": "7",
                                         "timeinforce": "IOC", "validate": "true"}
