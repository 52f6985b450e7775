"""ccxt's `okx` (and ccxt pro's for the public WebSocket), unchanged but for its base URLs, against the real
simulator: markets (every instrument type ccxt asks for), currencies, market data, balances, orders, streams."""

from __future__ import annotations

import asyncio
import time

import ccxt
import ccxt.pro
import pytest

from exchanges.okx import simulator_credentials
from tests.support.e2e import simulator

DEMO = simulator_credentials({})
# ccxt's own pacing off and the endpoints' limits raised: the client's calls are not what is tested here.
GENEROUS = "\n".join(
    f'[okx.endpoint_limits."{name}"]\nlimit = 100000\n'
    for name in ("instruments", "ticker", "books", "trades", "candles", "history-candles", "time", "currencies",
                 "balance", "order", "order GET", "cancel-order", "orders-pending")
) + "[okx.ws]\nconnections_per_s = 100\n"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with simulator(tmp_path_factory.mktemp("sim"), GENEROUS) as running:
        time.sleep(0.5)  # let the market trade a little
        yield running


def credentials() -> dict[str, object]:
    return {"apiKey": DEMO.api_key, "secret": DEMO.api_secret, "password": DEMO.passphrase, "enableRateLimit": False}


def rest_client(sim) -> ccxt.okx:
    exchange = ccxt.okx(credentials())
    exchange.urls["api"] = {**exchange.urls["api"], "rest": f"{sim.base_url}/okx"}
    return exchange


def test_ccxt_loads_markets_and_currencies(sim):
    exchange = rest_client(sim)
    markets = exchange.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT", "DOGE/USDT", "ETH/BTC"} == set(markets)  # other types: empty lists
    btc = markets["BTC/USDT"]
    assert (btc["id"], btc["spot"], btc["active"]) == ("BTC-USDT", True, True)
    assert btc["precision"]["price"] == 0.1 and btc["limits"]["amount"]["min"] == 0.00001
    assert {"BTC", "ETH", "USDT"} <= set(exchange.currencies)  # asset/currencies, signed


def test_ccxt_market_data(sim):
    exchange = rest_client(sim)
    assert abs(exchange.fetch_time() / 1000 - time.time()) < 5
    ticker = exchange.fetch_ticker("BTC/USDT")
    assert 0 < ticker["bid"] < ticker["ask"] and ticker["last"] > 0 and ticker["high"] >= ticker["low"] > 0
    book = exchange.fetch_order_book("ETH/USDT", limit=20)
    assert len(book["bids"]) == len(book["asks"]) == 20 and book["bids"][0][0] < book["asks"][0][0]
    trades = exchange.fetch_trades("BTC/USDT", limit=20)
    assert len(trades) == 20 and all(t["side"] in ("buy", "sell") and t["amount"] > 0 for t in trades)
    assert trades[-1]["timestamp"] / 1000 == pytest.approx(time.time(), abs=60)
    candles = exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    assert len(candles) == 5 and candles[-1][0] - candles[-2][0] == 60_000
    assert all(c[2] >= max(c[1], c[4]) and c[3] <= min(c[1], c[4]) for c in candles)
    since = (int(time.time()) - 5 * 3600) // 3600 * 3600 * 1000
    hourly = exchange.fetch_ohlcv("SOL/USDT", "1h", since=since, limit=5)
    assert [c[0] for c in hourly] == list(range(since, since + 5 * 3_600_000, 3_600_000))


def test_ccxt_balance_and_orders(sim):
    exchange = rest_client(sim)
    exchange.load_markets()
    balance = exchange.fetch_balance()
    assert balance["USDT"]["total"] == 100_000 and balance["BTC"]["free"] == 1
    price = round(exchange.fetch_ticker("BTC/USDT")["bid"] * 0.9, 1)
    order = exchange.create_order("BTC/USDT", "limit", "buy", 0.001, price)
    fetched = exchange.fetch_order(order["id"], "BTC/USDT")
    assert (fetched["status"], fetched["amount"], fetched["price"]) == ("open", 0.001, price)
    assert [o["id"] for o in exchange.fetch_open_orders("BTC/USDT")] == [order["id"]]
    assert exchange.fetch_balance()["USDT"]["used"] == pytest.approx(0.001 * price)
    exchange.cancel_order(order["id"], "BTC/USDT")
    assert exchange.fetch_order(order["id"], "BTC/USDT")["status"] == "canceled"
    assert exchange.fetch_open_orders("BTC/USDT") == []
    with pytest.raises(ccxt.OrderNotFound):
        exchange.cancel_order(order["id"], "BTC/USDT")  # 51400
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("BTC/USDT", "limit", "buy", 100, price)  # 51008


def test_ccxt_pro_keeps_books_in_sync_and_watches_trades(sim):
    async def watch() -> None:
        exchange = ccxt.pro.okx(credentials())
        base = f"{sim.base_url}/okx"
        exchange.urls["api"] = {**exchange.urls["api"], "rest": base, "ws": f"{base.replace('http', 'ws')}/ws/v5"}
        rest = rest_client(sim)
        try:
            for _ in range(10):
                book = await asyncio.wait_for(exchange.watch_order_book("BTC/USDT"), 10)
            assert book["nonce"] > 0 and book["bids"][0][0] < book["asks"][0][0]
            served = rest.fetch_order_book("BTC/USDT", limit=400)
            # The watched book and the REST book agree (the market may move between the two: most levels match).
            watched_bids = {level[0] for level in book["bids"]}
            assert len(watched_bids & {level[0] for level in served["bids"]}) >= 0.5 * len(served["bids"])
            trades = await asyncio.wait_for(exchange.watch_trades("ETH/USDT"), 10)
            assert trades and trades[-1]["price"] > 0
            ticker = await asyncio.wait_for(exchange.watch_ticker("ETH/USDT"), 10)
            assert ticker["bid"] < ticker["ask"]
        finally:
            await exchange.close()

    asyncio.run(watch())
