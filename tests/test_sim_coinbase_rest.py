"""The simulated Coinbase Exchange's public REST API: shapes and types, pagination, candles, book levels,
errors in Coinbase's format, and the counters of /__sim/stats."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from exchanges.coinbase import PRODUCTS
from tests.support.simserver import SimServer


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    # Buckets big enough that no test here meets the public limit.
    with SimServer({"coinbase": {"rate_limits": {"public": {"rate_per_s": 1000, "burst": 1000}}}}) as sim:
        deadline = time.monotonic() + 5
        symbols = sim.exchange("coinbase").market.symbols.values()
        while any(sum(t.time_ms >= s.start_ms for t in s.trades) < 20 for s in symbols):  # live trades
            assert time.monotonic() < deadline, "the market did not trade"
            time.sleep(0.05)
        yield sim


@pytest.fixture
def api(server: SimServer) -> str:
    return f"{server.url}/coinbase"


def get(url: str, **params: object) -> requests.Response:
    return requests.get(url, params=params, timeout=10)


def is_decimal_text(value: object) -> bool:
    return isinstance(value, str) and value.replace(".", "", 1).isdigit()


def test_time(api):
    answer = get(f"{api}/time")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert isinstance(body["epoch"], float) and abs(body["epoch"] - time.time()) < 5
    # both are rounded to the millisecond, each its own way: they agree within one millisecond and a bit
    assert datetime.fromisoformat(body["iso"]).timestamp() == pytest.approx(body["epoch"], abs=0.0015)
    assert body["iso"].endswith("Z")


def test_products_and_currencies(api):
    products = get(f"{api}/products").json()
    assert [p["id"] for p in products] == list(PRODUCTS)
    btc = get(f"{api}/products/BTC-USD").json()
    assert btc == products[0]
    assert (btc["base_currency"], btc["quote_currency"], btc["quote_increment"], btc["base_increment"]) == (
        "BTC", "USD", "0.01", "0.00000001")
    assert btc["status"] == "online" and btc["trading_disabled"] is False and btc["min_market_funds"] == "1"
    currencies = {c["id"]: c for c in get(f"{api}/currencies").json()}
    assert set(currencies) == {"USD", "BTC", "ETH", "SOL", "DOGE"}
    assert currencies["USD"]["details"]["type"] == "fiat" and currencies["BTC"]["details"]["type"] == "crypto"
    assert get(f"{api}/currencies/ETH").json() == currencies["ETH"]
    assert get(f"{api}/currencies/XYZ").status_code == 404


def test_ticker_and_stats(api):
    ticker = get(f"{api}/products/ETH-USD/ticker").json()
    assert set(ticker) == {"ask", "bid", "volume", "trade_id", "price", "size", "time"}
    assert all(is_decimal_text(ticker[k]) for k in ("ask", "bid", "volume", "price", "size"))
    assert isinstance(ticker["trade_id"], int) and float(ticker["bid"]) < float(ticker["ask"])
    stats = get(f"{api}/products/ETH-USD/stats").json()
    assert set(stats) == {"open", "high", "low", "last", "volume", "volume_30day"}
    assert float(stats["low"]) <= float(stats["last"]) <= float(stats["high"])
    assert float(stats["volume_30day"]) > float(stats["volume"]) > 0


def test_book_levels(api, server):
    one = get(f"{api}/products/BTC-USD/book").json()  # level 1 by default
    assert set(one) >= {"bids", "asks", "sequence", "time"} and isinstance(one["sequence"], int)
    assert len(one["bids"]) == len(one["asks"]) == 1
    price, size, orders = one["bids"][0]
    assert is_decimal_text(price) and is_decimal_text(size) and orders == 1
    two = get(f"{api}/products/BTC-USD/book", level=2).json()
    assert len(two["bids"]) > 50 and two["sequence"] >= one["sequence"]
    bids = [float(b[0]) for b in two["bids"]]
    asks = [float(a[0]) for a in two["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    three = get(f"{api}/products/BTC-USD/book", level=3).json()
    price, size, order_id = three["asks"][0]
    assert len(order_id) == 36 and order_id.count("-") == 4
    for bad in ("4", "two"):
        answer = get(f"{api}/products/BTC-USD/book", level=bad)
        assert (answer.status_code, answer.json()) == (400, {"message": "Invalid level"})


def test_trades_page_with_cursors(api):
    first = get(f"{api}/products/BTC-USD/trades", limit=5)
    trades = first.json()
    assert len(trades) == 5 and set(trades[0]) == {"trade_id", "side", "size", "price", "time"}
    ids = [t["trade_id"] for t in trades]
    assert ids == sorted(ids, reverse=True) and all(t["side"] in ("buy", "sell") for t in trades)
    assert (first.headers["CB-BEFORE"], first.headers["CB-AFTER"]) == (str(ids[0]), str(ids[-1]))
    older = get(f"{api}/products/BTC-USD/trades", limit=3, after=first.headers["CB-AFTER"]).json()
    assert [t["trade_id"] for t in older] == [ids[-1] - 1, ids[-1] - 2, ids[-1] - 3]  # ids are contiguous
    newer = get(f"{api}/products/BTC-USD/trades", limit=2, before=ids[-1]).json()
    assert [t["trade_id"] for t in newer] == [ids[-1] + 2, ids[-1] + 1]
    assert get(f"{api}/products/BTC-USD/trades", limit=1001).status_code == 400


def test_candles(api):
    rows = get(f"{api}/products/BTC-USD/candles", granularity=300).json()
    assert len(rows) == 300
    assert all(isinstance(v, int | float) for row in rows for v in row) and all(len(r) == 6 for r in rows)
    times = [r[0] for r in rows]
    assert times == sorted(times, reverse=True) and all(t % 300 == 0 for t in times)
    assert all(low <= min(o, c) and max(o, c) <= high for _, low, high, o, c, _ in rows)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(hours=1)
    hour = get(f"{api}/products/BTC-USD/candles", granularity=60, start=start.isoformat(), end=end.isoformat()).json()
    assert [r[0] for r in hour] == list(range(int(end.timestamp()), int(start.timestamp()) - 1, -60))
    too_many = get(f"{api}/products/BTC-USD/candles", granularity=60,
                   start=(end - timedelta(minutes=301)).isoformat(), end=end.isoformat())
    assert too_many.status_code == 400 and "exceeds 300" in too_many.json()["message"]
    assert get(f"{api}/products/BTC-USD/candles", granularity=120).json() == {"message": "Unsupported granularity"}
    assert get(f"{api}/products/BTC-USD/candles", start="yesterday").json() == {"message": "Invalid start"}


@pytest.mark.parametrize("path", ["/products/BTC-EUR/ticker", "/products/nope/book", "/nothing", "/products/x/y/z", "",
                                  "/%0A"])
def test_unknown_products_and_routes_get_coinbase_404(api, path):
    answer = get(f"{api}{path}")
    assert (answer.status_code, answer.json()) == (404, {"message": "NotFound"})


def test_wrong_method_gets_404_and_nothing_crashes(api):
    assert requests.put(f"{api}/time", timeout=10).status_code == 404
    assert requests.post(f"{api}/products", data=b"\xff\xfe", timeout=10).status_code == 404


def test_stats_count_coinbase_requests_apart_from_binance(server, api):
    before = requests.get(f"{server.url}/__sim/stats", timeout=10).json()["exchanges"]
    get(f"{api}/time")
    get(f"{api}/nothing")
    after = requests.get(f"{server.url}/__sim/stats", timeout=10).json()["exchanges"]
    coinbase = after["coinbase"]
    assert coinbase["requests_total"] == before["coinbase"]["requests_total"] + 2
    assert coinbase["by_endpoint"]["time"] == before["coinbase"]["by_endpoint"].get("time", 0) + 1
    assert coinbase["by_endpoint"]["not_found"] >= 1
    assert set(coinbase) >= {"by_status", "faults", "ws", "rate_limited"}
    assert after["binance"]["requests_total"] == before["binance"]["requests_total"]
