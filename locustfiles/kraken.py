"""Kraken Spot users: the Kraken adapter bound to the generic REST, order-burst and stream bases.

    locust -f locustfiles/kraken.py --host http://127.0.0.1:PORT/kraken [--ws-host ws://.../kraken/ws/v2] -u 10

Symbols are WebSocket v2 names (`BTC/USD`); REST calls use the pair's altname (`XBTUSD`). Stream kinds:
trade, ticker, book (depth 10, every checksum verified). Kraken's errors come with HTTP 200 and are
counted as failures, classified from the body (`rate_limited: EAPI:Rate limit exceeded HTTP 200`, ...).
Signed users read KRAKEN_API_KEY and KRAKEN_API_SECRET (base64) from the environment or .env.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from decimal import Decimal

from locust import between, task

from exchanges.base import StreamMessage, SymbolRules
from exchanges.kraken import (
    ADAPTER,
    limit_order_params,
    order_txid,
    parse_last_price,
    parse_pair_rules,
    ping_message,
    pong_clock_offset_ms,
    rest_pair,
)
from loadgen import plugin
from loadgen.options import OrderEndpoint
from loadgen.pacing.cluster_budget import unless_paced
from loadgen.users.burst import BurstUser
from loadgen.users.mix import DEFAULT_MIX
from loadgen.users.rest import ExchangeRestUser
from loadgen.users.stream import StreamUser
from loadgen.users.ws_orders import WsOrderUser

plugin.install(ADAPTER)

ORDER_PRICE_OFFSET = Decimal("0.005")  # limit orders 0.5% away from the last price: near, but resting
PING_INTERVAL_S = 5.0  # how often a subscriber pings: each pong is another clock-offset sample


class KrakenRestPoller(ExchangeRestUser):
    """Market data over REST, in proportions a polling client would use."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.poller
    open_model = True  # paced by --target-rps and the rate scenarios, like Binance's poller
    wait_time = unless_paced(between(1, 3))

    def _pair(self) -> str:
        return rest_pair(random.choice(self.runtime.settings.symbols))

    @task(10)
    def ticker(self) -> None:
        self.request("Ticker", {"pair": self._pair()})

    @task(3)
    def depth(self) -> None:
        self.request("Depth", {"pair": self._pair(), "count": 100})

    @task(1)
    def trades(self) -> None:
        self.request("Trades", {"pair": self._pair(), "count": 100})

    @task(2)
    def ohlc(self) -> None:
        self.request("OHLC", {"pair": self._pair(), "interval": 1})


@dataclass(frozen=True, slots=True)
class Burst:
    pair: str  # as the orders name it: the REST altname (XBTUSD) for AddOrder, the v2 symbol (BTC/USD) over WebSocket
    rules: SymbolRules
    price: Decimal


def pair_rules(user: ExchangeRestUser, pair: str) -> SymbolRules | None:
    """The pair's tick, lot step and minimums from AssetPairs, fetched once per process."""
    key = f"rules:{pair}"
    rules = user.runtime.cache.get(key)
    if rules is None:
        reply = user.request("AssetPairs", {"pair": pair}, parse=parse_pair_rules)
        if reply.ok:
            rules = user.runtime.cache[key] = reply.parsed
    return rules


class KrakenBurstTrader(BurstUser):
    """Bursts of small limit orders near the last price: AddOrder with validate=true by default (Kraken has no
    Spot sandbox); with --order-endpoint live, real orders, each cancelled again, against the simulator only."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.trader

    def prepare_burst(self) -> Burst | None:
        pair = rest_pair(random.choice(self.runtime.settings.symbols))
        rules = pair_rules(self, pair)
        if rules is None:
            return None
        reply = self.request("Ticker", {"pair": pair}, parse=parse_last_price)
        return Burst(pair, rules, reply.parsed) if reply.ok else None

    def send_order(self, plan: Burst, index: int) -> None:
        side = "buy" if index % 2 == 0 else "sell"
        price = plan.price * (1 - ORDER_PRICE_OFFSET if side == "buy" else 1 + ORDER_PRICE_OFFSET)
        validate = self.runtime.settings.order_endpoint is OrderEndpoint.TEST
        params = limit_order_params(plan.pair, side, plan.rules.price_text(price),
                                    plan.rules.smallest_quantity_text(price), validate)
        reply = self.request("AddOrder", params, parse=order_txid)
        if reply.ok and reply.parsed is not None:
            self.request("CancelOrder", {"txid": reply.parsed})


class KrakenWsTrader(WsOrderUser):
    """Bursts of orders over the authenticated WebSocket v2 (add_order) on one session per user, with the account's
    executions channel on the same connection (its token from GetWebSocketsToken first): small market orders,
    buys and sells in turn (NEW, TRADE, FILLED), and every third a limit IOC order away from the price (NEW, then
    CANCELED). Real orders on the per-pair trading counter: the simulator only (Kraken has no Spot sandbox). Not in
    the default mix (weight 0): run it by name, e.g. `locust -f locustfiles/ws_orders.py KrakenWsTrader`."""

    adapter = ADAPTER
    weight = 0

    def prepare_burst(self) -> Burst | None:
        symbol = random.choice(self.runtime.settings.symbols)
        pair = rest_pair(symbol)
        rules = pair_rules(self, pair)
        if rules is None:
            return None
        reply = self.request("Ticker", {"pair": pair}, parse=parse_last_price)
        return Burst(symbol, rules, reply.parsed) if reply.ok else None

    def order_params(self, plan: Burst, index: int, client_order_id: str) -> dict[str, object]:
        side = "buy" if index % 2 == 0 else "sell"
        params: dict[str, object] = {"symbol": plan.pair, "side": side, "cl_ord_id": client_order_id,
                                     "order_qty": float(plan.rules.smallest_quantity_text(plan.price))}
        if index % 3 != 2:
            return params | {"order_type": "market"}
        away = plan.price * (1 - ORDER_PRICE_OFFSET if side == "buy" else 1 + ORDER_PRICE_OFFSET)
        return params | {"order_type": "limit", "time_in_force": "ioc",
                         "limit_price": float(plan.rules.price_text(away))}


class KrakenWsSubscriber(StreamUser):
    """The chosen symbols x stream kinds on one WebSocket v2 connection, with checksum-verified books.

    Event latency is corrected by the clock offset: first from Time (whole seconds, so within about
    half a second), then from pings, whose pongs carry the server's times in microseconds: the pong
    with the shortest round trip so far gives the offset, as NTP does."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.subscriber

    best_round_trip_ms = math.inf
    last_ping_at = -math.inf  # monotonic seconds

    def _on_connect(self, reconnected: bool) -> None:
        super()._on_connect(reconnected)
        self._ping()

    @task
    def ping(self) -> None:
        if time.monotonic() - self.last_ping_at >= PING_INTERVAL_S:
            self._ping()

    def _ping(self) -> None:
        if self.subscription is not None and self.subscription.send(ping_message(time.time_ns() // 1000)):
            self.last_ping_at = time.monotonic()  # the req_id above is the send time in microseconds

    def _on_message(self, message: StreamMessage) -> None:
        if message.stream != "pong":
            super()._on_message(message)
            return
        received_ms = time.time() * 1000
        sent_ms = int(message.data.get("req_id") or 0) / 1000
        round_trip_ms = received_ms - sent_ms
        if sent_ms and 0 <= round_trip_ms < self.best_round_trip_ms and self.subscription is not None:
            self.best_round_trip_ms = round_trip_ms
            self.clock_offset_ms = self.subscription.clock_offset_ms = pong_clock_offset_ms(
                sent_ms, received_ms, message.data
            )
