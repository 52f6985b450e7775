"""Bybit v5 spot users: the Bybit adapter bound to the generic REST, order-burst and stream bases.

    locust -f locustfiles/bybit.py --host http://127.0.0.1:PORT/bybit [--ws-host ws://.../bybit/v5/public/spot] -u 10

Symbols are Bybit's (`BTCUSDT`); every request carries `category=spot`. Stream kinds: trade (`publicTrade.*`),
ticker (`tickers.*`) and orderbook (`orderbook.50.*`, every delta's update id checked against the last one).
Bybit counts requests, not weights: polite users stay under the IP limit, 600 requests per 5 s. Its errors come
with HTTP 200 and are classified from `retCode` (`rate_limited: 10006 HTTP 200`); over the IP limit it answers
HTTP 403 and bans the IP (`banned`). Bybit has no order-test endpoint: the burst trader places real post-only
orders (cancelling those that rest), so it runs only against the simulator or the testnet.
Signed users read BYBIT_API_KEY and BYBIT_API_SECRET from the environment or .env.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from decimal import Decimal

from locust import between, task

from exchanges.base import SymbolRules
from exchanges.bybit import (
    ADAPTER,
    CATEGORY,
    PING_INTERVAL_S,
    limit_order_params,
    order_id,
    parse_instrument_rules,
    parse_last_price,
    ping_message,
)
from loadgen import plugin, runtime
from loadgen.pacing.cluster_budget import unless_paced
from loadgen.users.burst import BurstUser
from loadgen.users.mix import DEFAULT_MIX
from loadgen.users.rest import ExchangeRestUser
from loadgen.users.stream import StreamUser

plugin.install(ADAPTER)

ORDER_PRICE_OFFSET = Decimal("0.005")  # limit orders 0.5% away from the last price: near, but resting


class BybitRestPoller(ExchangeRestUser):
    """Market data over REST, in proportions a polling client would use."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.poller
    open_model = True  # paced by --target-rps and the rate scenarios, like the other pollers
    wait_time = unless_paced(between(0.5, 1.5))

    def _symbol(self) -> str:
        return random.choice(self.runtime.settings.symbols)

    @task(10)
    def tickers(self) -> None:
        self.request("market/tickers", {"category": CATEGORY, "symbol": self._symbol()})

    @task(3)
    def orderbook(self) -> None:
        self.request("market/orderbook", {"category": CATEGORY, "symbol": self._symbol(), "limit": 50})

    @task(2)
    def recent_trade(self) -> None:
        self.request("market/recent-trade", {"category": CATEGORY, "symbol": self._symbol(), "limit": 60})

    @task(1)
    def kline(self) -> None:
        self.request("market/kline", {"category": CATEGORY, "symbol": self._symbol(), "interval": "1"})


@dataclass(frozen=True, slots=True)
class Burst:
    symbol: str
    rules: SymbolRules
    price: Decimal


class BybitBurstTrader(BurstUser):
    """Bursts of small post-only limit orders near the last price, each cancelled again."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.trader

    def on_start(self) -> None:
        if self.host and self.adapter.target_kind(self.host) not in runtime.LIVE_ORDER_TARGETS:
            self.refuse(
                f"bybit: {self.host} is not the simulator or the testnet; Bybit has no order-test endpoint, so "
                "burst traders (real orders) run only there"
            )
            return
        super().on_start()

    def prepare_burst(self) -> Burst | None:
        symbol = random.choice(self.runtime.settings.symbols)
        rules = self._rules(symbol)
        if rules is None:
            return None
        reply = self.request("market/tickers", {"category": CATEGORY, "symbol": symbol}, parse=parse_last_price)
        return Burst(symbol, rules, reply.parsed) if reply.ok else None

    def send_order(self, plan: Burst, index: int) -> None:
        side = "Buy" if index % 2 == 0 else "Sell"
        price = plan.price * (1 - ORDER_PRICE_OFFSET if side == "Buy" else 1 + ORDER_PRICE_OFFSET)
        params = limit_order_params(plan.symbol, side, plan.rules.price_text(price),
                                    plan.rules.smallest_quantity_text(price))
        params["timeInForce"] = "PostOnly"
        reply = self.request("order/create", params, parse=order_id)
        if reply.ok:
            self.request("order/cancel", {"category": CATEGORY, "symbol": plan.symbol, "orderId": reply.parsed})

    def _rules(self, symbol: str) -> SymbolRules | None:
        """The instrument's tick, quantity step and minimums, fetched once per process."""
        key = f"rules:{symbol}"
        rules = self.runtime.cache.get(key)
        if rules is None:
            reply = self.request("market/instruments-info", {"category": CATEGORY, "symbol": symbol},
                                 parse=parse_instrument_rules)
            if reply.ok:
                rules = self.runtime.cache[key] = reply.parsed
        return rules


class BybitWsSubscriber(StreamUser):
    """The chosen symbols x topics on one public spot connection, with sequence-checked books; it sends
    `{"op":"ping"}` every 20 s, as Bybit recommends."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.subscriber

    last_ping_at = 0.0  # monotonic seconds

    def on_start(self) -> None:
        self.last_ping_at = time.monotonic()
        super().on_start()

    @task
    def ping(self) -> None:
        due = time.monotonic() - self.last_ping_at >= PING_INTERVAL_S
        if due and self.subscription is not None and self.subscription.send(ping_message()):
            self.last_ping_at = time.monotonic()
