"""Mainstream Binance clients, unchanged but for their base URL, against the real simulator."""

from __future__ import annotations

import asyncio
import time

import ccxt
import pytest
from binance import AsyncClient, BinanceSocketManager, DepthCacheManager
from binance.client import Client

from exchanges.binance import simulator_credentials, simulator_ed25519_credentials
from tests.support.e2e import simulator

KEY, SECRET = simulator_credentials({})
ED25519_KEY, ED25519_PRIVATE_KEY = simulator_ed25519_credentials({})


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with simulator(tmp_path_factory.mktemp("sim")) as running:
        yield running


def python_binance(sim) -> Client:
    client = Client(KEY, SECRET, ping=False)
    client.API_URL = f"{sim.base_url}/binance/api"
    return client


def test_python_binance_market_data_and_orders(sim):
    client = python_binance(sim)
    assert abs(client.get_server_time()["serverTime"] / 1000 - time.time()) < 5
    info = client.get_exchange_info()
    assert {s["symbol"] for s in info["symbols"]} >= {"BTCUSDT", "ETHUSDT"}
    assert float(client.get_symbol_ticker(symbol="BTCUSDT")["price"]) > 0
    book = client.get_order_book(symbol="BTCUSDT", limit=10)
    assert float(book["bids"][0][0]) < float(book["asks"][0][0])
    assert len(client.get_klines(symbol="ETHUSDT", interval=Client.KLINE_INTERVAL_1MINUTE, limit=5)) == 5
    client.get_recent_trades(symbol="BTCUSDT", limit=5)
    balances = {b["asset"]: float(b["free"]) for b in client.get_account()["balances"]}
    assert balances["USDT"] > 0

    price = float(book["bids"][0][0]) * 0.9
    client.create_test_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                             quantity="0.001", price=f"{price:.2f}")
    order = client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                quantity="0.001", price=f"{price:.2f}")
    assert client.get_order(symbol="BTCUSDT", orderId=order["orderId"])["status"] == "NEW"
    assert client.cancel_order(symbol="BTCUSDT", orderId=order["orderId"])["status"] == "CANCELED"


def test_python_binance_depth_cache_stays_in_sync(sim):
    """python-binance's DepthCacheManager re-fetches the snapshot on any gap in the diff ids.

    It also re-fetches once when the first event after the snapshot straddles the snapshot's id
    (it wants U == lastUpdateId + 1 exactly, stricter than Binance's rule), so one or two
    initialisations at the start are normal; any later one would be a gap.
    """
    updates_at_init: list[int] = []
    updates = 0

    class CountingDepthCache(DepthCacheManager):
        async def _init_cache(self):
            updates_at_init.append(updates)
            return await super()._init_cache()

    async def follow() -> None:
        client = AsyncClient(KEY, SECRET)
        client.API_URL = f"{sim.base_url}/binance/api"
        sockets = BinanceSocketManager(client)
        sockets.STREAM_URL = f"{sim.base_url.replace('http', 'ws')}/binance/"
        nonlocal updates
        try:
            async with CountingDepthCache(client, "BTCUSDT", bm=sockets, limit=1000) as cache:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 4
                while loop.time() < deadline:
                    depth = await asyncio.wait_for(cache.recv(), timeout=5)
                    assert depth.get_bids()[0][0] < depth.get_asks()[0][0]
                    updates += 1
        finally:
            await client.close_connection()

    asyncio.run(follow())
    assert updates >= 3  # its default stream is the 1-second @depth
    assert updates_at_init[0] == 0 and all(n <= 1 for n in updates_at_init), updates_at_init


def test_ccxt_binance(sim):
    api = f"{sim.base_url}/binance/api"
    exchange = ccxt.binance({
        "apiKey": KEY,
        "secret": SECRET,
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False},
    })
    for name in ("public", "private", "v3"):
        exchange.urls["api"][name] = f"{api}/v3"
    exchange.urls["api"]["v1"] = f"{api}/v1"
    markets = exchange.load_markets()
    assert "BTC/USDT" in markets
    assert exchange.fetch_ticker("BTC/USDT")["last"] > 0
    book = exchange.fetch_order_book("ETH/USDT", limit=20)
    assert book["bids"][0][0] < book["asks"][0][0]
    assert exchange.fetch_trades("BTC/USDT", limit=10)
    assert len(exchange.fetch_ohlcv("BTC/USDT", "1m", limit=10)) == 10
    assert exchange.fetch_balance()["USDT"]["free"] > 0
    order = exchange.create_order("ETH/USDT", "limit", "buy", 0.01, book["bids"][0][0] * 0.9)
    assert exchange.cancel_order(order["id"], "ETH/USDT")["status"] == "canceled"


@pytest.mark.parametrize(("key", "secret"), [(KEY, SECRET), (ED25519_KEY, ED25519_PRIVATE_KEY)],
                         ids=["hmac", "ed25519"])
def test_ccxt_pro_binance_orders_over_the_websocket_api(sim, key, secret):
    """ccxt.pro's create_order_ws, cancel_order_ws, watch_orders and watch_balance on the WS API, signed with the
    demo account's HMAC key, then with its Ed25519 key (ccxt signs with Ed25519 when the secret is a PEM key)."""
    import ccxt.pro

    async def trade() -> None:
        api = f"{sim.base_url}/binance/api"
        exchange = ccxt.pro.binance({
            "apiKey": key,
            "secret": secret,
            "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False},
        })
        for name in ("public", "private", "v3"):
            exchange.urls["api"][name] = f"{api}/v3"
        exchange.urls["api"]["v1"] = f"{api}/v1"
        exchange.urls["api"]["ws"]["ws-api"]["spot"] = f"{sim.base_url.replace('http', 'ws')}/binance/ws-api/v3"
        try:
            await exchange.load_markets()
            watching = asyncio.ensure_future(exchange.watch_orders("BTC/USDT"))
            await asyncio.sleep(0.3)  # the subscription is made before the order is placed
            book = await exchange.fetch_order_book("BTC/USDT", limit=5)
            price = round(book["bids"][0][0] * 0.9, 2)
            order = await exchange.create_order_ws("BTC/USDT", "limit", "buy", 0.001, price)
            assert order["status"] == "open" and order["id"]
            seen = await asyncio.wait_for(watching, timeout=5)
            assert seen[-1]["id"] == order["id"] and seen[-1]["status"] == "open"
            balance_watch = asyncio.ensure_future(exchange.watch_balance())
            updates_watch = asyncio.ensure_future(exchange.watch_orders("BTC/USDT"))
            await asyncio.sleep(0.1)
            canceled = await exchange.cancel_order_ws(order["id"], "BTC/USDT")
            assert canceled["status"] == "canceled"
            updates = await asyncio.wait_for(updates_watch, timeout=5)
            assert updates[-1]["id"] == order["id"] and updates[-1]["status"] == "canceled"
            balance = await asyncio.wait_for(balance_watch, timeout=5)
            assert balance["USDT"]["free"] > 0
            fills_watch = asyncio.ensure_future(exchange.watch_orders("BTC/USDT"))
            await asyncio.sleep(0.1)
            market = await exchange.create_order_ws("BTC/USDT", "market", "buy", 0.001)
            filled = await asyncio.wait_for(fills_watch, timeout=5)
            assert filled[-1]["id"] == market["id"]
        finally:
            await exchange.close()

    asyncio.run(trade())
