"""Binance Spot users: the Binance adapter bound to the generic REST, order-burst and stream bases.

    locust -f locustfiles/binance.py --host http://127.0.0.1:PORT/binance [--ws-host ws://...] -u 10

Options (also in the web UI): --symbols --streams --mode --ws-host --order-burst --order-pause
--order-endpoint --weight-budget --weight-limit --weight-window-s --recv-window (see loadgen/options.py).
Signed users read BINANCE_API_KEY and BINANCE_API_SECRET from the environment or .env.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from locust import between, task

from exchanges.base import SymbolRules
from exchanges.binance import (
    ADAPTER,
    limit_order_params,
    parse_symbol_rules,
    parse_ticker_price,
    resting_order_id,
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


class BinanceRestPoller(ExchangeRestUser):
    """Market data over REST, in proportions a polling client would use. With a target rate (a scenario or
    --target-rps) its requests go out on the cluster-wide schedule (open model)."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.poller
    open_model = True
    wait_time = unless_paced(between(0.5, 1.5))

    def _symbol(self) -> str:
        return random.choice(self.runtime.settings.symbols)

    @task(10)
    def ticker_price(self) -> None:
        self.request("ticker/price", {"symbol": self._symbol()})

    @task(5)
    def book_ticker(self) -> None:
        self.request("ticker/bookTicker", {"symbol": self._symbol()})

    @task(3)
    def depth(self) -> None:
        self.request("depth", {"symbol": self._symbol(), "limit": 100})

    @task(1)
    def trades(self) -> None:
        self.request("trades", {"symbol": self._symbol(), "limit": 100})

    @task(2)
    def klines(self) -> None:
        self.request("klines", {"symbol": self._symbol(), "interval": "1m", "limit": 100})


@dataclass(frozen=True, slots=True)
class Burst:
    symbol: str
    rules: SymbolRules
    price: Decimal


class BinanceBurstTrader(BurstUser):
    """Bursts of small LIMIT orders near the last price: order/test by default, with --order-endpoint live
    real orders (each cancelled again if it rests), against the simulator or a testnet only."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.trader

    def prepare_burst(self) -> Burst | None:
        return prepare_burst(self)

    def send_order(self, plan: Burst, index: int) -> None:
        side = "BUY" if index % 2 == 0 else "SELL"
        price = plan.price * (1 - ORDER_PRICE_OFFSET if side == "BUY" else 1 + ORDER_PRICE_OFFSET)
        params = limit_order_params(
            plan.symbol, side, plan.rules.price_text(price), plan.rules.smallest_quantity_text(price)
        )
        if self.runtime.settings.order_endpoint is OrderEndpoint.TEST:
            self.request("order/test", params)
            return
        reply = self.request("order", params)
        order_id = resting_order_id(reply.body) if reply.ok else None
        if order_id is not None:
            self.request("order DELETE", {"symbol": plan.symbol, "orderId": order_id})



def prepare_burst(user: ExchangeRestUser) -> Burst | None:
    """A random symbol of the run, its filters and its last price (None when they could not be read)."""
    symbol = random.choice(user.runtime.settings.symbols)
    rules = _rules(user, symbol)
    if rules is None:
        return None
    reply = user.request("ticker/price", {"symbol": symbol}, parse=parse_ticker_price)
    return Burst(symbol, rules, reply.parsed) if reply.ok else None


def _rules(user: ExchangeRestUser, symbol: str) -> SymbolRules | None:
    """The symbol's filters from exchangeInfo, fetched once per process."""
    key = f"rules:{symbol}"
    rules = user.runtime.cache.get(key)
    if rules is None:
        reply = user.request("exchangeInfo", {"symbol": symbol}, parse=partial(parse_symbol_rules, symbol=symbol))
        if reply.ok:
            rules = user.runtime.cache[key] = reply.parsed
    return rules


class BinanceWsTrader(WsOrderUser):
    """Bursts of orders over the WebSocket API on one logged-in session per user, with the user data stream on
    the same connection: small MARKET orders, buys and sells in turn (NEW, then FILLED), and every third a LIMIT
    IOC order away from the price (NEW, then EXPIRED). Real orders: the simulator or a testnet only. Not in the
    default mix (weight 0): run it by name, e.g. `locust -f locustfiles/binance.py BinanceWsTrader`."""

    adapter = ADAPTER
    weight = 0

    def prepare_burst(self) -> Burst | None:
        return prepare_burst(self)

    def order_params(self, plan: Burst, index: int, client_order_id: str) -> dict[str, str]:
        side = "BUY" if index % 2 == 0 else "SELL"
        quantity = plan.rules.smallest_quantity_text(plan.price)
        params = {"symbol": plan.symbol, "side": side, "quantity": quantity, "newClientOrderId": client_order_id,
                  "newOrderRespType": "ACK"}
        if index % 3 != 2:
            return params | {"type": "MARKET"}
        away = plan.price * (1 - ORDER_PRICE_OFFSET if side == "BUY" else 1 + ORDER_PRICE_OFFSET)
        return params | {"type": "LIMIT", "timeInForce": "IOC", "price": plan.rules.price_text(away)}


class BinanceWsSubscriber(StreamUser):
    """The chosen symbols x stream kinds on one combined-stream connection, with local diff-depth books."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.subscriber
