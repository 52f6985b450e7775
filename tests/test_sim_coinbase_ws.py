"""The simulated Coinbase feed: subscribe deadline, acknowledgements, channel messages, per-product ordering,
a local level2 book that matches the market, errors, limits and faults.

Each test serves the whole simulator app on a free port in its own event loop (so it can look at the
market); limits are made small through the simulator's config.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from exchanges.coinbase import (
    WS_LIMITS,
    FeedMonitor,
    decode_feed_message,
    feed_auth_fields,
    sign_request,
    simulator_credentials,
)
from simulator.coinbase.sim import CoinbaseSim
from simulator.market import BUY, SELL
from tests.support.ws_client import messages_within, receive_json, run, serve_simulator

ALL_CHANNELS = ["heartbeat", "ticker", "level2_batch", "matches"]


@dataclass
class Server:
    sim: CoinbaseSim
    app: web.Application
    feed: str  # ws://127.0.0.1:<port>/coinbase/ws-feed
    api: str  # http://127.0.0.1:<port>/coinbase


@contextlib.asynccontextmanager
async def serve(**coinbase: Any) -> AsyncIterator[Server]:
    async with serve_simulator({"coinbase": coinbase}) as served:
        yield Server(served.sim(CoinbaseSim), served.app, served.url("ws", "/coinbase/ws-feed"),
                     served.url("http", "/coinbase"))


def subscribe(products: list[str], channels: list[Any], kind: str = "subscribe") -> dict[str, Any]:
    return {"type": kind, "product_ids": products, "channels": channels}


# --- messages --------------------------------------------------------------------------------------

EXPECTED_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "heartbeat": {"type": str, "sequence": int, "last_trade_id": int, "product_id": str, "time": str},
    "ticker": {"type": str, "sequence": int, "product_id": str, "price": str, "open_24h": str, "volume_24h": str,
               "low_24h": str, "high_24h": str, "volume_30d": str, "best_bid": str, "best_bid_size": str,
               "best_ask": str, "best_ask_size": str, "side": str, "time": str, "trade_id": int, "last_size": str},
    "match": {"type": str, "trade_id": int, "maker_order_id": str, "taker_order_id": str, "side": str, "size": str,
              "price": str, "product_id": str, "sequence": int, "time": str},
    "snapshot": {"type": str, "product_id": str, "bids": list, "asks": list},
    "l2update": {"type": str, "product_id": str, "changes": list, "time": str},
}
EXPECTED_KEYS["last_match"] = EXPECTED_KEYS["match"]


def test_subscription_ack_then_every_channel_in_order() -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session, session.ws_connect(server.feed) as ws:
            await asyncio.sleep(0.3)  # let the market trade first, so last_match and the ticker exist
            await ws.send_json(subscribe(["BTC-USD"], ALL_CHANNELS))
            ack = await receive_json(ws)
            assert ack == {"type": "subscriptions",
                           "channels": [{"name": c, "product_ids": ["BTC-USD"]} for c in ALL_CHANNELS]}
            messages = await messages_within(ws, 2.5)
            kinds = [m["type"] for m in messages]
            assert kinds[:3] == ["ticker", "snapshot", "last_match"]  # greetings, in the order subscribed
            assert {"heartbeat", "ticker", "l2update", "match"} <= set(kinds)
            assert kinds.count("heartbeat") >= 2
            for m in messages:
                expected = EXPECTED_KEYS[m["type"]]
                assert set(m) == set(expected), m["type"]
                assert all(isinstance(m[k], t) for k, t in expected.items()), m
                assert m["product_id"] == "BTC-USD"
            monitor = FeedMonitor()
            assert [monitor.check(decode_feed_message(json.dumps(m))) for m in messages] == [None] * len(messages)
            sequences = [m["sequence"] for m in messages if m["type"] == "match"]
            assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
            trade_ids = [m["trade_id"] for m in messages if m["type"] in ("last_match", "match")]
            assert trade_ids == list(range(trade_ids[0], trade_ids[0] + len(trade_ids)))
            heartbeat = next(m for m in reversed(messages) if m["type"] == "heartbeat")
            assert heartbeat["last_trade_id"] <= trade_ids[-1]

    run(scenario)


def test_a_local_book_from_snapshot_and_updates_matches_the_market_with_rest_orders_between_ticks() -> None:
    """REST orders rest, take and cancel between market ticks; their book changes and trades reach the feed."""
    profile = simulator_credentials({})

    async def trade(session: aiohttp.ClientSession, server: Server, stop: asyncio.Event) -> int:
        sym = server.sim.market.symbols["ETH-USD"]
        placed = 0
        while not stop.is_set():
            bid = Decimal(sym.spec.price_str(sym.best_bid() or 0))
            for order in ({"type": "limit", "side": "buy", "price": str(bid), "size": "0.3"},
                          {"type": "market", "side": "sell", "size": "0.2"}):
                signed = sign_request(profile.api_key, profile.api_secret, profile.passphrase, "POST", "/orders",
                                      {"product_id": "ETH-USD", **order}, int(time.time() * 1000))
                async with session.post(f"{server.api}/orders", data=signed.body, headers=signed.headers) as answer:
                    assert answer.status == 200, await answer.text()
                    placed += 1
            await asyncio.sleep(0.03)
        return placed

    async def scenario() -> None:
        private = {"private": {"rate_per_s": 1000, "burst": 1000}}
        async with serve(rate_limits=private) as server, aiohttp.ClientSession() as session, \
                session.ws_connect(server.feed) as ws:
            await ws.send_json(subscribe(["ETH-USD"], ["level2_batch", "matches"]))
            bids: dict[str, str] = {}
            asks: dict[str, str] = {}
            monitor = FeedMonitor()

            def apply(msg: dict[str, Any]) -> None:
                found = decode_feed_message(json.dumps(msg)) if msg["type"] != "subscriptions" else None
                assert found is None or monitor.check(found) is None, msg
                if msg["type"] == "snapshot":
                    bids.clear()
                    asks.clear()
                    bids.update(msg["bids"])
                    asks.update(msg["asks"])
                elif msg["type"] == "l2update":
                    for side, price, size in msg["changes"]:
                        levels = bids if side == "buy" else asks
                        if Decimal(size) == 0:
                            levels.pop(price, None)
                        else:
                            levels[price] = size

            stop = asyncio.Event()
            trader = asyncio.create_task(trade(session, server, stop))
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                apply(await receive_json(ws))
            stop.set()
            assert await trader > 20
            for msg in await messages_within(ws, 0.25):  # the next ticks publish what the last orders changed
                apply(msg)
            server.sim.tick = lambda: None  # then freeze the market and read what is still on its way
            for msg in await messages_within(ws, 0.5):
                apply(msg)
            sym = server.sim.market.symbols["ETH-USD"]
            spec = sym.spec
            assert bids == {spec.price_str(p): spec.qty_str(q) for p, q in sym.top(BUY, len(sym.bids))}
            assert asks == {spec.price_str(p): spec.qty_str(q) for p, q in sym.top(SELL, len(sym.asks))}

    run(scenario)


def test_unsubscribe_and_acknowledgements() -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session, session.ws_connect(server.feed) as ws:
            await ws.send_json({"type": "subscribe", "channels": [
                {"name": "heartbeat", "product_ids": ["BTC-USD", "ETH-USD"]},
                {"name": "matches", "product_ids": ["ETH-USD"]},
            ]})
            assert (await receive_json(ws))["channels"] == [
                {"name": "heartbeat", "product_ids": ["BTC-USD", "ETH-USD"]},
                {"name": "matches", "product_ids": ["ETH-USD"]},
            ]
            await ws.send_json({"type": "unsubscribe", "channels": ["matches"]})  # a channel without products: all
            ack = next(m for m in await messages_within(ws, 0.5) if m["type"] == "subscriptions")
            assert ack["channels"] == [{"name": "heartbeat", "product_ids": ["BTC-USD", "ETH-USD"]}]
            later = await messages_within(ws, 1.2)
            assert later and {m["type"] for m in later} == {"heartbeat"}
            assert server.sim.stats.ws["subscriptions"] == 3

    run(scenario)


def test_a_client_that_does_not_subscribe_in_time_is_closed() -> None:
    async def scenario() -> None:
        limits = asdict(replace(WS_LIMITS, subscribe_deadline_s=0.3))
        async with serve(ws=limits) as server, aiohttp.ClientSession() as session:
            silent = await session.ws_connect(server.feed)
            subscribed = await session.ws_connect(server.feed)
            await subscribed.send_json(subscribe(["BTC-USD"], ["heartbeat"]))
            started = time.monotonic()
            closing = await silent.receive(timeout=3)
            assert closing.type is WSMsgType.CLOSE and closing.data == 1008
            assert time.monotonic() - started < 1.0
            assert server.sim.stats.ws["subscribe_timeouts"] == 1
            kinds = {m["type"] for m in await messages_within(subscribed, 1.2)}
            assert kinds == {"subscriptions", "heartbeat"}  # still open well past the deadline
            await subscribed.close()

    run(scenario)


@pytest.mark.parametrize(
    ("request_text", "error"),
    [
        ("{not json", {"type": "error", "message": "Malformed JSON"}),
        ('{"type": "listen"}', {"type": "error", "message": "Failed to subscribe",
                                "reason": "Type has to be either subscribe or unsubscribe"}),
        (json.dumps(subscribe(["BTC-USD"], [])), {"type": "error", "message": "Failed to subscribe",
                                                  "reason": "No channels provided"}),
        (json.dumps(subscribe(["BTC-USD"], ["candles"])), {"type": "error", "message": "Failed to subscribe",
                                                           "reason": "candles is not a valid channel"}),
        (json.dumps(subscribe(["BTC-EUR"], ["ticker"])), {"type": "error", "message": "Failed to subscribe",
                                                          "reason": "BTC-EUR is not a valid product"}),
        (json.dumps(subscribe([], ["ticker"])), {"type": "error", "message": "Failed to subscribe",
                                                 "reason": "No product ids provided for ticker"}),
    ],
)
def test_bad_requests_get_error_messages_and_the_connection_stays(request_text: str, error: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session, session.ws_connect(server.feed) as ws:
            await ws.send_str(request_text)
            assert await receive_json(ws) == error
            await ws.send_json(subscribe(["BTC-USD"], ["heartbeat"]))
            assert (await receive_json(ws))["type"] == "subscriptions"
            assert server.sim.stats.ws["control_errors"] == 1

    run(scenario)


def test_authenticated_channels_are_refused() -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session, session.ws_connect(server.feed) as ws:
            await ws.send_json(subscribe(["BTC-USD"], ["heartbeat", "level2"]))
            error = await receive_json(ws)
            assert error["message"] == "Failed to subscribe" and "require authentication" in error["reason"]
            assert not server.sim.stats.ws["subscriptions"]  # nothing of a refused subscribe is subscribed

    run(scenario)


def test_an_authenticated_subscription_gets_level2() -> None:
    profile = simulator_credentials({})

    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session, session.ws_connect(server.feed) as ws:
            auth = feed_auth_fields(profile.api_key, profile.api_secret, profile.passphrase, int(time.time() * 1000))
            await ws.send_json({**subscribe(["ETH-USD"], ["level2"]), **auth, "signature": "AAAA"})
            assert await receive_json(ws) == {"type": "error", "message": "Authentication Failed",
                                              "reason": '{"message":"invalid signature"}'}
            await ws.send_json({**subscribe(["ETH-USD"], ["level2"]), **auth, "passphrase": "\ud800"})
            assert (await receive_json(ws))["reason"] == '{"message":"Invalid Passphrase"}'
            await ws.send_json({**subscribe(["ETH-USD"], ["level3"]), **auth})
            assert (await receive_json(ws))["reason"] == "level3 is not served by the simulator"
            await ws.send_json({**subscribe(["ETH-USD"], ["level2"]), **auth})
            assert (await receive_json(ws))["channels"] == [{"name": "level2", "product_ids": ["ETH-USD"]}]
            kinds = [m["type"] for m in await messages_within(ws, 0.5)]
            assert kinds[0] == "snapshot" and "l2update" in kinds

    run(scenario)


def test_subscription_cap_per_profile_and_connection_rate_limit() -> None:
    limits = asdict(replace(WS_LIMITS, subscriptions_per_product_channel=2, connection_burst=5, connections_per_s=0.01))
    profile = simulator_credentials({})

    def signed(message: dict[str, Any]) -> dict[str, Any]:
        auth = feed_auth_fields(profile.api_key, profile.api_secret, profile.passphrase, int(time.time() * 1000))
        return {**message, **auth}

    async def scenario() -> None:
        async with serve(ws=limits) as server, aiohttp.ClientSession() as session:
            first, second, third, anonymous = [await session.ws_connect(server.feed) for _ in range(4)]
            for ws in (first, second):
                await ws.send_json(signed(subscribe(["BTC-USD"], ["matches"])))
                assert (await receive_json(ws))["type"] == "subscriptions"
            await third.send_json(signed(subscribe(["BTC-USD"], ["matches", "heartbeat"])))
            refused = await receive_json(third)
            assert refused["reason"] == "at most 2 subscriptions to matches for BTC-USD are allowed"
            assert server.sim.stats.ws["rejected_subscriptions"] == 1
            await anonymous.send_json(subscribe(["BTC-USD"], ["matches"]))  # no account: no cap
            assert (await receive_json(anonymous))["type"] == "subscriptions"
            await first.close()  # frees one of the profile's subscriptions
            await asyncio.sleep(0.1)
            await third.send_json(signed(subscribe(["BTC-USD"], ["matches"])))
            assert (await receive_json(third))["type"] == "subscriptions"
            await session.ws_connect(server.feed)  # the 5th connection request: the burst is used up ...
            with pytest.raises(aiohttp.WSServerHandshakeError) as rejected:
                await session.ws_connect(server.feed)
            assert rejected.value.status == 429
            assert server.sim.stats.ws["rejected_attempts"] == 1

    run(scenario)


def test_too_many_client_messages_close_the_connection() -> None:
    limits = asdict(replace(WS_LIMITS, messages_per_s=3))

    async def scenario() -> None:
        async with serve(ws=limits) as server, aiohttp.ClientSession() as session, \
                session.ws_connect(server.feed) as ws:
            for _ in range(7):  # some second gets at least 4 of them
                await ws.send_json(subscribe(["BTC-USD"], ["heartbeat"]))
            messages = []
            while (msg := await ws.receive(timeout=3)).type is WSMsgType.TEXT:
                messages.append(json.loads(msg.data))
            assert messages[-1] == {"type": "error", "message": "Too many requests",
                                    "reason": "more than 3 messages per second from this IP"}
            assert msg.type is WSMsgType.CLOSE and msg.data == 1008
            assert server.sim.stats.ws["disconnects_msg_rate"] == 1

    run(scenario)


def test_injected_drops_cut_connections_without_a_close_frame() -> None:
    async def scenario() -> None:
        async with serve(faults={"ws_drop_per_min": 600.0}) as server, aiohttp.ClientSession() as session:
            ws = await session.ws_connect(server.feed)
            await ws.send_json(subscribe(["BTC-USD"], ["heartbeat"]))
            deadline = time.monotonic() + 5
            while not ws.closed and time.monotonic() < deadline:
                msg = await ws.receive(timeout=5)
                if msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
            assert server.sim.stats.faults["ws_drop"] >= 1
            assert ws.close_code != 1000

    run(scenario)


def test_every_subscriber_gets_the_same_frames() -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            readers = [await session.ws_connect(server.feed) for _ in range(5)]
            for ws in readers:
                await ws.send_json(subscribe(["DOGE-USD"], ["matches", "heartbeat"]))
                await receive_json(ws)
            await asyncio.sleep(0.05)
            received = await asyncio.gather(*(messages_within(ws, 1.5) for ws in readers))
            live = [[m for m in r if m["type"] in ("match", "heartbeat")] for r in received]
            shortest = min(len(r) for r in live)
            assert shortest > 5 and all(r[: shortest - 2] == live[0][: shortest - 2] for r in live)

    run(scenario)
