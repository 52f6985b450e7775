"""ccxt's Bybit client (and ccxt pro's for the public stream), unchanged but for its base URLs, against the real
simulator: the start-up calls (every category's instruments, API key and account info, coins), market data,
balances, orders, and streamed books that stay equal to the simulator's."""

from __future__ import annotations

import asyncio
import time

import ccxt
import ccxt.pro
import pytest
import requests

from exchanges.bybit import simulator_credentials
from tests.support.e2e import simulator

KEY, SECRET = simulator_credentials({})
TICK_MS = 500  # a slower market, so that a REST book fetched right after a stream message is the same book


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with simulator(tmp_path_factory.mktemp("sim"), f"[bybit]\ntick_ms = {TICK_MS}\n") as running:
        time.sleep(1.0)  # let the market trade a little
        yield running


def urls(base: str) -> dict[str, str]:
    return dict.fromkeys(ccxt.bybit().urls["api"], base)


def rest_client(sim) -> ccxt.bybit:
    exchange = ccxt.bybit({"apiKey": KEY, "secret": SECRET, "enableRateLimit": False})
    exchange.urls["api"] = urls(f"{sim.base_url}/bybit")
    return exchange


def test_ccxt_loads_markets_and_reads_market_data(sim):
    exchange = rest_client(sim)
    markets = exchange.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"} == set(markets)  # spot only: other categories empty
    btc = markets["BTC/USDT"]
    assert (btc["precision"]["amount"], btc["precision"]["price"]) == (1e-06, 0.01)
    assert btc["limits"]["amount"]["min"] == 4.8e-05 and btc["limits"]["cost"]["min"] == 1.0
    assert {"BTC", "USDT"} <= set(exchange.currencies)  # from /v5/asset/coin/query-info
    assert abs(exchange.fetch_time() / 1000 - time.time()) < 5
    ticker = exchange.fetch_ticker("BTC/USDT")
    assert ticker["bid"] < ticker["ask"] and ticker["last"] > 0 and ticker["baseVolume"] > 0
    book = exchange.fetch_order_book("ETH/USDT", 50)
    assert book["bids"][0][0] < book["asks"][0][0] and len(book["bids"]) == 50
    trades = exchange.fetch_trades("BTC/USDT", limit=20)
    assert len(trades) == 20 and {t["side"] for t in trades} <= {"buy", "sell"}
    candles = exchange.fetch_ohlcv("BTC/USDT", "5m", limit=12)
    assert len(candles) == 12 and all(low <= high for _, _, high, low, _, _ in candles)
    assert [c[0] for c in candles] == sorted(c[0] for c in candles)


def test_ccxt_balances_and_orders(sim):
    exchange = rest_client(sim)
    exchange.load_markets()
    assert exchange.fetch_balance()["USDT"]["free"] == 100_000.0
    bid = exchange.fetch_ticker("BTC/USDT")["bid"]
    order = exchange.create_order("BTC/USDT", "limit", "buy", 0.001, round(bid * 0.9, 2))
    assert exchange.fetch_open_order(order["id"], "BTC/USDT")["status"] == "open"
    assert exchange.fetch_order(order["id"], "BTC/USDT", {"acknowledged": True})["status"] == "open"
    assert [o["id"] for o in exchange.fetch_open_orders("BTC/USDT")] == [order["id"]]
    assert exchange.fetch_balance()["USDT"]["used"] == pytest.approx(round(bid * 0.9, 2) * 0.001)
    exchange.cancel_order(order["id"], "BTC/USDT")
    assert exchange.fetch_open_orders("BTC/USDT") == []
    assert [o["id"] for o in exchange.fetch_canceled_orders("BTC/USDT")] == [order["id"]]
    market = exchange.create_order("ETH/USDT", "market", "sell", 0.01)
    closed = exchange.fetch_closed_order(market["id"], "ETH/USDT")
    assert closed["status"] == "closed" and closed["filled"] == 0.01
    assert exchange.fetch_balance()["ETH"]["total"] == pytest.approx(9.99)


def test_ccxt_pro_keeps_books_in_sync_and_watches_trades(sim):
    base = f"{sim.base_url}/bybit"

    def rest_book(limit: int) -> tuple[list[list[float]], list[list[float]]]:
        answer = requests.get(f"{base}/v5/market/orderbook", params={"category": "spot", "symbol": "BTCUSDT",
                                                                      "limit": limit}, timeout=5).json()["result"]
        return ([[float(p), float(q)] for p, q in answer["b"]], [[float(p), float(q)] for p, q in answer["a"]])

    async def watch() -> int:
        exchange = ccxt.pro.bybit({"apiKey": KEY, "secret": SECRET})
        stream = base.replace("http", "ws") + "/v5/public/spot"
        exchange.urls["api"] = {**urls(base), "ws": {"public": {"spot": stream}}}
        equal = 0
        try:
            for _ in range(12):
                book = await asyncio.wait_for(exchange.watch_order_book("BTC/USDT", 50), 10)
                bids, asks = await asyncio.to_thread(rest_book, 50)
                assert len(book["bids"]) == len(book["asks"]) == 50
                equal += (book["bids"][:50], book["asks"][:50]) == (bids, asks)
            trades = await asyncio.wait_for(exchange.watch_trades("BTC/USDT"), 10)
            assert trades and trades[-1]["price"] > 0 and trades[-1]["symbol"] == "BTC/USDT"
        finally:
            await exchange.close()
        return equal

    # Each streamed book equals the simulator's, unless the market ticked between the message and the REST call.
    assert asyncio.run(watch()) >= 9
