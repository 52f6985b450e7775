"""Binance REST market data in the simulator: answer shapes and types, weights, parameter errors, 404s."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import requests

from exchanges.binance import ENDPOINTS, KLINE_INTERVALS, SYMBOLS
from tests.support.simserver import SimServer

DECIMAL = re.compile(r"^-?[0-9]+\.[0-9]{8}$")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer() as server:
        server.wait_for_trades()
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get(http: requests.Session, sim: SimServer, path: str, **params: str) -> requests.Response:
    return http.get(f"{sim.api}/{path}", params=params, timeout=10)


def used_weight(response: requests.Response) -> int:
    return int(response.headers["X-MBX-USED-WEIGHT-1M"])


def assert_decimals(obj: dict, *keys: str) -> None:
    for key in keys:
        assert isinstance(obj[key], str) and DECIMAL.match(obj[key]), (key, obj[key])


def test_ping_time_and_exchange_info(sim: SimServer, http: requests.Session) -> None:
    assert get(http, sim, "ping").json() == {}
    server_time = get(http, sim, "time").json()["serverTime"]
    assert isinstance(server_time, int) and server_time > 1_600_000_000_000
    info = get(http, sim, "exchangeInfo").json()
    assert info["timezone"] == "UTC" and isinstance(info["serverTime"], int)
    assert [s["symbol"] for s in info["symbols"]] == list(SYMBOLS)
    btc = info["symbols"][0]
    assert btc["status"] == "TRADING" and btc["baseAsset"] == "BTC" and btc["quoteAsset"] == "USDT"
    assert {"LIMIT", "MARKET"} <= set(btc["orderTypes"]) and btc["isSpotTradingAllowed"] is True
    assert "permissions" in btc and btc["permissionSets"] == [["SPOT"]]
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    assert info["rateLimits"] == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    ]
    one = get(http, sim, "exchangeInfo", symbol="ETHUSDT").json()
    assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]


def test_depth_snapshot(sim: SimServer, http: requests.Session) -> None:
    book = get(http, sim, "depth", symbol="BTCUSDT", limit="10").json()
    assert isinstance(book["lastUpdateId"], int)
    assert len(book["bids"]) == 10 and len(book["asks"]) == 10
    bids = [float(px) for px, _ in book["bids"]]
    asks = [float(px) for px, _ in book["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    assert all(DECIMAL.match(v) for level in book["bids"] + book["asks"] for v in level)
    big = get(http, sim, "depth", symbol="BTCUSDT", limit="5000").json()  # the whole (smaller) book
    assert 0 < len(big["bids"]) <= 5000


def test_trades_and_agg_trades(sim: SimServer, http: requests.Session) -> None:
    trades = get(http, sim, "trades", symbol="BTCUSDT", limit="5").json()
    assert 1 <= len(trades) <= 5
    t = trades[0]
    assert set(t) == {"id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"}
    assert isinstance(t["id"], int) and isinstance(t["time"], int) and isinstance(t["isBuyerMaker"], bool)
    assert_decimals(t, "price", "qty", "quoteQty")
    assert [x["id"] for x in trades] == sorted(x["id"] for x in trades)
    agg = get(http, sim, "aggTrades", symbol="BTCUSDT", limit="3").json()
    assert set(agg[0]) == {"a", "p", "q", "f", "l", "T", "m", "M"}
    first = agg[0]["a"]
    from_id = get(http, sim, "aggTrades", symbol="BTCUSDT", fromId=str(first), limit="2").json()
    assert from_id[0]["a"] == first


@pytest.mark.parametrize("interval", KLINE_INTERVALS)
def test_klines_for_every_published_interval(sim: SimServer, http: requests.Session, interval: str) -> None:
    rows = get(http, sim, "klines", symbol="BTCUSDT", interval=interval, limit="3").json()
    assert len(rows) == 3
    for row in rows:
        assert len(row) == 12 and isinstance(row[0], int) and isinstance(row[6], int) and isinstance(row[8], int)
        assert all(isinstance(v, str) for v in row[1:6] + row[7:8] + row[9:12])
        assert float(row[3]) <= min(float(row[1]), float(row[4])) <= max(float(row[1]), float(row[4])) <= float(row[2])
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert rows[0][6] == rows[1][0] - 1  # closeTime is the next open minus 1 ms


def test_klines_start_and_end_time(sim: SimServer, http: requests.Session) -> None:
    start = 1_700_000_000_000
    rows = get(http, sim, "klines", symbol="BTCUSDT", interval="1h", startTime=str(start),
               endTime=str(start + 5 * 3_600_000), limit="100").json()
    first_open = -(-start // 3_600_000) * 3_600_000  # the first open at or after startTime
    assert [r[0] for r in rows] == [first_open + i * 3_600_000 for i in range(5)]
    weekly = get(http, sim, "klines", symbol="BTCUSDT", interval="1w", limit="2").json()
    assert all((r[0] // 86_400_000 + 4) % 7 == 1 for r in weekly)  # weeks open on Mondays (epoch day 0: Thursday)
    monthly = get(http, sim, "klines", symbol="BTCUSDT", interval="1M", startTime=str(start), limit="2").json()
    assert [r[0] for r in monthly] == [1_701_388_800_000, 1_704_067_200_000]  # 2023-12-01, 2024-01-01


def test_tickers_single_list_and_all(sim: SimServer, http: requests.Session) -> None:
    price = get(http, sim, "ticker/price", symbol="BTCUSDT").json()
    assert set(price) == {"symbol", "price"} and DECIMAL.match(price["price"])
    assert [p["symbol"] for p in get(http, sim, "ticker/price").json()] == list(SYMBOLS)
    chosen = get(http, sim, "ticker/price", symbols=json.dumps(["ETHUSDT", "BTCUSDT"])).json()
    assert [p["symbol"] for p in chosen] == ["ETHUSDT", "BTCUSDT"]
    book = get(http, sim, "ticker/bookTicker", symbol="ETHUSDT").json()
    assert set(book) == {"symbol", "bidPrice", "bidQty", "askPrice", "askQty"}
    assert float(book["bidPrice"]) < float(book["askPrice"])
    assert len(get(http, sim, "ticker/bookTicker").json()) == len(SYMBOLS)
    day = get(http, sim, "ticker/24hr", symbol="BTCUSDT").json()
    assert_decimals(day, "priceChange", "weightedAvgPrice", "lastPrice", "openPrice", "highPrice", "lowPrice",
                    "volume", "quoteVolume", "bidPrice", "askPrice")
    assert re.match(r"^-?[0-9]+\.[0-9]{3}$", day["priceChangePercent"])
    assert all(isinstance(day[k], int) for k in ("openTime", "closeTime", "firstId", "lastId", "count"))
    assert float(day["lowPrice"]) <= float(day["lastPrice"]) <= float(day["highPrice"])
    mini = get(http, sim, "ticker/24hr", symbols='["BTCUSDT"]', type="MINI").json()
    assert len(mini) == 1 and "priceChange" not in mini[0] and "lastPrice" in mini[0]
    assert len(get(http, sim, "ticker/24hr").json()) == len(SYMBOLS)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("ping", {}),
        ("exchangeInfo", {}),
        ("depth", {"symbol": "BTCUSDT"}),
        ("depth", {"symbol": "BTCUSDT", "limit": "500"}),
        ("depth", {"symbol": "BTCUSDT", "limit": "5000"}),
        ("trades", {"symbol": "BTCUSDT"}),
        ("aggTrades", {"symbol": "BTCUSDT"}),
        ("klines", {"symbol": "BTCUSDT", "interval": "1m"}),
        ("ticker/price", {"symbol": "BTCUSDT"}),
        ("ticker/price", {}),
        ("ticker/bookTicker", {}),
        ("ticker/24hr", {"symbol": "BTCUSDT"}),
        ("ticker/24hr", {}),
    ],
)
def test_each_request_is_charged_the_adapter_weight(http: requests.Session, path: str, params: dict) -> None:
    with SimServer() as fresh:
        first = get(http, fresh, "ping")
        answer = get(http, fresh, path, **params)
        assert answer.status_code == 200
        endpoint = next(e for e in ENDPOINTS.values() if e.path == f"/api/v3/{path}" and e.method == "GET")
        assert used_weight(answer) - used_weight(first) == endpoint.weight_for(params)


def test_parameter_errors(sim: SimServer, http: requests.Session) -> None:
    cases = [
        (("depth", {"symbol": "NOPE"}), -1121),
        (("depth", {}), -1102),
        (("depth", {"symbol": "btc usdt"}), -1100),
        (("depth", {"symbol": "BTCUSDT", "limit": "abc"}), -1100),
        (("klines", {"symbol": "BTCUSDT", "interval": "7m"}), -1120),
        (("klines", {"symbol": "BTCUSDT"}), -1102),
        (("ticker/price", {"symbols": "[BTCUSDT"}), -1102),
        (("ticker/price", {"symbols": '["BTCUSDT","XXX"]'}), -1121),
        (("ticker/price", {"symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'}), -1128),
        (("ticker/24hr", {"symbol": "BTCUSDT", "type": "HUGE"}), -1100),
    ]
    for (path, params), code in cases:
        answer = get(http, sim, path, **params)
        assert answer.status_code == 400, (path, params, answer.text)
        assert answer.json()["code"] == code and answer.json()["msg"], (path, params, answer.text)
        assert "X-MBX-USED-WEIGHT-1M" in answer.headers


def test_unknown_routes_answer_json_404(sim: SimServer, http: requests.Session) -> None:
    for method, path in (("GET", "/binance/api/v3/nothing"), ("POST", "/binance/api/v3/ping"), ("GET", "/binance/x")):
        answer = http.request(method, sim.url + path, timeout=10)
        assert answer.status_code == 404
        assert answer.json()["code"] == -1000
        assert "X-MBX-USED-WEIGHT-1M" in answer.headers


def test_stats_and_health(sim: SimServer, http: requests.Session) -> None:
    get(http, sim, "ping")
    get(http, sim, "depth")
    health = http.get(f"{sim.url}/__sim/health", timeout=10).json()
    assert health["status"] == "ok" and "binance" in health["exchanges"]
    stats = http.get(f"{sim.url}/__sim/stats", timeout=10).json()["exchanges"]["binance"]
    assert {"requests_total", "by_status", "by_endpoint", "faults", "ws", "rate_limited", "bans"} <= set(stats)
    assert set(stats["faults"]) >= {"http_5xx", "reset", "latency", "ws_drop"}
    assert set(stats["ws"]) >= {"connections_open", "connections_total", "messages_sent"}
    assert stats["requests_total"] >= 2 and stats["by_endpoint"]["ping"] >= 1 and stats["by_status"]["400"] >= 1
    assert sum(stats["by_status"].values()) == stats["requests_total"]

