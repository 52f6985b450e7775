"""Binance rate limits in the simulator: weight headers, 429 then 418 with escalating bans, RAW_REQUESTS,
ORDERS per account, and exchangeInfo reporting the configured values. Uses a fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from exchanges.binance import sign_request, simulator_credentials
from tests.support.simserver import FakeClock, SimServer

START = 1_800_000_000.0  # a multiple of every test window, so windows start with the test


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def price(http: requests.Session, sim: SimServer) -> requests.Response:
    return http.get(f"{sim.api}/ticker/price", params={"symbol": "BTCUSDT"}, timeout=10)  # weight 2


def test_429_then_418_and_escalating_bans(http: requests.Session) -> None:
    clock = FakeClock(START)
    config = {"binance": {"rate_limits": {"request_weight": {"limit": 50, "interval_s": 2}},
                          "bans": {"first_ban_s": 1, "max_ban_s": 4, "limited_requests_before_ban": 2}}}
    with SimServer(config, clock) as sim:
        for _ in range(25):
            assert price(http, sim).status_code == 200
        limited = price(http, sim)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "2"
        assert limited.headers["X-MBX-USED-WEIGHT-2S"] == "52"
        assert limited.json() == {
            "code": -1003,
            "msg": "Too much request weight used; current limit is 50 request weight per 2 SECOND. "
                   "Please use WebSocket Streams for live updates to avoid polling the API.",
        }
        assert price(http, sim).status_code == 429
        banned = price(http, sim)
        assert banned.status_code == 418 and banned.headers["Retry-After"] == "1"
        assert banned.json()["code"] == -1003
        ban_end_ms = int(START * 1000) + 1000
        assert banned.json()["msg"].startswith(f"Way too much request weight used; IP banned until {ban_end_ms}.")
        assert "X-MBX-USED-WEIGHT-2S" in banned.headers
        assert http.get(f"{sim.api}/ping", timeout=10).status_code == 418  # every request while banned
        assert http.get(f"{sim.api}/nothing", timeout=10).status_code == 418

        clock.advance(2.0)  # the ban and the window are over
        assert price(http, sim).status_code == 200
        for _ in range(24):
            price(http, sim)
        assert [price(http, sim).status_code for _ in range(3)] == [429, 429, 418]
        assert price(http, sim).headers["Retry-After"] == "2"  # the second ban lasts twice as long
        clock.advance(1.5)
        assert price(http, sim).status_code == 418
        clock.advance(0.5)
        assert price(http, sim).status_code == 200

        stats = http.get(f"{sim.url}/__sim/stats", timeout=10).json()["exchanges"]["binance"]
        assert stats["bans"] == 2 and stats["rate_limited"] == 4
        assert stats["by_status"]["429"] == 4 and stats["by_status"]["418"] == 6


def test_raw_request_limit(http: requests.Session) -> None:
    clock = FakeClock(START)
    with SimServer({"binance": {"rate_limits": {"raw_requests": {"limit": 3, "interval_s": 10}}}}, clock) as sim:
        assert [http.get(f"{sim.api}/ping", timeout=10).status_code for _ in range(4)] == [200, 200, 200, 429]
        answer = http.get(f"{sim.api}/ping", timeout=10)
        assert answer.json()["msg"] == "Too many requests; current limit is 3 requests per 10 SECOND."
        assert answer.headers["Retry-After"] == "10"


def test_exchange_info_reports_the_configured_limits(http: requests.Session) -> None:
    config = {"binance": {"rate_limits": {"request_weight": {"limit": 1200, "interval_s": 60},
                                          "raw_requests": {"limit": 61000, "interval_s": 300},
                                          "orders_10s": {"limit": 50, "interval_s": 10},
                                          "orders_1d": {"limit": 160000, "interval_s": 86400}}}}
    with SimServer(config) as sim:
        answer = http.get(f"{sim.api}/exchangeInfo", timeout=10)
        assert answer.json()["rateLimits"] == [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
        ]
    with SimServer({"binance": {"rate_limits": {"request_weight": {"interval_s": 3600}}}}) as sim:
        answer = http.get(f"{sim.api}/ping", timeout=10)
        assert answer.headers["X-MBX-USED-WEIGHT-1H"] == "1"
        limits = http.get(f"{sim.api}/exchangeInfo", timeout=10).json()["rateLimits"]
        assert limits[0] == {"rateLimitType": "REQUEST_WEIGHT", "interval": "HOUR", "intervalNum": 1, "limit": 6000}


def test_order_count_limit_per_account_and_free_successful_orders(http: requests.Session) -> None:
    clock = FakeClock(START)
    key, secret = simulator_credentials()
    with SimServer({"binance": {"rate_limits": {"orders_10s": {"limit": 2, "interval_s": 10}}}}, clock) as sim:
        book = http.get(f"{sim.api}/ticker/bookTicker", params={"symbol": "BTCUSDT"}, timeout=10).json()
        bid = float(book["bidPrice"])

        def place() -> requests.Response:
            order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                     "quantity": "0.001", "price": f"{bid * 0.9:.2f}"}
            signed = sign_request(key, secret, order, int(clock() * 1000), in_body=True)
            return http.post(f"{sim.api}/order", data=signed.body, headers=signed.headers, timeout=10)

        first, second = place(), place()
        assert first.status_code == second.status_code == 200
        assert second.headers["X-MBX-ORDER-COUNT-10S"] == "2" and second.headers["X-MBX-ORDER-COUNT-1D"] == "2"
        weight_before = int(second.headers["X-MBX-USED-WEIGHT-1M"])
        assert weight_before == int(first.headers["X-MBX-USED-WEIGHT-1M"])  # a successful order weighs 0
        third = place()
        assert third.status_code == 429
        assert third.json() == {"code": -1015, "msg": "Too many new orders; current limit is 2 orders per 10 SECOND."}
        assert third.headers["Retry-After"] == "10"
        assert int(third.headers["X-MBX-USED-WEIGHT-1M"]) == weight_before + 1  # a failed one is charged
        clock.advance(10)
        assert place().status_code == 200

