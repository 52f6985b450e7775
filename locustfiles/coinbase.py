"""Coinbase Exchange users: the Coinbase adapter bound to the generic REST, order-burst and stream bases.

    locust -f locustfiles/coinbase.py --host http://127.0.0.1:PORT/coinbase [--ws-host ws://...] -u 10

Symbols are product ids (`BTC-USD`); stream kinds are feed channels: heartbeat, ticker, level2_batch,
matches. Coinbase's limits are token buckets of requests, so polite users' "weight" is requests: by
default 10 per 1 s window, the public bucket's rate (`--weight-limit`, `--weight-window-s`).
Signed users read COINBASE_API_KEY, COINBASE_API_SECRET (base64) and COINBASE_API_PASSPHRASE from the
environment or .env. Coinbase Exchange has no order-test endpoint: the burst trader places real post-only
orders (cancelling those that rest) whatever `--order-endpoint` says, so it runs only against the
simulator or the sandbox. So does CoinbaseFeedTrader (weight 0: run it by name through locustfiles/ws_orders.py),
which follows its REST orders on the authenticated `user` feed channel.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from locust import between, task

from exchanges.base import StreamMessage, SymbolRules
from exchanges.coinbase import (
    ADAPTER,
    FeedMonitor,
    limit_order_params,
    parse_product_rules,
    parse_ticker_price,
    resting_order_id,
)
from loadgen import plugin, runtime
from loadgen.pacing.cluster_budget import unless_paced
from loadgen.users.burst import BurstUser
from loadgen.users.feed_orders import FeedOrderUser
from loadgen.users.mix import DEFAULT_MIX
from loadgen.users.rest import ExchangeRestUser
from loadgen.users.stream import StreamUser

plugin.install(ADAPTER)

ORDER_PRICE_OFFSET = Decimal("0.005")  # limit orders 0.5% away from the last price: near, but resting


class CoinbaseRestPoller(ExchangeRestUser):
    """Market data over REST, in proportions a polling client would use."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.poller
    open_model = True  # paced by --target-rps and the rate scenarios, like Binance's poller
    wait_time = unless_paced(between(0.5, 1.5))

    def _product(self) -> str:
        return random.choice(self.runtime.settings.symbols)

    @task(10)
    def ticker(self) -> None:
        self.request("ticker", {"product_id": self._product()})

    @task(3)
    def book(self) -> None:
        self.request("book", {"product_id": self._product(), "level": 2})

    @task(2)
    def trades(self) -> None:
        self.request("trades", {"product_id": self._product(), "limit": 100})

    @task(1)
    def candles(self) -> None:
        self.request("candles", {"product_id": self._product(), "granularity": 60})

    @task(1)
    def stats(self) -> None:
        self.request("stats", {"product_id": self._product()})


@dataclass(frozen=True, slots=True)
class Burst:
    product_id: str
    rules: SymbolRules
    price: Decimal


class CoinbaseBurstTrader(BurstUser):
    """Bursts of small post-only limit orders near the last price, each cancelled again if it rests."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.trader

    def on_start(self) -> None:
        if self.host and self.adapter.target_kind(self.host) not in runtime.LIVE_ORDER_TARGETS:
            self.refuse(
                f"coinbase: {self.host} is not the simulator or the sandbox; Coinbase Exchange has no "
                "order-test endpoint, so burst traders (real orders) run only there"
            )
            return
        super().on_start()

    def prepare_burst(self) -> Burst | None:
        return plan_burst(self)

    def send_order(self, plan: Burst, index: int) -> None:
        side = "buy" if index % 2 == 0 else "sell"
        price = plan.price * (1 - ORDER_PRICE_OFFSET if side == "buy" else 1 + ORDER_PRICE_OFFSET)
        params = limit_order_params(
            plan.product_id, side, plan.rules.price_text(price), plan.rules.smallest_quantity_text(price)
        )
        reply = self.request("orders", params)
        order_id = resting_order_id(reply.body) if reply.ok else None
        if order_id is not None:
            self.request("order DELETE", {"order_id": order_id})



class CoinbaseFeedTrader(FeedOrderUser):
    """Bursts of REST orders followed on the authenticated `user` feed channel (one subscription per user): small
    market orders, buys and sells in turn (received, match, done), and between them post-only limit orders away
    from the price, cancelled once acknowledged (received, open, done). Measures order->ack (the REST round trip)
    and order->event for each state. Real orders: the simulator or the sandbox only. Not in the default mix
    (weight 0): run it by name, e.g. `locust -f locustfiles/ws_orders.py CoinbaseFeedTrader`."""

    adapter = ADAPTER
    weight = 0

    def plan_burst(self) -> Burst | None:
        return plan_burst(self)

    def order_params(self, plan: Burst, index: int, client_order_id: str) -> dict[str, str]:
        side = "buy" if index % 4 < 2 else "sell"
        if index % 2 == 0:  # sized at a price a little lower: the order's value is checked at the price it trades at
            size = plan.rules.smallest_quantity_text(plan.price * (1 - ORDER_PRICE_OFFSET))
            return {"type": "market", "side": side, "product_id": plan.product_id, "size": size,
                    "client_oid": client_order_id}
        price = plan.price * (1 - ORDER_PRICE_OFFSET if side == "buy" else 1 + ORDER_PRICE_OFFSET)
        params = limit_order_params(plan.product_id, side, plan.rules.price_text(price),
                                    plan.rules.smallest_quantity_text(price))
        return params | {"client_oid": client_order_id}

    def after_ack(self, plan: Burst, index: int, order_id: str) -> None:
        if index % 2 == 1:  # the limit order rests: take it out again
            self.request("order DELETE", {"order_id": order_id})


def plan_burst(user: ExchangeRestUser) -> Burst | None:
    """A random product of the test's, its rules and its last price; None (skip the burst) when one is missing."""
    product_id = random.choice(user.runtime.settings.symbols)
    rules = product_rules(user, product_id)
    if rules is None:
        return None
    reply = user.request("ticker", {"product_id": product_id}, parse=parse_ticker_price)
    return Burst(product_id, rules, reply.parsed) if reply.ok else None


def product_rules(user: ExchangeRestUser, product_id: str) -> SymbolRules | None:
    """The product's increments and minimum order value, fetched once per process."""
    key = f"rules:{product_id}"
    rules = user.runtime.cache.get(key)
    if rules is None:
        reply = user.request("product", {"product_id": product_id}, parse=parse_product_rules)
        if reply.ok:
            rules = user.runtime.cache[key] = reply.parsed
    return rules


class CoinbaseWsSubscriber(StreamUser):
    """The chosen products x channels on one feed connection. Missed matches (trade ids skipped, or a
    heartbeat ahead of them), out-of-order messages and a crossed level2 book are ws_gap failures, and the
    stream concerned is resubscribed."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.subscriber

    feed: FeedMonitor

    def on_start(self) -> None:
        self.feed = FeedMonitor()
        super().on_start()

    def _on_message(self, message: StreamMessage) -> None:
        problem = self.feed.check(message)
        if problem is not None:
            self._report_gap(problem.stream, problem.verdict)
            self.feed.restart(problem.stream)
            self._resubscribe(problem.stream)

    def _on_connect(self, reconnected: bool) -> None:
        self.feed.reset()  # a new connection subscribes afresh: snapshots and last matches follow
