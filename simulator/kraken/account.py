"""Demo accounts: balances (total and held) and the orders of each account.

Amounts are integers in units of 1e-8 of an asset, so balances move exactly; prices and volumes of
orders are the market's ticks and lots.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exchanges.kraken import Pair
from simulator.market import BUY, RestingOrder, SymbolSpec
from simulator.units import UNITS

CLOSED_HISTORY = 10_000  # closed orders kept per account


@dataclass(slots=True)
class Balance:
    total: int = 0  # units of 1e-8, orders' holds included (Kraken's Balance reports the total)
    hold: int = 0

    @property
    def available(self) -> int:
        return self.total - self.hold


@dataclass(slots=True, eq=False)
class Order:
    txid: str
    pair: Pair
    spec: SymbolSpec
    side: str
    ordertype: str
    price: int  # ticks; 0 for market orders
    volume: int  # lots
    userref: int
    cl_ord_id: str | None
    time_in_force: str
    oflags: str
    opened_s: float
    executed: int = 0  # lots
    cost: int = 0  # quote units
    status: str = "open"
    closed_s: float | None = None
    hold: int = 0  # units still held for the resting remainder (quote for a buy, base for a sell)
    resting: RestingOrder | None = None
    account: Account | None = field(default=None, repr=False)

    @property
    def held_asset(self) -> str:
        return self.spec.quote if self.side == BUY else self.spec.base


class Account:
    def __init__(self, api_key: str, secret: str, balances: Mapping[str, float]) -> None:
        self.api_key = api_key
        self.secret = secret
        self.balances: dict[str, Balance] = {a: Balance(round(v * UNITS)) for a, v in balances.items()}
        self.open: dict[str, Order] = {}  # txid -> open order, oldest first
        self.closed: dict[str, Order] = {}

    def balance(self, asset: str) -> Balance:
        balance = self.balances.get(asset)
        if balance is None:
            balance = self.balances[asset] = Balance()
        return balance

    def close(self, order: Order, status: str, now: float) -> None:
        order.status = status
        order.closed_s = now
        self._release(order)
        self.open.pop(order.txid, None)
        self.closed[order.txid] = order
        while len(self.closed) > CLOSED_HISTORY:
            del self.closed[next(iter(self.closed))]

    def _release(self, order: Order) -> None:
        balance = self.balance(order.held_asset)
        balance.hold -= order.hold
        order.hold = 0
