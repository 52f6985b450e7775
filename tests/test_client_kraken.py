"""A mainstream Kraken client, ccxt's `kraken`, unchanged but for its base URL, against the real simulator."""

from __future__ import annotations

import time

import ccxt
import pytest

from exchanges.kraken import simulator_credentials
from tests.support.e2e import simulator

KEY, SECRET = simulator_credentials({})
# ccxt's own pacing (1 call/s for Kraken) off: the simulator's public limit is raised instead.
GENEROUS = "[kraken.rate_limits.public]\nmax_counter = 100000.0\n"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with simulator(tmp_path_factory.mktemp("sim"), GENEROUS) as running:
        exchange = client(running)
        deadline = time.monotonic() + 10
        while not exchange.publicGetTrades({"pair": "XBTUSD", "count": 20})["result"]["XXBTZUSD"]:
            assert time.monotonic() < deadline, "the simulated market did not trade"
            time.sleep(0.1)
        yield running


def client(sim) -> ccxt.kraken:
    exchange = ccxt.kraken({"apiKey": KEY, "secret": SECRET, "enableRateLimit": False})
    base = f"{sim.base_url}/kraken"
    exchange.urls["api"] = {**exchange.urls["api"], "public": base, "private": base}
    return exchange


def test_ccxt_loads_markets_and_currencies_from_asset_pairs_and_assets(sim):
    exchange = client(sim)
    markets = exchange.load_markets()
    assert {"BTC/USD", "ETH/USD", "SOL/USD", "DOGE/USD", "ETH/BTC"} <= set(markets)
    btc = markets["BTC/USD"]
    assert (btc["id"], btc["base"], btc["quote"], btc["altname"]) == ("XXBTZUSD", "BTC", "USD", "XBTUSD")
    assert btc["precision"]["price"] == 0.1 and btc["limits"]["amount"]["min"] == 0.00005 and btc["active"]
    assert markets["DOGE/USD"]["baseId"] == "DOGE"  # XXDG, through ccxt's own common-currency table
    assert {"BTC", "ETH", "USD", "DOGE", "SOL"} <= set(exchange.currencies)
    assert exchange.currencies["BTC"]["precision"] == 1e-10


def test_ccxt_market_data(sim):
    exchange = client(sim)
    assert abs(exchange.fetch_time() / 1000 - time.time()) < 5
    ticker = exchange.fetch_ticker("BTC/USD")
    assert 0 < ticker["bid"] < ticker["ask"] and ticker["last"] > 0 and ticker["baseVolume"] > 0
    assert ticker["high"] >= ticker["low"] > 0 and ticker["vwap"] > 0
    book = exchange.fetch_order_book("ETH/USD", limit=10)
    assert len(book["bids"]) == len(book["asks"]) == 10
    assert book["bids"][0][0] < book["asks"][0][0] and book["bids"][0][2] > 1_000_000_000  # level timestamps
    trades = exchange.fetch_trades("BTC/USD", limit=20)
    assert trades and all(t["side"] in ("buy", "sell") and t["price"] > 0 and t["amount"] > 0 for t in trades)
    assert trades[-1]["timestamp"] / 1000 == pytest.approx(time.time(), abs=60)
    candles = exchange.fetch_ohlcv("BTC/USD", "1m", limit=5)
    assert len(candles) == 5
    assert all(len(c) == 6 and c[2] >= max(c[1], c[4]) and c[3] <= min(c[1], c[4]) for c in candles)
    assert candles[-1][0] - candles[-2][0] == 60_000
    hourly = exchange.fetch_ohlcv("SOL/USD", "1h", since=int(time.time() * 1000) - 5 * 3_600_000)
    assert 4 <= len(hourly) <= 6


def test_ccxt_private_calls(sim):
    exchange = client(sim)
    balance = exchange.fetch_balance()
    assert balance["USD"]["total"] == 100_000 and balance["BTC"]["total"] == 1
    price = exchange.fetch_ticker("BTC/USD")["bid"] * 0.9
    checked = exchange.create_order("BTC/USD", "limit", "buy", 0.001, price, {"validate": True})
    assert checked["id"] is None  # validated only: Kraken gives no txid
    assert exchange.fetch_open_orders("BTC/USD") == []
    order = exchange.create_order("BTC/USD", "limit", "buy", 0.001, price)
    assert order["id"].startswith("O")
    (listed,) = exchange.fetch_open_orders("BTC/USD")
    assert listed["id"] == order["id"] and listed["amount"] == 0.001 and listed["status"] == "open"
    exchange.cancel_order(order["id"])
    assert exchange.fetch_open_orders("BTC/USD") == []
    with pytest.raises(ccxt.InvalidOrder):
        exchange.cancel_order(order["id"])  # EOrder:Unknown order
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("BTC/USD", "limit", "buy", 100, price)


def test_ccxt_pro_kraken_orders_over_websocket_v2(sim):
    """ccxt.pro's create_order_ws and watch_orders on the authenticated v2 endpoint (token from GetWebSocketsToken)."""
    import asyncio

    import ccxt.pro

    async def trade() -> None:
        exchange = ccxt.pro.kraken({"apiKey": KEY, "secret": SECRET, "enableRateLimit": False})
        base = f"{sim.base_url}/kraken"
        ws_auth = f"{sim.base_url.replace('http', 'ws')}/kraken/ws-auth/v2"
        exchange.urls["api"] = {**exchange.urls["api"], "public": base, "private": base}
        exchange.urls["api"]["ws"] = {**exchange.urls["api"]["ws"], "private": ws_auth, "privateV2": ws_auth}
        try:
            await exchange.load_markets()
            watching = asyncio.ensure_future(exchange.watch_orders())
            await asyncio.sleep(0.3)  # the subscription is made before the order is placed
            book = await exchange.fetch_order_book("BTC/USD", limit=5)
            price = round(book["bids"][0][0] * 0.9, 1)
            order = await exchange.create_order_ws("BTC/USD", "limit", "buy", 0.001, price)
            assert order["id"].startswith("O")
            seen = await asyncio.wait_for(watching, timeout=5)
            assert seen[-1]["id"] == order["id"] and seen[-1]["symbol"] == "BTC/USD"
            assert seen[-1]["status"] in ("open", None)  # pending_new, then new
            open_orders = await exchange.fetch_open_orders("BTC/USD")
            assert [o["id"] for o in open_orders] == [order["id"]]
            updates_watch = asyncio.ensure_future(exchange.watch_orders())
            await asyncio.sleep(0.1)
            await exchange.cancel_order(order["id"])  # over REST: the channel reports it all the same
            updates = await asyncio.wait_for(updates_watch, timeout=5)
            assert updates[-1]["id"] == order["id"] and updates[-1]["status"] == "canceled"
            fills_watch = asyncio.ensure_future(exchange.watch_orders())
            await asyncio.sleep(0.1)
            market = await exchange.create_order_ws("BTC/USD", "market", "buy", 0.001)
            filled = await asyncio.wait_for(fills_watch, timeout=5)
            assert filled[-1]["id"] == market["id"]
        finally:
            await exchange.close()

    asyncio.run(trade())
