"""The simulated Coinbase feed's authenticated `user` channel: the profile's own orders as the full channel's
received / open / match / done messages, only to the connections subscribed for that profile."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import aiohttp

from exchanges.coinbase import feed_auth_fields, sign_request, simulator_credentials
from tests.support.ws_client import messages_within, receive_json, run
from tests.test_sim_coinbase_ws import Server, serve, subscribe

PROFILE = simulator_credentials({})


async def place(session: aiohttp.ClientSession, server: Server, order: dict[str, str]) -> dict[str, Any]:
    signed = sign_request(PROFILE.api_key, PROFILE.api_secret, PROFILE.passphrase, "POST", "/orders",
                          {"product_id": "BTC-USD", **order}, int(time.time() * 1000))
    async with session.post(f"{server.api}/orders", data=signed.body, headers=signed.headers) as answer:
        assert answer.status == 200, await answer.text()
        return await answer.json()


async def cancel(session: aiohttp.ClientSession, server: Server, order_id: str) -> None:
    path = f"/orders/{order_id}"
    signed = sign_request(PROFILE.api_key, PROFILE.api_secret, PROFILE.passphrase, "DELETE", path, {},
                          int(time.time() * 1000))
    async with session.delete(f"{server.api}{path}", headers=signed.headers) as answer:
        assert answer.status == 200, await answer.text()


def test_the_user_channel_reports_the_profiles_orders_to_its_subscribers_only() -> None:
    async def scenario() -> None:
        async with serve() as server, aiohttp.ClientSession() as session, \
                session.ws_connect(server.feed) as mine, session.ws_connect(server.feed) as anonymous:
            auth = feed_auth_fields(PROFILE.api_key, PROFILE.api_secret, PROFILE.passphrase, int(time.time() * 1000))
            await anonymous.send_json(subscribe(["BTC-USD"], ["user"]))
            assert "require authentication" in (await receive_json(anonymous))["reason"]
            await mine.send_json({**subscribe(["BTC-USD"], ["user"]), **auth})
            assert (await receive_json(mine))["channels"] == [{"name": "user", "product_ids": ["BTC-USD"]}]
            sym = server.sim.market.symbols["BTC-USD"]
            away = Decimal(sym.spec.price_str(sym.best_bid() or 0)) * Decimal("0.9")
            resting_oid, market_oid = str(uuid.uuid4()), str(uuid.uuid4())
            resting = await place(session, server, {"type": "limit", "side": "buy", "price": f"{away:.2f}",
                                                    "size": "0.001", "post_only": "true", "client_oid": resting_oid})
            taker = await place(session, server, {"type": "market", "side": "sell", "size": "0.001",
                                                  "client_oid": market_oid})
            await cancel(session, server, resting["id"])
            messages = [m for m in await messages_within(mine, 0.5) if m.get("type") != "heartbeat"]
            for message in messages:
                assert message["profile_id"] == server.sim.trading.profiles[PROFILE.api_key].id
                assert message["user_id"] and message["product_id"] == "BTC-USD"
            by_order: dict[str, list[str]] = {}
            for m in messages:
                ours = m.get("order_id") or (m["taker_order_id"] if "taker_user_id" in m else m["maker_order_id"])
                by_order.setdefault(ours, []).append(m["type"])
            assert by_order[resting["id"]] == ["received", "open", "done"]
            assert by_order[taker["id"]][0] == "received" and by_order[taker["id"]][-1] == "done"
            assert "match" in by_order[taker["id"]]
            received = {m["order_id"]: m for m in messages if m["type"] == "received"}
            assert received[resting["id"]]["client_oid"] == resting_oid
            assert received[taker["id"]]["client_oid"] == market_oid
            assert received[resting["id"]]["order_type"] == "limit" and received[resting["id"]]["size"] == "0.00100000"
            done = {m["order_id"]: m for m in messages if m["type"] == "done"}
            assert done[resting["id"]]["reason"] == "canceled" and done[taker["id"]]["reason"] == "filled"
            sequences = [m["sequence"] for m in messages]
            assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
            # the simulator's count of what it pushed, per type
            pushed = {k: v for k, v in server.sim.stats.ws.items() if k.startswith("user ")}
            counted: dict[str, int] = {}
            for m in messages:
                counted[f"user {m['type']}"] = counted.get(f"user {m['type']}", 0) + 1
            assert pushed == counted
            assert not [m for m in await messages_within(anonymous, 0.2) if m.get("type") != "heartbeat"]

    run(scenario)
