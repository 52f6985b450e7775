"""Binance signed endpoints in the simulator: API key, signature and timestamp checks; orders that fill, rest,
cancel and fail; balances; the account."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from exchanges.binance import sign_request, simulator_credentials
from tests.support.simserver import FakeClock, SimServer

KEY, SECRET = simulator_credentials()
QUIET_MARKET = {"binance": {"tick_ms": 600_000}}  # the book stays still while a test reads and trades it


class Client:
    def __init__(self, sim: SimServer, http: requests.Session) -> None:
        self.sim = sim
        self.http = http

    def signed(self, method: str, path: str, params: dict[str, Any] | None = None, *, in_body: bool = False,
               key: str = KEY, secret: str = SECRET, timestamp_ms: int | None = None,
               recv_window_ms: int = 5000) -> requests.Response:
        timestamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        signed = sign_request(key, secret, params or {}, timestamp, recv_window_ms, in_body=in_body)
        url = f"{self.sim.api}/{path}" + (f"?{signed.query}" if signed.query else "")
        return self.http.request(method, url, data=signed.body or None, headers=signed.headers, timeout=10)

    def order(self, **params: str) -> requests.Response:
        return self.signed("POST", "order", {"symbol": "BTCUSDT"} | params, in_body=True)

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        account = self.signed("GET", "account").json()
        return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in account["balances"]}

    def book(self, symbol: str = "BTCUSDT") -> dict[str, Any]:
        return self.http.get(f"{self.sim.api}/depth", params={"symbol": symbol, "limit": "5"}, timeout=10).json()


@pytest.fixture
def client() -> Iterator[Client]:
    with SimServer(QUIET_MARKET) as sim, requests.Session() as http:
        yield Client(sim, http)


def test_account_shape(client: Client) -> None:
    answer = client.signed("GET", "account")
    assert answer.status_code == 200, answer.text
    account = answer.json()
    assert account["accountType"] == "SPOT" and account["canTrade"] is True and isinstance(account["uid"], int)
    assert {"makerCommission", "takerCommission", "commissionRates", "updateTime", "permissions"} <= set(account)
    balances = {b["asset"]: b for b in account["balances"]}
    assert balances["USDT"] == {"asset": "USDT", "free": "100000.00000000", "locked": "0.00000000"}
    assert balances["BTC"]["free"] == "1.00000000"


def test_authentication_errors(client: Client) -> None:
    now = int(time.time() * 1000)
    cases = [
        (client.http.get(f"{client.sim.api}/account", timeout=10), 401, -2014),
        (client.signed("GET", "account", key="bad key!"), 401, -2014),
        (client.signed("GET", "account", key="unknownKey123"), 401, -2015),
        (client.signed("GET", "account", secret="wrong"), 400, -1022),
        (client.signed("GET", "account", timestamp_ms=now - 10_000), 400, -1021),
        (client.signed("GET", "account", timestamp_ms=now + 2_000), 400, -1021),
        (client.signed("GET", "account", timestamp_ms=now - 10_000, recv_window_ms=20_000), 200, None),
        (client.signed("GET", "account", recv_window_ms=70_000), 400, -1131),
        (client.http.get(f"{client.sim.api}/account", headers={"X-MBX-APIKEY": KEY}, timeout=10), 400, -1102),
    ]
    for answer, status, code in cases:
        assert answer.status_code == status, answer.text
        if code is not None:
            assert answer.json()["code"] == code and answer.json()["msg"]
        assert "X-MBX-USED-WEIGHT-1M" in answer.headers


def test_binance_documentation_signature_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    """The signed example of Binance's docs passes the signature check (then fails on its unknown symbol)."""
    monkeypatch.setenv("SIM_BINANCE_API_SECRET", "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j")
    clock = FakeClock(1499827319.559)
    payload = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
               "&timestamp=1499827319559")
    signature = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    with SimServer(clock=clock) as sim, requests.Session() as http:
        headers = {"X-MBX-APIKEY": KEY}
        in_query = http.post(f"{sim.api}/order?{payload}&signature={signature}", headers=headers, timeout=10)
        assert in_query.json()["code"] == -1121
        split = http.post(f"{sim.api}/order?{payload[:50]}", data=f"{payload[50:]}&signature={signature}",
                          headers={**headers, "Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
        assert split.json()["code"] == -1121
        tampered = http.post(f"{sim.api}/order?{payload.replace('price=0.1', 'price=0.2')}&signature={signature}",
                             headers=headers, timeout=10)
        assert tampered.json()["code"] == -1022


def test_market_order_fills_against_the_book_and_moves_balances(client: Client) -> None:
    best_ask = Decimal(client.book()["asks"][0][0])
    answer = client.order(side="BUY", type="MARKET", quantity="0.01")
    assert answer.status_code == 200, answer.text
    order = answer.json()
    assert order["status"] == "FILLED" and order["type"] == "MARKET" and order["orderListId"] == -1
    assert isinstance(order["orderId"], int) and isinstance(order["transactTime"], int)
    assert order["executedQty"] == "0.01000000" and order["price"] == "0.00000000"
    fills = order["fills"]
    assert sum(Decimal(f["qty"]) for f in fills) == Decimal("0.01")
    assert all(Decimal(f["price"]) >= best_ask and isinstance(f["tradeId"], int) for f in fills)
    cost = sum(Decimal(f["price"]) * Decimal(f["qty"]) for f in fills)
    assert Decimal(order["cummulativeQuoteQty"]) == cost
    balances = client.balances()
    assert balances["BTC"] == (Decimal("1.01"), 0)
    assert balances["USDT"] == (Decimal(100_000) - cost, 0)
    sold = client.order(side="SELL", type="MARKET", quantity="0.5", newOrderRespType="RESULT").json()
    assert sold["status"] == "FILLED" and "fills" not in sold
    assert client.balances()["BTC"] == (Decimal("0.51"), 0)


def test_limit_order_rests_is_queried_listed_and_cancelled(client: Client) -> None:
    bid = Decimal(client.book()["bids"][0][0])
    price = (bid * Decimal("0.9")).quantize(Decimal("0.01"))
    placed = client.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.002", price=str(price),
                          newClientOrderId="my-order-1")
    assert placed.status_code == 200, placed.text
    order = placed.json()
    assert order["status"] == "NEW" and order["clientOrderId"] == "my-order-1" and order["fills"] == []
    assert client.balances()["USDT"] == (Decimal(100_000) - price * Decimal("0.002"), price * Decimal("0.002"))
    by_id = client.signed("GET", "order", {"symbol": "BTCUSDT", "orderId": order["orderId"]}).json()
    by_client_id = client.signed("GET", "order", {"symbol": "BTCUSDT", "origClientOrderId": "my-order-1"}).json()
    assert by_id == by_client_id
    assert by_id["status"] == "NEW" and by_id["isWorking"] is True and by_id["price"] == f"{price:.8f}"
    assert {"stopPrice", "icebergQty", "time", "updateTime", "workingTime", "origQuoteOrderQty"} <= set(by_id)
    listed = client.signed("GET", "openOrders", {"symbol": "BTCUSDT"}).json()
    assert [o["orderId"] for o in listed] == [order["orderId"]]
    assert len(client.signed("GET", "openOrders").json()) == 1
    duplicate = client.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.002", price=str(price),
                             newClientOrderId="my-order-1")
    assert duplicate.json() == {"code": -2010, "msg": "Duplicate order sent."}

    cancelled = client.signed("DELETE", "order", {"symbol": "BTCUSDT", "orderId": order["orderId"]})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELED" and cancelled.json()["origClientOrderId"] == "my-order-1"
    assert client.balances()["USDT"] == (Decimal(100_000), 0)
    assert client.signed("GET", "openOrders").json() == []
    again = client.signed("DELETE", "order", {"symbol": "BTCUSDT", "orderId": order["orderId"]})
    assert again.json() == {"code": -2011, "msg": "Unknown order sent."}
    missing = client.signed("GET", "order", {"symbol": "BTCUSDT", "orderId": 1})
    assert missing.json() == {"code": -2013, "msg": "Order does not exist."}
    neither = client.signed("GET", "order", {"symbol": "BTCUSDT"})
    assert neither.json()["code"] == -1102


def test_resting_order_is_filled_by_a_taker_and_unlocks_its_funds(client: Client) -> None:
    ask_price, ask_qty = (Decimal(v) for v in client.book("ETHUSDT")["asks"][0])
    resting = client.order(symbol="ETHUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.01",
                           price=str(ask_price)).json()
    assert resting["status"] == "NEW"
    assert client.balances()["ETH"] == (Decimal("9.99"), Decimal("0.01"))
    taker = client.order(symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="IOC",
                         quantity=str(ask_qty + Decimal("0.01")), price=str(ask_price)).json()
    assert taker["status"] == "FILLED", taker
    filled = client.signed("GET", "order", {"symbol": "ETHUSDT", "orderId": resting["orderId"]}).json()
    assert filled["status"] == "FILLED" and filled["executedQty"] == "0.01000000"
    assert client.balances()["ETH"] == (Decimal("9.99") + ask_qty + Decimal("0.01"), 0)


def test_crossing_limit_orders_and_time_in_force(client: Client) -> None:
    bid = Decimal(client.book()["bids"][0][0])
    ioc = client.order(side="SELL", type="LIMIT", timeInForce="IOC", quantity="0.001", price=str(bid)).json()
    assert ioc["status"] == "FILLED" and Decimal(ioc["fills"][0]["price"]) == bid
    fok = client.order(side="SELL", type="LIMIT", timeInForce="FOK", quantity="0.9",
                       price=str(bid + Decimal("0.01"))).json()
    assert fok["status"] == "EXPIRED" and fok["executedQty"] == "0.00000000"
    maker = client.order(side="SELL", type="LIMIT_MAKER", quantity="0.001", price=str(bid))
    assert maker.json() == {"code": -2010, "msg": "Order would immediately match and take."}
    ack = client.order(side="BUY", type="MARKET", quoteOrderQty="100", newOrderRespType="ACK").json()
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    spent = client.signed("GET", "order", {"symbol": "BTCUSDT", "orderId": ack["orderId"]}).json()
    assert 0 < Decimal(spent["cummulativeQuoteQty"]) <= 100 and spent["origQuoteOrderQty"] == "100.00000000"


def test_order_rejections(client: Client) -> None:
    cases = [
        ({"side": "BUY", "type": "MARKET", "quantity": "10"}, -2010, "Account has insufficient balance"),
        ({"side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "5", "price": "100000"}, -2010,
         "Account has insufficient balance"),
        ({"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001", "price": "100.001"}, -1013,
         "Filter failure: PRICE_FILTER"),
        ({"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.0000001", "price": "100"}, -1013,
         "Filter failure: LOT_SIZE"),
        ({"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.00001", "price": "100"}, -1013,
         "Filter failure: NOTIONAL"),
        ({"side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "100"}, -1102, "timeInForce"),
        ({"side": "BUY", "type": "MARKET"}, -1102, "quantity"),
        ({"side": "UP", "type": "MARKET", "quantity": "1"}, -1117, "Invalid side."),
        ({"side": "BUY", "type": "STOP", "quantity": "1"}, -1116, "Invalid orderType."),
        ({"side": "BUY", "type": "MARKET", "quantity": "1e3"}, -1100, "quantity"),
        ({"side": "BUY", "type": "MARKET", "quantity": "1", "newOrderRespType": "ALL"}, -1100, "newOrderRespType"),
    ]
    for params, code, text in cases:
        answer = client.order(**params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["code"] == code and text in answer.json()["msg"], (params, answer.text)
    bad_symbol = client.signed("POST", "order", {"symbol": "XXXUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"})
    assert bad_symbol.json()["code"] == -1121
    assert client.balances()["USDT"] == (Decimal(100_000), 0)


def test_test_order_validates_without_placing(client: Client) -> None:
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
    first = client.signed("POST", "order/test", params)
    assert first.status_code == 200 and first.json() == {}
    with_rates = client.signed("POST", "order/test", {**params, "computeCommissionRates": "true"})
    assert "standardCommissionForOrder" in with_rates.json()
    assert int(with_rates.headers["X-MBX-USED-WEIGHT-1M"]) - int(first.headers["X-MBX-USED-WEIGHT-1M"]) == 20
    assert client.signed("POST", "order/test", {**params, "quantity": "10"}).json()["code"] == -2010
    assert client.balances()["BTC"] == (Decimal(1), 0)
