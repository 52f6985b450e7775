"""The demo profile: its key, balances by currency (available and on hold), orders and fills.

Amounts are integers in units of 1e-8 of a currency (`simulator.units`); prices and sizes of orders are the
market's ticks and lots.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from exchanges.coinbase import DemoProfile
from simulator.coinbase.wire import stable_uuid
from simulator.market import RestingOrder, SymbolMarket, SymbolSpec
from simulator.units import UNITS

ORDER_HISTORY = 100_000  # orders kept per profile for GET /orders/{id} (open ones are always kept)
FILL_HISTORY = 100_000


@dataclass(slots=True)
class Balance:
    available: int = 0
    hold: int = 0


@dataclass(slots=True, eq=False)
class Order:
    id: str
    profile: Profile = field(repr=False)
    sym: SymbolMarket = field(repr=False)
    side: str  # "buy" or "sell"
    type: str  # "limit" or "market"
    time_in_force: str
    post_only: bool
    price: int  # ticks; 0 for market orders
    size: int  # lots; for market orders with funds, what the funds bought
    funds: int  # quote units of a market order's funds; 0 when it gave a size
    client_oid: str
    created_ms: int
    expire_ms: int | None = None
    filled: int = 0  # lots
    executed_value: int = 0  # quote units
    status: str = "pending"
    done_reason: str | None = None
    done_ms: int | None = None
    reject_reason: str | None = None
    locked: int = 0  # units on hold for the resting remainder (quote for buys, base for sells)
    resting: RestingOrder | None = None

    @property
    def is_open(self) -> bool:
        return self.status in ("pending", "open", "active")

    @property
    def spec(self) -> SymbolSpec:
        return self.sym.spec


@dataclass(slots=True)
class FillRecord:
    trade_id: int
    order: Order
    price: int
    size: int
    liquidity: str  # "M" maker or "T" taker
    time_ms: int


class Profile:
    """The demo profile: its key, balances by currency, orders and fills."""

    def __init__(self, demo: DemoProfile, balances: Mapping[str, float], seed: int) -> None:
        self.api_key = demo.api_key
        self.secret = demo.api_secret
        self.passphrase = demo.passphrase
        self.id = stable_uuid("profile", seed)
        self.user_id = stable_uuid("user", seed).replace("-", "")[:24]
        self.balances: dict[str, Balance] = {c: Balance(round(v * UNITS)) for c, v in balances.items()}
        self.account_ids = {c: stable_uuid("account", seed, c) for c in self.balances}
        self.orders: OrderedDict[str, Order] = OrderedDict()  # open and recent orders, oldest first
        self.client_oids: dict[str, Order] = {}
        self.open: dict[str, Order] = {}
        self.fills: deque[FillRecord] = deque(maxlen=FILL_HISTORY)

    def balance(self, currency: str) -> Balance:
        balance = self.balances.get(currency)
        if balance is None:
            balance = self.balances[currency] = Balance()
            self.account_ids[currency] = stable_uuid("account", self.id, currency)
        return balance

    def add(self, order: Order) -> None:
        self.orders[order.id] = order
        if order.client_oid:
            self.client_oids[order.client_oid] = order
        if order.is_open:
            self.open[order.id] = order
        while len(self.orders) > ORDER_HISTORY:
            oldest = next(iter(self.orders.values()))
            if oldest.is_open:
                self.orders.move_to_end(oldest.id)  # open orders are bounded by MAX_OPEN_ORDERS
            else:
                self.forget(oldest)

    def closed(self, order: Order) -> None:
        self.open.pop(order.id, None)

    def forget(self, order: Order) -> None:
        self.orders.pop(order.id, None)
        if order.client_oid and self.client_oids.get(order.client_oid) is order:
            del self.client_oids[order.client_oid]

    def find(self, ref: str) -> Order | None:
        """An order by id, or by client id as `client:<client_oid>`."""
        if ref.startswith("client:"):
            return self.client_oids.get(ref.removeprefix("client:"))
        return self.orders.get(ref)
