"""The demo account (UID, key and secret, balances total and locked, its orders) and the exchange's order state
(`Trading`: accounts by API key, order ids, fills of resting orders).

Amounts are integers in units of 1e-8 of a coin, so balances move exactly; prices and quantities of orders are
the market's ticks and lots.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from simulator.market import BUY, Fill, Market, RestingOrder, SymbolSpec
from simulator.units import UNITS, resting_fill_moves

CLOSED_HISTORY = 500  # closed orders kept per account: /v5/order/realtime with openOnly=1 shows "recent 500"

NEW, PARTIALLY_FILLED, FILLED, CANCELLED = "New", "PartiallyFilled", "Filled", "Cancelled"
PARTIALLY_FILLED_CANCELED = "PartiallyFilledCanceled"
OPEN_STATUSES = frozenset({NEW, PARTIALLY_FILLED})


@dataclass(slots=True)
class Balance:
    total: int = 0  # units of 1e-8; locked included (walletBalance)
    locked: int = 0

    @property
    def free(self) -> int:
        return self.total - self.locked


@dataclass(slots=True, eq=False)
class Order:
    order_id: str
    order_link_id: str
    spec: SymbolSpec
    side: str
    order_type: str  # Limit | Market
    price: int  # ticks; 0 for a market order
    qty: int  # lots
    time_in_force: str
    created_ms: int
    updated_ms: int
    executed: int = 0  # lots
    value: int = 0  # quote units
    status: str = NEW
    lock: int = 0  # units still locked for the resting remainder (quote for a buy, base for a sell)
    resting: RestingOrder | None = None
    account: Account | None = field(default=None, repr=False)

    @property
    def locked_coin(self) -> str:
        return self.spec.quote if self.side == BUY else self.spec.base


class Account:
    def __init__(self, uid: str, api_key: str, secret: str, balances: Mapping[str, float]) -> None:
        self.uid = uid
        self.api_key = api_key
        self.secret = secret
        self.balances: dict[str, Balance] = {c: Balance(round(v * UNITS)) for c, v in balances.items()}
        self.open: dict[str, Order] = {}  # orderId -> open order, oldest first
        self.closed: dict[str, Order] = {}
        self.link_ids: dict[str, Order] = {}  # orderLinkId -> order (open or recent)

    def balance(self, coin: str) -> Balance:
        balance = self.balances.get(coin)
        if balance is None:
            balance = self.balances[coin] = Balance()
        return balance

    def find(self, order_id: str, order_link_id: str) -> Order | None:
        if order_id:
            return self.open.get(order_id) or self.closed.get(order_id)
        return self.link_ids.get(order_link_id) if order_link_id else None

    def close(self, order: Order, status: str, now_ms: int) -> None:
        order.status = status
        order.updated_ms = now_ms
        balance = self.balance(order.locked_coin)
        balance.locked -= order.lock
        order.lock = 0
        self.open.pop(order.order_id, None)
        self.closed[order.order_id] = order
        while len(self.closed) > CLOSED_HISTORY:
            old = self.closed.pop(next(iter(self.closed)))
            if self.link_ids.get(old.order_link_id) is old:
                del self.link_ids[old.order_link_id]


class Trading:
    """Accounts by API key, order ids, and fills of resting orders."""

    def __init__(self, market: Market, clock: Callable[[], float], accounts: list[Account], seed: int) -> None:
        self.clock = clock
        self.accounts = {a.api_key: a for a in accounts}
        self._rng = random.Random(seed ^ 0xB7B1)
        for sym in market.symbols.values():
            sym.on_user_fill = self.on_resting_fill

    def new_order_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def on_resting_fill(self, resting: RestingOrder, fill: Fill) -> None:
        order = resting.ref
        assert isinstance(order, Order) and order.account is not None
        account, spec = order.account, order.spec
        moves = resting_fill_moves(spec, order.side, order.lock, fill)
        order.lock -= moves.released
        paying = account.balance(moves.paid_asset)
        paying.locked -= moves.released
        paying.total -= moves.paid
        account.balance(moves.got_asset).total += moves.got
        value = moves.value
        order.executed += fill.qty
        order.value += value
        now_ms = int(self.clock() * 1000)
        if order.executed >= order.qty:
            account.close(order, FILLED, now_ms)
        else:
            order.status, order.updated_ms = PARTIALLY_FILLED, now_ms
