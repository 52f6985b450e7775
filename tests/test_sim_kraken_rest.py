"""The simulated Kraken REST API: published shapes and types, errors with HTTP 200, the public and private
decaying counters per tier, signing and nonces, lockout, and orders (validate, rest, cancel, trading counter)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from exchanges.kraken import NONCES, PAIRS, sign_request, simulator_credentials
from simulator.app import SIMS
from tests.support.simserver import FakeClock, SimServer

START = 1_800_000_000.0
KEY, SECRET = simulator_credentials({})
PLENTY = {"public": {"max_counter": 100_000.0}}  # public calls never limited, for tests about something else


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer({"kraken": {"rate_limits": PLENTY}}) as server:
        wait_for_trades(server)
        yield server


def kraken(server: SimServer) -> Any:
    assert server.app is not None
    return next(s for s in server.app[SIMS] if s.name == "kraken")


def wait_for_trades(server: SimServer) -> None:
    deadline = time.monotonic() + 5
    while any(sum(t.time_ms >= sym.start_ms for t in sym.trades) < 5 for sym in kraken(server).market.symbols.values()):
        assert time.monotonic() < deadline, "the market did not trade"
        time.sleep(0.05)


def public(http: requests.Session, server: SimServer, method: str, **params: Any) -> requests.Response:
    return http.get(f"{server.url}/kraken/0/public/{method}", params=params, timeout=10)


def private(http: requests.Session, server: SimServer, method: str, key: str = KEY, secret: str = SECRET,
            nonce: int | None = None, **params: Any) -> requests.Response:
    path = f"/0/private/{method}"
    signed = sign_request(key, secret, params, NONCES.next() if nonce is None else nonce, path)
    return http.post(f"{server.url}/kraken{path}", data=signed.body, headers=signed.headers, timeout=10)


def result(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["error"] == [], payload
    return payload["result"]


def error(response: requests.Response, status: int = 200) -> str:
    assert response.status_code == status, response.text
    payload = response.json()
    assert "result" not in payload and len(payload["error"]) == 1
    return payload["error"][0]


# --- public shapes ---------------------------------------------------------------------------------


def test_time_assets_and_asset_pairs(http: requests.Session, sim: SimServer) -> None:
    time_result = result(public(http, sim, "Time"))
    assert isinstance(time_result["unixtime"], int) and time_result["rfc1123"].endswith(" +0000")
    assets = result(public(http, sim, "Assets"))
    assert assets["XXBT"] == {"aclass": "currency", "altname": "XBT", "decimals": 10, "display_decimals": 5,
                              "status": "enabled"}
    assert set(result(public(http, sim, "Assets", asset="XBT,ZUSD"))) == {"XXBT", "ZUSD"}
    assert error(public(http, sim, "Assets", asset="NOPE")) == "EQuery:Unknown asset"
    pairs = result(public(http, sim, "AssetPairs"))
    assert set(pairs) == set(PAIRS)
    btc = pairs["XXBTZUSD"]
    assert (btc["altname"], btc["wsname"], btc["base"], btc["quote"]) == ("XBTUSD", "XBT/USD", "XXBT", "ZUSD")
    assert btc["pair_decimals"] == 1 and btc["lot_decimals"] == 8 and btc["tick_size"] == "0.1"
    assert isinstance(btc["ordermin"], str) and isinstance(btc["fees"][0][1], float)
    for name in ("XXBTZUSD", "XBTUSD", "XBT/USD", "BTC/USD"):  # every name of a pair finds it
        assert set(result(public(http, sim, "AssetPairs", pair=name))) == {"XXBTZUSD"}
    assert set(result(public(http, sim, "AssetPairs", pair="XBTUSD", info="fees"))["XXBTZUSD"]) == {
        "fees", "fees_maker", "fee_volume_currency"}


def test_ticker_depth_trades_and_ohlc_have_the_published_types(http: requests.Session, sim: SimServer) -> None:
    ticker = result(public(http, sim, "Ticker", pair="XBTUSD"))["XXBTZUSD"]
    for field in "abcvplh":
        assert all(isinstance(v, str) for v in ticker[field]), field
    assert len(ticker["a"]) == 3 and len(ticker["c"]) == 2 and isinstance(ticker["o"], str)
    assert all(isinstance(v, int) for v in ticker["t"])
    assert float(ticker["b"][0]) < float(ticker["a"][0])
    assert set(result(public(http, sim, "Ticker"))) == set(PAIRS)  # no pair: every pair

    depth = result(public(http, sim, "Depth", pair="XBTUSD", count=5))["XXBTZUSD"]
    assert len(depth["asks"]) == 5 and len(depth["bids"]) == 5
    price, volume, stamp = depth["asks"][0]
    assert isinstance(price, str) and isinstance(volume, str) and isinstance(stamp, int)
    assert float(depth["bids"][0][0]) < float(price)
    assert [float(a[0]) for a in depth["asks"]] == sorted(float(a[0]) for a in depth["asks"])
    assert len(result(public(http, sim, "Depth", pair="XBTUSD"))["XXBTZUSD"]["bids"]) == 60  # the model's depth

    trades = result(public(http, sim, "Trades", pair="XBTUSD", count=3))
    rows = trades["XXBTZUSD"]
    assert len(rows) == 3 and isinstance(trades["last"], str)
    price, volume, when, side, kind, misc, trade_id = rows[-1]
    assert isinstance(price, str) and isinstance(volume, str) and isinstance(when, float)
    assert side in ("b", "s") and kind in ("m", "l") and misc == "" and isinstance(trade_id, int)
    after = result(public(http, sim, "Trades", pair="XBTUSD", since=trades["last"]))["XXBTZUSD"]
    assert all(r[6] > trade_id for r in after)  # `last` pages on

    ohlc = result(public(http, sim, "OHLC", pair="XBTUSD", interval=60))
    rows = ohlc["XXBTZUSD"]
    assert len(rows) == 720 and isinstance(ohlc["last"], int)
    assert rows[-2][0] == ohlc["last"] and rows[-1][0] - rows[-2][0] == 3600  # the last row is still open
    stamp, *prices, _volume, count = rows[-1]
    assert isinstance(stamp, int) and all(isinstance(v, str) for v in prices) and isinstance(count, int)
    recent = result(public(http, sim, "OHLC", pair="XBTUSD", interval=60, since=rows[-3][0]))["XXBTZUSD"]
    assert [r[0] for r in recent] == [rows[-2][0], rows[-1][0]]


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        ("Ticker", {"pair": "FOOBAR"}, "EQuery:Unknown asset pair"),
        ("Depth", {}, "EGeneral:Invalid arguments:pair"),
        ("Depth", {"pair": "XBTUSD", "count": "x"}, "EGeneral:Invalid arguments:count"),
        ("OHLC", {"pair": "XBTUSD", "interval": "7"}, "EGeneral:Invalid arguments:interval"),
        ("Trades", {"pair": "XBTUSD,ETHUSD"}, "EGeneral:Invalid arguments:pair"),
        ("Trades", {"pair": "XBTUSD", "since": "inf"}, "EGeneral:Invalid arguments:since"),
    ],
)
def test_bad_input_is_answered_in_the_envelope_with_http_200(http, sim, method, params, expected) -> None:
    assert error(public(http, sim, method, **params)) == expected


def test_unknown_methods_and_stats(http: requests.Session, sim: SimServer) -> None:
    assert error(http.get(f"{sim.url}/kraken/0/public/Nothing", timeout=10), 404) == "EGeneral:Unknown method"
    assert error(http.get(f"{sim.url}/kraken/0/private/Balance", timeout=10), 404) == "EGeneral:Unknown method"
    public(http, sim, "Ticker", pair="FOOBAR")
    stats = http.get(f"{sim.url}/__sim/stats", timeout=10).json()["exchanges"]["kraken"]
    assert stats["by_error"]["EQuery:Unknown asset pair"] == 1 and stats["by_error"]["EGeneral:Unknown method"] == 2
    assert stats["by_status"]["200"] == 1 and stats["by_status"]["404"] == 2 and stats["requests_total"] == 3


# --- limits ------------------------------------------------------------------------------------------


def test_public_counter_per_ip_answers_too_many_requests_with_http_200_then_decays(http: requests.Session) -> None:
    clock = FakeClock(START)
    with SimServer({"kraken": {"rate_limits": {"public": {"max_counter": 5.0, "decay_per_s": 1.0}}}}, clock) as sim:
        assert all(result(public(http, sim, "Time")) for _ in range(5))
        assert error(public(http, sim, "Ticker", pair="XBTUSD")) == "EGeneral:Too many requests"
        assert result(public(http, sim, "Trades", pair="XBTUSD"))  # Trades and OHLC count per IP and pair
        clock.advance(1.0)
        assert result(public(http, sim, "Time"))
        assert error(public(http, sim, "Time")) == "EGeneral:Too many requests"
        stats = kraken(sim).stats
        assert stats.rate_limited == 2 and stats.by_error["EGeneral:Too many requests"] == 2
        assert stats.by_status["200"] == stats.requests_total == 9


@pytest.mark.parametrize(("tier", "max_counter", "decay_per_s"), [("starter", 15, 0.33), ("pro", 20, 1.0)])
def test_private_call_counter_per_tier(http: requests.Session, tier: str, max_counter: int, decay_per_s: float) -> None:
    clock = FakeClock(START)
    with SimServer({"kraken": {"rate_limits": {"tier": tier}}}, clock) as sim:
        assert all(result(private(http, sim, "Balance")) for _ in range(max_counter))
        assert error(private(http, sim, "Balance")) == "EAPI:Rate limit exceeded"
        clock.advance(0.9 / decay_per_s)
        assert error(private(http, sim, "OpenOrders")) == "EAPI:Rate limit exceeded"
        clock.advance(0.2 / decay_per_s)  # a whole call has drained
        assert "open" in result(private(http, sim, "OpenOrders"))
        assert error(private(http, sim, "Balance")) == "EAPI:Rate limit exceeded"
        order = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "1000.0", "volume": "0.01",
                 "validate": "true"}
        assert result(private(http, sim, "AddOrder", **order))  # orders are not charged to the call counter
        assert kraken(sim).stats.rate_limited == 3


# --- signing ---------------------------------------------------------------------------------------


def test_invalid_key_signature_and_nonce(http: requests.Session, sim: SimServer) -> None:
    assert error(private(http, sim, "Balance", key="unknown")) == "EAPI:Invalid key"
    wrong_secret = "c2ltS3Jha2VuV3JvbmdTZWNyZXQ="
    assert error(private(http, sim, "Balance", secret=wrong_secret)) == "EAPI:Invalid signature"
    nonce = NONCES.next()
    assert result(private(http, sim, "Balance", nonce=nonce))
    assert error(private(http, sim, "Balance", nonce=nonce)) == "EAPI:Invalid nonce"  # a replay
    assert error(private(http, sim, "Balance", nonce=nonce - 1)) == "EAPI:Invalid nonce"  # a smaller one
    assert result(private(http, sim, "Balance", nonce=nonce + 1))
    unsigned = http.post(f"{sim.url}/kraken/0/private/Balance", data="nonce=1", timeout=10,
                         headers={"API-Key": KEY, "API-Sign": "not base64!"})
    assert error(unsigned) == "EAPI:Invalid signature"


def test_a_nonce_window_accepts_late_nonces_once(http: requests.Session) -> None:
    with SimServer({"kraken": {"nonce_window": 1000, "rate_limits": PLENTY}}) as sim:
        nonce = NONCES.next() + 10_000
        assert result(private(http, sim, "Balance", nonce=nonce))
        assert result(private(http, sim, "Balance", nonce=nonce - 500))  # late, but inside the window
        assert error(private(http, sim, "Balance", nonce=nonce - 500)) == "EAPI:Invalid nonce"  # not twice
        assert error(private(http, sim, "Balance", nonce=nonce - 1000)) == "EAPI:Invalid nonce"  # outside


def test_repeated_invalid_keys_lock_the_ip_out(http: requests.Session) -> None:
    clock = FakeClock(START)
    config = {"kraken": {"lockout": {"failures": 3, "window_s": 60, "lockout_s": 30}}}
    with SimServer(config, clock) as sim:
        assert [error(private(http, sim, "Balance", key="bad")) for _ in range(3)] == ["EAPI:Invalid key"] * 3
        assert error(private(http, sim, "Balance")) == "EGeneral:Temporary lockout"  # even with a good key
        clock.advance(30)
        assert result(private(http, sim, "Balance"))


# --- orders --------------------------------------------------------------------------------------


def limit_order(price: str, volume: str = "0.01", side: str = "buy", **extra: str) -> dict[str, str]:
    return {"pair": "XBTUSD", "type": side, "ordertype": "limit", "price": price, "volume": volume, **extra}


def best(sim: SimServer, side: str) -> float:
    sym = kraken(sim).market.symbols["XXBTZUSD"]
    return (sym.best_bid() if side == "bid" else sym.best_ask()) * sym.spec.tick_size


def test_validate_checks_an_order_and_places_nothing(http: requests.Session, sim: SimServer) -> None:
    before = result(private(http, sim, "Balance"))
    answer = result(private(http, sim, "AddOrder", **limit_order("1000.0", validate="true")))
    assert answer == {"descr": {"order": "buy 0.01000000 XBTUSD @ limit 1000.0"}}
    assert result(private(http, sim, "OpenOrders")) == {"open": {}}
    assert result(private(http, sim, "Balance")) == before
    assert before["ZUSD"] == "100000.0000" and before["XXBT"] == "1.0000000000"


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (limit_order("1000.05"), "EOrder:Invalid price:XBTUSD price can only be specified up to 1 decimals."),
        (limit_order("1000.0", volume="0.00001"), "EOrder:Order minimum not met"),
        (limit_order("1000.0", volume="0.0001"), "EOrder:Cost minimum not met"),
        (limit_order("90000.0", volume="100"), "EOrder:Insufficient funds"),
        (limit_order("1000.0", side="short"), "EGeneral:Invalid arguments:type"),
        ({**limit_order("1000.0"), "ordertype": "stop-loss"}, "EGeneral:Invalid arguments:ordertype"),
        ({**limit_order("1000.0"), "pair": "NOPE"}, "EQuery:Unknown asset pair"),
        ({**limit_order("1000.0"), "volume": "1e-3"}, "EGeneral:Invalid arguments:volume"),
    ],
)
def test_orders_are_validated_like_kraken(http, sim, order, expected) -> None:
    assert error(private(http, sim, "AddOrder", validate="true", **order)) == expected


def test_a_resting_order_is_listed_holds_funds_and_cancels(http: requests.Session, sim: SimServer) -> None:
    price = f"{round(best(sim, 'bid') * 0.9, 1):.1f}"
    placed = result(private(http, sim, "AddOrder", **limit_order(price, userref="42")))
    (txid,) = placed["txid"]
    assert txid.startswith("O") and len(txid) == 19 and placed["descr"]["order"].startswith("buy 0.01000000 XBTUSD")
    info = result(private(http, sim, "OpenOrders"))["open"][txid]
    assert info["status"] == "open" and info["userref"] == 42 and info["vol"] == "0.01000000"
    assert info["descr"]["pair"] == "XBTUSD" and info["descr"]["price"] == price and info["vol_exec"] == "0.00000000"
    account = kraken(sim).trading.accounts[KEY]
    assert account.balances["ZUSD"].hold > 0
    assert result(private(http, sim, "CancelOrder", txid=txid)) == {"count": 1}
    assert account.balances["ZUSD"].hold == 0
    assert error(private(http, sim, "CancelOrder", txid=txid)) == "EOrder:Unknown order"
    assert result(private(http, sim, "OpenOrders")) == {"open": {}}


def test_a_marketable_order_trades_at_once(http: requests.Session, sim: SimServer) -> None:
    price = f"{round(best(sim, 'ask') * 1.01, 1):.1f}"
    placed = result(private(http, sim, "AddOrder", **limit_order(price, volume="0.001")))
    assert placed["txid"] and result(private(http, sim, "OpenOrders")) == {"open": {}}
    balance = result(private(http, sim, "Balance"))
    assert balance["XXBT"] == "1.0010000000" and float(balance["ZUSD"]) < 100_000


def test_quick_cancels_fill_the_trading_counter(http: requests.Session) -> None:
    clock = FakeClock(START)
    with SimServer({"kraken": {"rate_limits": PLENTY}}, clock) as sim:
        wait_for_trades(sim)
        price = f"{round(best(sim, 'bid') * 0.9, 1):.1f}"
        codes = []
        for _ in range(10):  # each order: +1 to place, +8 to cancel within 5 s; the Starter threshold is 60
            txid = result(private(http, sim, "AddOrder", **limit_order(price)))["txid"][0]
            errors = private(http, sim, "CancelOrder", txid=txid).json()["error"]
            codes.append(errors[0] if errors else "ok")
            if errors:
                break
        assert codes == ["ok"] * 6 + ["EOrder:Rate limit exceeded"]  # the 7th cancel would reach 63
        assert kraken(sim).stats.by_error["EOrder:Rate limit exceeded"] == 1
