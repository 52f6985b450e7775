"""The simulated Bybit v5 REST API: the envelope and shapes, errors with HTTP 200, other categories, the IP limit's
403 and ban, the per-UID limit (10006) with its headers, signing and the timestamp window, and spot orders."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from exchanges.base import RequestToSign
from exchanges.bybit import ADAPTER, simulator_credentials
from tests.support.simserver import FakeClock, SimServer

KEY, SECRET = simulator_credentials({})


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer() as server:
        bybit = server.exchange("bybit")
        deadline = time.monotonic() + 5
        while any(len(sym.trades) < 5 for sym in bybit.market.symbols.values()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield server


def public(http: requests.Session, server: SimServer, name: str, **params: Any) -> requests.Response:
    return http.get(f"{server.url}/bybit/v5/{name}", params=params, timeout=10)


def signed(http: requests.Session, server: SimServer, name: str, key: str = KEY, secret: str = SECRET,
           timestamp_ms: int | None = None, **params: Any) -> requests.Response:
    endpoint = ADAPTER.endpoint(name)
    now_ms = int(server.clock() * 1000) if timestamp_ms is None else timestamp_ms
    request = RequestToSign(key, secret, {k: str(v) for k, v in params.items()}, now_ms, None, endpoint.method,
                            endpoint.path)
    sign = ADAPTER.sign(request)
    url = f"{server.url}/bybit{endpoint.path}" + (f"?{sign.query}" if sign.query else "")
    return http.request(endpoint.method, url, data=sign.body or None, headers=sign.headers, timeout=10)


def result(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["retCode"] == 0 and payload["retMsg"] == "OK", payload
    assert set(payload) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    return payload["result"]


def ret_code(response: requests.Response) -> int:
    assert response.status_code == 200, response.text
    return int(response.json()["retCode"])


def test_market_data_shapes(http: requests.Session, sim: SimServer) -> None:
    now = result(public(http, sim, "market/time"))
    assert abs(int(now["timeNano"]) / 1e9 - time.time()) < 5 and now["timeSecond"] == now["timeNano"][:10]
    instruments = result(public(http, sim, "market/instruments-info", category="spot"))
    btc = next(i for i in instruments["list"] if i["symbol"] == "BTCUSDT")
    assert btc["priceFilter"] == {"tickSize": "0.01"} and btc["lotSizeFilter"]["basePrecision"] == "0.000001"
    ticker = result(public(http, sim, "market/tickers", category="spot", symbol="BTCUSDT"))["list"][0]
    assert float(ticker["bid1Price"]) < float(ticker["ask1Price"]) and float(ticker["volume24h"]) > 0
    book = result(public(http, sim, "market/orderbook", category="spot", symbol="ETHUSDT", limit=50))
    assert len(book["b"]) == len(book["a"]) == 50 and float(book["b"][0][0]) < float(book["a"][0][0])
    assert len(result(public(http, sim, "market/orderbook", category="spot", symbol="ETHUSDT"))["b"]) == 1
    trades = result(public(http, sim, "market/recent-trade", category="spot", symbol="BTCUSDT", limit=5))["list"]
    assert len(trades) == 5 and int(trades[0]["time"]) >= int(trades[-1]["time"])  # newest first
    klines = result(public(http, sim, "market/kline", category="spot", symbol="BTCUSDT", interval="5", limit=3))
    opens = [int(row[0]) for row in klines["list"]]
    assert opens == sorted(opens, reverse=True) and opens[0] - opens[1] == 300_000


def test_other_categories_are_empty_and_bad_parameters_are_10001(http: requests.Session, sim: SimServer) -> None:
    assert result(public(http, sim, "market/instruments-info", category="linear"))["list"] == []
    assert result(public(http, sim, "market/tickers", category="option"))["list"] == []
    assert ret_code(public(http, sim, "market/instruments-info")) == 10001  # category is required
    assert ret_code(public(http, sim, "market/orderbook", category="spot", symbol="NOPE")) == 10001
    assert ret_code(public(http, sim, "market/kline", symbol="BTCUSDT", interval="1")) == 10001  # linear default
    assert ret_code(public(http, sim, "market/orderbook", category="spot", symbol="BTCUSDT", limit=1001)) == 10001
    assert public(http, sim, "market/nothing").status_code == 404


def test_signing_key_and_timestamp_window(http: requests.Session, sim: SimServer) -> None:
    assert result(signed(http, sim, "account/wallet-balance", accountType="UNIFIED"))["list"][0]["coin"]
    assert ret_code(signed(http, sim, "account/wallet-balance", key="nope", accountType="UNIFIED")) == 10003
    assert ret_code(signed(http, sim, "account/wallet-balance", secret="wrong", accountType="UNIFIED")) == 10004
    now_ms = int(time.time() * 1000)
    assert ret_code(signed(http, sim, "account/wallet-balance", timestamp_ms=now_ms - 6000,
                           accountType="UNIFIED")) == 10002  # older than the 5 s window
    assert ret_code(signed(http, sim, "account/wallet-balance", timestamp_ms=now_ms + 1500,
                           accountType="UNIFIED")) == 10002  # 1 s ahead at most
    answer = signed(http, sim, "order/realtime", category="spot")
    assert result(answer)["list"] == [] or isinstance(result(answer)["list"], list)
    assert answer.headers["X-Bapi-Limit"] == "50" and int(answer.headers["X-Bapi-Limit-Status"]) < 50


def test_a_limit_order_rests_locks_funds_and_is_cancelled(http: requests.Session, sim: SimServer) -> None:
    def usdt() -> dict[str, str]:
        coins = result(signed(http, sim, "account/wallet-balance", accountType="UNIFIED"))["list"][0]["coin"]
        return next(c for c in coins if c["coin"] == "USDT")

    bid = float(result(public(http, sim, "market/tickers", category="spot", symbol="BTCUSDT"))["list"][0]["bid1Price"])
    price = f"{bid * 0.9:.2f}"
    created = result(signed(http, sim, "order/create", category="spot", symbol="BTCUSDT", side="Buy",
                            orderType="Limit", qty="0.001", price=price, orderLinkId="t-1"))
    assert created["orderLinkId"] == "t-1" and created["orderId"]
    assert float(usdt()["locked"]) == pytest.approx(float(price) * 0.001)
    (open_order,) = result(signed(http, sim, "order/realtime", category="spot", symbol="BTCUSDT"))["list"]
    assert open_order["orderStatus"] == "New" and open_order["price"] == price and open_order["leavesQty"] == "0.001000"
    assert ret_code(signed(http, sim, "order/create", category="spot", symbol="BTCUSDT", side="Buy",
                           orderType="Limit", qty="0.001", price=price, orderLinkId="t-1")) == 170141
    cancelled = result(signed(http, sim, "order/cancel", category="spot", symbol="BTCUSDT", orderLinkId="t-1"))
    assert cancelled["orderId"] == created["orderId"] and float(usdt()["locked"]) == 0
    assert ret_code(signed(http, sim, "order/cancel", category="spot", symbol="BTCUSDT",
                           orderId=created["orderId"])) == 170213
    (closed,) = result(signed(http, sim, "order/history", category="spot", orderId=created["orderId"]))["list"]
    assert closed["orderStatus"] == "Cancelled"
    for bad, code in (({"qty": "0.0000001"}, 170137), ({"price": "1.001"}, 170134), ({"qty": "0.00001"}, 170136),
                      ({"qty": "1000"}, 170131)):
        params = {"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
                  "price": price, **bad}
        assert ret_code(signed(http, sim, "order/create", **params)) == code, bad


def test_the_uid_limit_answers_10006_with_http_200(http: requests.Session) -> None:
    clock = FakeClock(1_800_000_000.2)
    with SimServer({"bybit": {"uid_limits_per_s": {"account/wallet-balance": 3}}}, clock) as sim:
        answers = [signed(http, sim, "account/wallet-balance", accountType="UNIFIED") for _ in range(4)]
        assert [ret_code(a) for a in answers] == [0, 0, 0, 10006]
        assert [a.headers["X-Bapi-Limit-Status"] for a in answers] == ["2", "1", "0", "0"]
        assert int(answers[3].headers["X-Bapi-Limit-Reset-Timestamp"]) == 1_800_000_001_000
        clock.advance(1.0)
        assert ret_code(signed(http, sim, "account/wallet-balance", accountType="UNIFIED")) == 0
        stats = sim.exchange("bybit").stats
        assert stats.rate_limited == stats.by_error["10006"] == 1 and set(stats.by_status) == {"200"}


def test_over_the_ip_limit_every_request_is_403_until_the_ban_ends(http: requests.Session) -> None:
    clock = FakeClock(1_800_000_000.0)
    config = {"bybit": {"ip_limit": {"requests": 5, "window_s": 5, "ban_s": 60.0}}}
    with SimServer(config, clock) as sim:
        answers = [public(http, sim, "market/time") for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [403]
        assert answers[5].text == "access too frequent"
        clock.advance(10.0)  # a new window, but the ban holds
        assert public(http, sim, "market/time").status_code == 403
        assert signed(http, sim, "account/wallet-balance", accountType="UNIFIED").status_code == 403
        clock.advance(51.0)
        assert public(http, sim, "market/time").status_code == 200
        stats = sim.exchange("bybit").stats
        assert stats.bans == 1 and stats.by_status["403"] == stats.by_error["403"] == 3
