"""The simulated Coinbase Exchange's private API: CB-ACCESS authentication, orders (limit, market, post-only,
IOC/FOK, GTT), cancellation, accounts and fills, and bad input answered in Coinbase's format."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from exchanges.coinbase import sign_request, signature, simulator_credentials, timestamp_text
from tests.support.simserver import FakeClock, SimServer

PROFILE = simulator_credentials({})
BIG_BUCKETS = {"coinbase": {"rate_limits": {name: {"rate_per_s": 1000, "burst": 1000}
                                            for name in ("public", "private", "fills")}}}


class Client:
    def __init__(self, sim: SimServer, clock: Any = time.time) -> None:
        self.base = f"{sim.url}/coinbase"
        self.clock = clock
        self.http = requests.Session()

    def call(self, method: str, path: str, params: dict[str, Any] | None = None) -> requests.Response:
        signed = sign_request(PROFILE.api_key, PROFILE.api_secret, PROFILE.passphrase, method, path, params or {},
                              int(self.clock() * 1000))
        url = f"{self.base}{path}" + (f"?{signed.query}" if signed.query else "")
        return self.http.request(method, url, data=signed.body or None, headers=signed.headers, timeout=10)

    def public(self, path: str, **params: Any) -> Any:
        return self.http.get(f"{self.base}{path}", params=params, timeout=10).json()

    def balances(self) -> dict[str, dict[str, Decimal]]:
        return {a["currency"]: {k: Decimal(a[k]) for k in ("balance", "hold", "available")}
                for a in self.call("GET", "/accounts").json()}


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    with SimServer(BIG_BUCKETS) as sim:
        deadline = time.monotonic() + 5
        while any(not s.trades for s in sim.exchange("coinbase").market.symbols.values()):
            assert time.monotonic() < deadline, "the market did not trade"
            time.sleep(0.05)
        yield sim


@pytest.fixture
def client(server: SimServer) -> Iterator[Client]:
    c = Client(server)
    yield c
    c.call("DELETE", "/orders")
    c.http.close()


def best(client: Client, product: str = "BTC-USD") -> tuple[Decimal, Decimal]:
    book = client.public(f"/products/{product}/book")
    return Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])


# --- authentication ----------------------------------------------------------------------------


def raw(server: SimServer, method: str, path: str, headers: dict[str, str], body: str = "") -> requests.Response:
    return requests.request(method, f"{server.url}/coinbase{path}", headers=headers, data=body or None, timeout=10)


def headers_for(method: str, path: str, body: str = "", at: float | None = None, **overrides: str) -> dict[str, str]:
    timestamp = timestamp_text(int((time.time() if at is None else at) * 1000))
    headers = {
        "CB-ACCESS-KEY": PROFILE.api_key,
        "CB-ACCESS-SIGN": signature(PROFILE.api_secret, timestamp, method, path, body),
        "CB-ACCESS-TIMESTAMP": timestamp,
        "CB-ACCESS-PASSPHRASE": PROFILE.passphrase,
        "Content-Type": "application/json",
    }
    headers.update(overrides)
    return headers


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"CB-ACCESS-SIGN": ""}, "CB-ACCESS-SIGN header is required"),
        ({"CB-ACCESS-PASSPHRASE": ""}, "CB-ACCESS-PASSPHRASE header is required"),
        ({"CB-ACCESS-KEY": "0" * 32}, "Invalid API Key"),
        ({"CB-ACCESS-PASSPHRASE": "wrong"}, "Invalid Passphrase"),
        ({"CB-ACCESS-SIGN": "AAAA"}, "invalid signature"),
        ({"CB-ACCESS-TIMESTAMP": "soon"}, "invalid timestamp"),
    ],
)
def test_authentication_failures_are_401_with_a_message(server, overrides, message):
    answer = raw(server, "GET", "/accounts", headers_for("GET", "/accounts", **overrides))
    assert (answer.status_code, answer.json()) == (401, {"message": message})


def test_the_signature_covers_the_query_and_the_body(server):
    assert raw(server, "GET", "/orders?status=all", headers_for("GET", "/orders?status=all")).status_code == 200
    # Signed without the query: rejected.
    assert raw(server, "GET", "/orders?status=all", headers_for("GET", "/orders")).status_code == 401
    body = '{"product_id":"BTC-USD"}'  # ccxt sends DELETE parameters as a JSON body
    assert raw(server, "DELETE", "/orders", headers_for("DELETE", "/orders", body), body).status_code == 200
    assert raw(server, "DELETE", "/orders", headers_for("DELETE", "/orders", "{}"), body).status_code == 401


def test_timestamp_must_be_within_30_seconds():
    clock = FakeClock(1_800_000_000.0)
    with SimServer({}, clock) as sim:
        for offset, status in ((-29.9, 200), (29.9, 200), (-31, 401), (31, 401)):
            answer = raw(sim, "GET", "/accounts", headers_for("GET", "/accounts", at=clock() + offset))
            assert answer.status_code == status, offset
        assert answer.json() == {"message": "request timestamp expired"}


# --- orders ------------------------------------------------------------------------------------


def test_a_resting_limit_order_holds_funds_and_a_cancel_purges_it(client):
    bid, _ = best(client)
    price = (bid * Decimal("0.9")).quantize(Decimal("0.01"))
    before = client.balances()["USD"]
    placed = client.call("POST", "/orders", {"product_id": "BTC-USD", "side": "buy", "price": str(price),
                                             "size": "0.01", "post_only": True})
    assert placed.status_code == 200, placed.text
    order = placed.json()
    assert order["status"] == "pending" and order["filled_size"] == "0.00000000" and order["settled"] is False
    assert (order["price"], order["size"], order["type"], order["time_in_force"]) == (
        f"{price:.8f}", "0.01000000", "limit", "GTC")
    shown = client.call("GET", f"/orders/{order['id']}").json()
    assert shown["status"] == "open" and shown["post_only"] is True
    usd = client.balances()["USD"]
    assert usd["hold"] == before["hold"] + price * Decimal("0.01")
    assert usd["available"] + usd["hold"] == usd["balance"] == before["balance"]
    assert [o["id"] for o in client.call("GET", "/orders", {"product_id": "BTC-USD"}).json()] == [order["id"]]
    cancelled = client.call("DELETE", f"/orders/{order['id']}")
    assert (cancelled.status_code, cancelled.json()) == (200, order["id"])
    assert client.balances()["USD"] == before
    gone = client.call("GET", f"/orders/{order['id']}")  # never filled: forgotten
    assert (gone.status_code, gone.json()) == (404, {"message": "NotFound"})
    assert client.call("DELETE", f"/orders/{order['id']}").status_code == 404


def test_market_orders_fill_and_report_fills(client):
    before = client.balances()
    placed = client.call("POST", "/orders", {"product_id": "ETH-USD", "side": "buy", "type": "market",
                                             "size": "0.5"}).json()
    assert placed["status"] == "pending" and "price" not in placed
    done = client.call("GET", f"/orders/{placed['id']}").json()
    assert (done["status"], done["done_reason"], done["filled_size"], done["settled"]) == (
        "done", "filled", "0.50000000", True)
    after = client.balances()
    assert after["ETH"]["available"] == before["ETH"]["available"] + Decimal("0.5")
    assert after["USD"]["available"] == before["USD"]["available"] - Decimal(done["executed_value"])
    fills = client.call("GET", "/fills", {"order_id": placed["id"]}).json()
    assert sum(Decimal(f["size"]) for f in fills) == Decimal("0.5")
    assert {f["liquidity"] for f in fills} == {"T"} and all(f["side"] == "buy" for f in fills)
    funds = client.call("POST", "/orders", {"product_id": "ETH-USD", "side": "sell", "type": "market",
                                            "funds": "100"}).json()
    sold = client.call("GET", f"/orders/{funds['id']}").json()
    assert sold["specified_funds"] == "100.0000000000000000" and Decimal(sold["executed_value"]) <= 100


def test_a_resting_order_filled_by_a_taker_is_done_with_maker_fills(client):
    bid, _ = best(client, "SOL-USD")
    resting = client.call("POST", "/orders", {"product_id": "SOL-USD", "side": "buy", "price": str(bid),
                                              "size": "0.1"}).json()
    book = client.public("/products/SOL-USD/book", level=2)
    through = sum(Decimal(size) for price, size, _ in book["bids"] if Decimal(price) >= bid)
    client.call("POST", "/orders", {"product_id": "SOL-USD", "side": "sell", "type": "market", "size": str(through)})
    order = client.call("GET", f"/orders/{resting['id']}").json()
    assert (order["status"], order["done_reason"], order["filled_size"]) == ("done", "filled", "0.10000000")
    fills = client.call("GET", "/fills", {"order_id": resting["id"]}).json()
    assert [f["liquidity"] for f in fills] == ["M"] and fills[0]["price"] == str(bid)


def test_post_only_ioc_fok_and_gtt(client):
    _, ask = best(client)
    crossing = client.call("POST", "/orders", {"product_id": "BTC-USD", "side": "buy", "price": str(ask),
                                               "size": "0.001", "post_only": True}).json()
    shown = client.call("GET", f"/orders/{crossing['id']}").json()
    assert (shown["status"], shown["reject_reason"]) == ("rejected", "post only")
    far = str((ask * Decimal("0.5")).quantize(Decimal("0.01")))
    for tif in ("IOC", "FOK"):  # nothing to take at half the price: cancelled unfilled, hence forgotten
        order = client.call("POST", "/orders", {"product_id": "BTC-USD", "side": "buy", "price": far,
                                                "size": "0.001", "time_in_force": tif}).json()
        assert client.call("GET", f"/orders/{order['id']}").status_code == 404
    gtt = client.call("POST", "/orders", {"product_id": "BTC-USD", "side": "buy", "price": far, "size": "0.001",
                                          "time_in_force": "GTT", "cancel_after": "min"}).json()
    assert client.call("GET", f"/orders/{gtt['id']}").json()["expire_time"] > gtt["created_at"]


def test_gtt_orders_expire():
    clock = FakeClock()
    with SimServer({}, clock) as sim:
        client = Client(sim, clock)
        bid, _ = best(client)
        order = client.call("POST", "/orders", {"product_id": "BTC-USD", "side": "buy", "size": "0.001",
                                                "price": str((bid * Decimal("0.5")).quantize(Decimal("0.01"))),
                                                "time_in_force": "GTT", "cancel_after": "min"}).json()
        assert client.call("GET", f"/orders/{order['id']}").json()["status"] == "open"
        clock.advance(61)
        deadline = time.monotonic() + 3  # the next market tick expires it
        while client.call("GET", f"/orders/{order['id']}").status_code != 404:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client.http.close()


def test_list_orders_filters_and_cursors(client):
    bid, _ = best(client)
    price = str((bid * Decimal("0.8")).quantize(Decimal("0.01")))
    ids = [client.call("POST", "/orders", {"product_id": "BTC-USD", "side": "buy", "price": price,
                                           "size": "0.001"}).json()["id"] for _ in range(3)]
    listed = client.call("GET", "/orders", {"limit": 2})
    assert [o["id"] for o in listed.json()] == ids[:0:-1]  # newest first
    assert set(listed.headers) >= {"CB-BEFORE", "CB-AFTER"}
    assert all(o["status"] == "done" for o in client.call("GET", "/orders", {"status": "done"}).json())
    assert not set(ids) & {o["id"] for o in client.call("GET", "/orders", {"status": "done"}).json()}
    cancelled = client.call("DELETE", "/orders", {"product_id": "BTC-USD"}).json()
    assert set(ids) <= set(cancelled)
    assert client.call("GET", "/orders").json() == []


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ({"product_id": "BTC-EUR", "side": "buy", "price": "1", "size": "1"}, "Invalid product_id"),
        ({"side": "buy", "price": "1", "size": "1"}, "product_id is required"),
        ({"product_id": "BTC-USD", "side": "hold", "price": "1", "size": "1"}, "Invalid side"),
        ({"product_id": "BTC-USD", "side": "buy", "type": "stop", "price": "1", "size": "1"}, "Invalid order_type"),
        ({"product_id": "BTC-USD", "side": "buy", "size": "1"}, "price is required"),
        ({"product_id": "BTC-USD", "side": "buy", "price": "-1", "size": "1"}, "Invalid price"),
        ({"product_id": "BTC-USD", "side": "buy", "price": "1.001", "size": "1"},
         "price is too accurate. Smallest unit is 0.01"),
        ({"product_id": "BTC-USD", "side": "buy", "price": "1", "size": "0.000000001"},
         "size is too accurate. Smallest unit is 0.00000001"),
        ({"product_id": "BTC-USD", "side": "buy", "price": "1", "size": "0.5"},
         "Order value is too small. Minimum is 1 USD"),
        ({"product_id": "BTC-USD", "side": "buy", "price": "90000", "size": "100"}, "Insufficient funds"),
        ({"product_id": "BTC-USD", "side": "buy", "type": "market"}, "Market orders must specify either size or funds"),
        ({"product_id": "BTC-USD", "side": "buy", "price": "1", "size": "2", "time_in_force": "GTT"},
         "Invalid cancel_after"),
        ({"product_id": "BTC-USD", "side": "buy", "price": "1", "size": "2", "client_oid": "x"}, "Invalid client_oid"),
    ],
)
def test_bad_orders_are_400_with_a_message(client, order, message):
    answer = client.call("POST", "/orders", order)
    assert (answer.status_code, answer.json()) == (400, {"message": message})


def test_bad_bodies_and_already_done_orders(server, client):
    for body in ("{not json", "[1, 2]"):
        answer = raw(server, "POST", "/orders", headers_for("POST", "/orders", body), body)
        assert (answer.status_code, answer.json()) == (400, {"message": "Invalid JSON body"})
    placed = client.call("POST", "/orders", {"product_id": "ETH-USD", "side": "buy", "type": "market",
                                             "size": "0.01"}).json()
    answer = client.call("DELETE", f"/orders/{placed['id']}")
    assert (answer.status_code, answer.json()) == (400, {"message": "Order already done"})
    assert client.call("GET", "/fills").json() == {"message": "Either product_id or order_id must be specified"}
    accounts = client.call("GET", "/accounts").json()
    assert {a["currency"] for a in accounts} >= {"USD", "BTC"}
    assert all(len(a["balance"].split(".")[1]) == 16 and a["trading_enabled"] for a in accounts)
    assert json.loads(json.dumps(accounts)) == accounts


def test_odd_header_text_and_huge_amounts_get_coinbase_errors(server, client):
    headers = headers_for("GET", "/accounts", **{"CB-ACCESS-PASSPHRASE": "pässword\udcff"})
    assert raw(server, "GET", "/accounts", {k: v.encode("utf-8", "surrogateescape") for k, v in headers.items()}
               ).json() == {"message": "Invalid Passphrase"}
    huge = client.call("POST", "/orders", {"product_id": "BTC-USD", "side": "buy", "price": "1e999999", "size": "1"})
    assert (huge.status_code, huge.json()) == (400, {"message": "Invalid price"})
