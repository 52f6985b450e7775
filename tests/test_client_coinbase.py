"""ccxt's Coinbase Exchange client (`coinbaseexchange`, and ccxt pro's for the feed), unchanged but for its
base URLs, against the real simulator: reference data at start-up, market data, balances, orders, streams."""

from __future__ import annotations

import asyncio
import time

import ccxt
import ccxt.pro
import pytest

from exchanges.coinbase import simulator_credentials
from tests.support.e2e import simulator

PROFILE = simulator_credentials({})


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with simulator(tmp_path_factory.mktemp("sim")) as running:
        time.sleep(0.5)  # let the market trade a little
        yield running


def credentials() -> dict[str, str]:
    return {"apiKey": PROFILE.api_key, "secret": PROFILE.api_secret, "password": PROFILE.passphrase}


def rest_client(sim) -> ccxt.coinbaseexchange:
    exchange = ccxt.coinbaseexchange(credentials())
    base = f"{sim.base_url}/coinbase"
    exchange.urls["api"] = {"public": base, "private": base}
    return exchange


def test_ccxt_loads_markets_and_currencies_and_reads_market_data(sim):
    exchange = rest_client(sim)
    markets = exchange.load_markets()
    assert {"BTC/USD", "ETH/USD", "ETH/BTC"} <= set(markets)
    precision = markets["BTC/USD"]["precision"]
    assert (precision["amount"], precision["price"]) == (1e-08, 0.01)
    assert {"USD", "BTC", "ETH"} <= set(exchange.currencies) and exchange.currencies["USD"]["type"] == "fiat"
    assert abs(exchange.fetch_time() / 1000 - time.time()) < 5
    ticker = exchange.fetch_ticker("BTC/USD")
    assert ticker["bid"] < ticker["ask"] and ticker["last"] > 0 and ticker["baseVolume"] > 0
    book = exchange.fetch_order_book("ETH/USD")
    assert book["bids"][0][0] < book["asks"][0][0] and book["nonce"] > 0 and len(book["bids"]) > 50
    trades = exchange.fetch_trades("BTC/USD", limit=20)
    assert len(trades) == 20 and {t["side"] for t in trades} <= {"buy", "sell"}
    candles = exchange.fetch_ohlcv("BTC/USD", "5m", limit=12)
    assert len(candles) == 12 and all(low <= high for _, _, high, low, _, _ in candles)
    since = (int(time.time()) - 7200) // 60 * 60 * 1000
    hour = exchange.fetch_ohlcv("ETH/USD", "1m", since=since, limit=60)
    assert [c[0] for c in hour] == list(range(since, since + 60 * 60_000, 60_000))


def test_ccxt_balances_and_orders(sim):
    exchange = rest_client(sim)
    exchange.load_markets()
    assert exchange.fetch_balance()["USD"]["free"] > 0
    bid = exchange.fetch_ticker("BTC/USD")["bid"]
    order = exchange.create_order("BTC/USD", "limit", "buy", 0.001, round(bid * 0.9, 2), {"postOnly": True})
    assert exchange.fetch_order(order["id"])["status"] == "open"
    assert [o["id"] for o in exchange.fetch_open_orders("BTC/USD")] == [order["id"]]
    exchange.cancel_order(order["id"], "BTC/USD")
    assert exchange.fetch_open_orders("BTC/USD") == []
    market = exchange.create_order("ETH/USD", "market", "buy", 0.01)
    assert exchange.fetch_order(market["id"])["status"] == "closed"
    assert sum(t["amount"] for t in exchange.fetch_my_trades("ETH/USD") if t["order"] == market["id"]) == 0.01


def test_ccxt_pro_watches_the_feed(sim):
    async def watch() -> None:
        exchange = ccxt.pro.coinbaseexchange(credentials())
        base = f"{sim.base_url}/coinbase"
        exchange.urls["api"] = {"public": base, "private": base, "ws": f"{base.replace('http', 'ws')}/ws-feed"}
        try:
            book = await asyncio.wait_for(exchange.watch_order_book("BTC/USD"), 10)  # level2: authenticated
            assert book["bids"][0][0] < book["asks"][0][0]
            for _ in range(3):
                book = await asyncio.wait_for(exchange.watch_order_book("BTC/USD"), 10)
                assert book["bids"][0][0] < book["asks"][0][0]
            trades = await asyncio.wait_for(exchange.watch_trades("BTC/USD"), 10)
            assert trades and trades[-1]["price"] > 0
            ticker = await asyncio.wait_for(exchange.watch_ticker("ETH/USD"), 10)
            assert ticker["bid"] < ticker["ask"]
        finally:
            await exchange.close()

    asyncio.run(watch())


def test_ccxt_pro_watches_the_profiles_orders_and_trades_on_the_user_channel(sim):
    async def watch() -> None:
        exchange = ccxt.pro.coinbaseexchange(credentials())
        base = f"{sim.base_url}/coinbase"
        exchange.urls["api"] = {"public": base, "private": base, "ws": f"{base.replace('http', 'ws')}/ws-feed"}
        try:
            await exchange.load_markets()
            orders_seen = asyncio.ensure_future(exchange.watch_orders("BTC/USD"))
            trades_seen = asyncio.ensure_future(exchange.watch_my_trades("ETH/USD"))
            await asyncio.sleep(1)  # both subscriptions acknowledged
            bid = (await exchange.fetch_ticker("BTC/USD"))["bid"]
            order = await exchange.create_order("BTC/USD", "limit", "buy", 0.001, round(bid * 0.9, 2),
                                                {"postOnly": True})
            orders = await asyncio.wait_for(orders_seen, 10)
            assert [(o["id"], o["status"], o["amount"]) for o in orders] == [(order["id"], "open", 0.001)]
            market = await exchange.create_order("ETH/USD", "market", "buy", 0.01)
            trades = await asyncio.wait_for(trades_seen, 10)
            assert trades and {t["order"] for t in trades} == {market["id"]} and trades[0]["side"] == "buy"
            await exchange.cancel_order(order["id"], "BTC/USD")
            orders = await asyncio.wait_for(exchange.watch_orders("BTC/USD"), 10)
            assert [(o["id"], o["status"]) for o in orders][-1] == (order["id"], "canceled")
        finally:
            await exchange.close()

    asyncio.run(watch())
