"""OKX v5 spot users: the OKX adapter bound to the generic REST, order-burst and stream bases.

    locust -f locustfiles/okx.py --host http://127.0.0.1:PORT/okx [--ws-host ws://.../okx/ws/v5/public] -u 10

Symbols are instrument ids (`BTC-USDT`); stream kinds are public channels: books (400 levels, every update's
checksum and seqId/prevSeqId checked), trades, tickers. Each endpoint has its own limit (the ticker's, 20 requests
per 2 s per IP, is the one polite users pace to: `--weight-limit`, `--weight-window-s`). Signed users read
OKX_API_KEY, OKX_API_SECRET and OKX_API_PASSPHRASE from the environment or .env. OKX has no order-test endpoint:
the burst trader places real limit orders (cancelling each one) whatever `--order-endpoint` says, so it runs only
against the simulator.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from decimal import Decimal

from locust import between, task

from exchanges.base import SymbolRules
from exchanges.okx import (
    ADAPTER,
    PING,
    limit_order_params,
    order_id,
    parse_instrument_rules,
    parse_last_price,
)
from loadgen import plugin, runtime
from loadgen.pacing.cluster_budget import unless_paced
from loadgen.users.burst import BurstUser
from loadgen.users.mix import DEFAULT_MIX
from loadgen.users.rest import ExchangeRestUser
from loadgen.users.stream import StreamUser

plugin.install(ADAPTER)

ORDER_PRICE_OFFSET = Decimal("0.005")  # limit orders 0.5% away from the last price: near, but resting
PING_INTERVAL_S = 20.0  # OKX closes a connection after 30 s without traffic; a quiet one is kept alive by `ping`


class OkxRestPoller(ExchangeRestUser):
    """Market data over REST, in proportions a polling client would use."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.poller
    open_model = True  # paced by --target-rps and the rate scenarios, like the other venues' pollers
    wait_time = unless_paced(between(1, 3))

    def _inst(self) -> str:
        return random.choice(self.runtime.settings.symbols)

    @task(10)
    def ticker(self) -> None:
        self.request("ticker", {"instId": self._inst()})

    @task(3)
    def books(self) -> None:
        self.request("books", {"instId": self._inst(), "sz": 100})

    @task(1)
    def trades(self) -> None:
        self.request("trades", {"instId": self._inst(), "limit": 100})

    @task(2)
    def candles(self) -> None:
        self.request("candles", {"instId": self._inst(), "bar": "1m"})


@dataclass(frozen=True, slots=True)
class Burst:
    inst_id: str
    rules: SymbolRules
    price: Decimal


class OkxBurstTrader(BurstUser):
    """Bursts of small limit orders near the last price, each cancelled again."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.trader

    def on_start(self) -> None:
        if self.host and self.adapter.target_kind(self.host) not in runtime.LIVE_ORDER_TARGETS:
            self.refuse(f"okx: {self.host} is not the simulator; OKX has no order-test endpoint, so burst traders "
                        "(real orders) run only there")
            return
        super().on_start()

    def prepare_burst(self) -> Burst | None:
        inst_id = random.choice(self.runtime.settings.symbols)
        rules = self._rules(inst_id)
        if rules is None:
            return None
        reply = self.request("ticker", {"instId": inst_id}, parse=parse_last_price)
        return Burst(inst_id, rules, reply.parsed) if reply.ok else None

    def send_order(self, plan: Burst, index: int) -> None:
        side = "buy" if index % 2 == 0 else "sell"
        price = plan.price * (1 - ORDER_PRICE_OFFSET if side == "buy" else 1 + ORDER_PRICE_OFFSET)
        params = limit_order_params(plan.inst_id, side, plan.rules.price_text(price),
                                    plan.rules.smallest_quantity_text(price))
        reply = self.request("order", params, parse=order_id)
        if reply.ok and reply.parsed is not None:
            self.request("cancel-order", {"instId": plan.inst_id, "ordId": reply.parsed})

    def _rules(self, inst_id: str) -> SymbolRules | None:
        """The instrument's tick, lot and minimum sizes, fetched once per process."""
        key = f"rules:{inst_id}"
        rules = self.runtime.cache.get(key)
        if rules is None:
            reply = self.request("instruments", {"instType": "SPOT", "instId": inst_id}, parse=parse_instrument_rules)
            if reply.ok:
                rules = self.runtime.cache[key] = reply.parsed
        return rules


class OkxWsSubscriber(StreamUser):
    """The chosen instruments x channels on one public WebSocket connection, with verified books."""

    adapter = ADAPTER
    weight = DEFAULT_MIX.subscriber

    last_ping_at = 0.0  # monotonic seconds

    @task
    def ping(self) -> None:
        due = time.monotonic() - self.last_ping_at >= PING_INTERVAL_S
        if due and self.subscription is not None and self.subscription.send(PING):
            self.last_ping_at = time.monotonic()
