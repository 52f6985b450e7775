"""The demo account: balances (total and frozen by open orders), its orders, and the exchange's order state
(`Trading`: accounts by API key, order ids, fills of resting orders).

Amounts are integers in units of 1e-8 of a currency, so balances move exactly; prices and sizes of orders are
the market's ticks and lots.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from simulator.market import BUY, Fill, Market, RestingOrder, SymbolSpec
from simulator.units import UNITS, resting_fill_moves

CLOSED_HISTORY = 10_000  # closed orders kept per account (OKX: the last 7 days through trade/order)


@dataclass(slots=True)
class Balance:
    total: int = 0  # units of 1e-8, frozen part included (OKX's cashBal)
    frozen: int = 0

    @property
    def available(self) -> int:
        return self.total - self.frozen


@dataclass(slots=True, eq=False)
class Order:
    ord_id: str
    cl_ord_id: str
    tag: str
    spec: SymbolSpec
    side: str
    ord_type: str  # limit, market, post_only, ioc, fok
    price: int  # ticks; 0 for market orders
    size: int  # lots
    created_ms: int
    updated_ms: int
    filled: int = 0  # lots
    cost: int = 0  # quote units
    state: str = "live"  # live, partially_filled, filled, canceled
    frozen: int = 0  # units still frozen for the resting remainder (quote for a buy, base for a sell)
    resting: RestingOrder | None = None
    last_fill_price: int = 0
    last_fill_size: int = 0
    last_trade_id: int = 0
    account: Account | None = field(default=None, repr=False)

    @property
    def frozen_currency(self) -> str:
        return self.spec.quote if self.side == BUY else self.spec.base


class Account:
    def __init__(self, api_key: str, secret: str, passphrase: str, balances: Mapping[str, float]) -> None:
        self.api_key = api_key
        self.secret = secret
        self.passphrase = passphrase
        self.uid = f"{zlib.crc32(api_key.encode()):015d}"  # the user ID limits per user count against
        self.balances: dict[str, Balance] = {c: Balance(round(v * UNITS)) for c, v in balances.items()}
        self.open: dict[str, Order] = {}  # ordId -> open order, oldest first
        self.closed: dict[str, Order] = {}

    def balance(self, currency: str) -> Balance:
        balance = self.balances.get(currency)
        if balance is None:
            balance = self.balances[currency] = Balance()
        return balance

    def find(self, ord_id: str, cl_ord_id: str) -> Order | None:
        for orders in (self.open, self.closed):
            if ord_id:
                order = orders.get(ord_id)
                if order is not None:
                    return order
            elif cl_ord_id:
                for order in orders.values():
                    if order.cl_ord_id == cl_ord_id:
                        return order
        return None

    def close(self, order: Order, state: str, now_ms: int) -> None:
        order.state = state
        order.updated_ms = now_ms
        balance = self.balance(order.frozen_currency)
        balance.frozen -= order.frozen
        order.frozen = 0
        self.open.pop(order.ord_id, None)
        self.closed[order.ord_id] = order
        while len(self.closed) > CLOSED_HISTORY:
            del self.closed[next(iter(self.closed))]


class Trading:
    """Accounts by API key, order ids, and fills of resting orders."""

    def __init__(self, market: Market, clock: Callable[[], float], accounts: list[Account], seed: int) -> None:
        self.clock = clock
        self.accounts = {a.api_key: a for a in accounts}
        self._next_id = random.Random(seed ^ 0x0C5).randrange(10**18, 2 * 10**18)
        for sym in market.symbols.values():
            sym.on_user_fill = self.on_resting_fill

    def new_ord_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def on_resting_fill(self, resting: RestingOrder, fill: Fill) -> None:
        order = resting.ref
        assert isinstance(order, Order) and order.account is not None
        account, spec = order.account, order.spec
        moves = resting_fill_moves(spec, order.side, order.frozen, fill)
        order.frozen -= moves.released
        paying = account.balance(moves.paid_asset)
        paying.frozen -= moves.released
        paying.total -= moves.paid
        account.balance(moves.got_asset).total += moves.got
        value = moves.value
        order.filled += fill.qty
        order.cost += value
        order.last_fill_price, order.last_fill_size, order.last_trade_id = fill.price, fill.qty, fill.trade_id
        now_ms = int(self.clock() * 1000)
        order.updated_ms = now_ms
        if order.filled >= order.size:
            account.close(order, "filled", now_ms)
        else:
            order.state = "partially_filled"
