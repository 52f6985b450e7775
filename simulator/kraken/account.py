"""Demo accounts: balances (total and held) and the orders of each account, and the exchange's order state
(`Trading`: accounts by API key, order ids, fills of resting orders).

Amounts are integers in units of 1e-8 of an asset, so balances move exactly; prices and volumes of
orders are the market's ticks and lots.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from exchanges.kraken import Pair
from simulator.market import BUY, Fill, Market, RestingOrder, SymbolSpec
from simulator.units import UNITS, resting_fill_moves

CLOSED_HISTORY = 10_000  # closed orders kept per account
_TXID_CHARS = string.ascii_uppercase + string.digits


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


@dataclass(frozen=True, slots=True)
class ExecEvent:
    """One change of an order as the executions channel reports it: `exec_type` pending_new, new, trade, filled,
    canceled or expired, with the order's status, executed lots and cost (quote units) after it."""

    order: Order
    exec_type: str
    order_status: str
    time_s: float
    cum_qty: int
    cum_cost: int
    fill: Fill | None = None
    reason: str | None = None


EventListener: TypeAlias = Callable[["Account", list[ExecEvent]], None]


def event(order: Order, exec_type: str, order_status: str, now: float, fill: Fill | None = None,
          reason: str | None = None) -> ExecEvent:
    return ExecEvent(order, exec_type, order_status, now, order.executed, order.cost, fill, reason)


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


class Trading:
    """Accounts by API key, order ids, and fills of resting orders."""

    def __init__(self, market: Market, clock: Callable[[], float], accounts: list[Account], seed: int) -> None:
        self.clock = clock
        self.accounts = {a.api_key: a for a in accounts}
        self.listeners: list[EventListener] = []  # told of every order change (the executions channel)
        self._rng = random.Random(seed ^ 0x0D12E1)
        for sym in market.symbols.values():
            sym.on_user_fill = self.on_resting_fill

    def new_txid(self) -> str:
        part = self._rng.choices
        return f"O{''.join(part(_TXID_CHARS, k=5))}-{''.join(part(_TXID_CHARS, k=5))}-{''.join(part(_TXID_CHARS, k=6))}"

    def publish(self, account: Account, events: list[ExecEvent]) -> None:
        for listener in self.listeners:
            listener(account, events)

    def on_resting_fill(self, resting: RestingOrder, fill: Fill) -> None:
        order = resting.ref
        assert isinstance(order, Order) and order.account is not None
        account, spec = order.account, order.spec
        moves = resting_fill_moves(spec, order.side, order.hold, fill)
        order.hold -= moves.released
        paying = account.balance(moves.paid_asset)
        paying.hold -= moves.released
        paying.total -= moves.paid
        account.balance(moves.got_asset).total += moves.got
        value = moves.value
        order.executed += fill.qty
        order.cost += value
        now = self.clock()
        filled = order.executed >= order.volume
        if filled:
            account.close(order, "closed", now)
        if self.listeners:
            events = [event(order, "trade", "filled" if filled else "partially_filled", now, fill)]
            if filled:
                events.append(event(order, "filled", "filled", now))
            self.publish(account, events)
