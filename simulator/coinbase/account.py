"""The demo profile: its key, balances by currency (available and on hold), orders and fills; and the exchange's
order state (`Trading`: profiles by API key, order expiry, fills of resting orders).

Amounts are integers in units of 1e-8 of a currency (`simulator.units`); prices and sizes of orders are the
market's ticks and lots.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from exchanges.coinbase import DemoProfile
from simulator.coinbase.wire import stable_uuid
from simulator.market import BUY, SELL, Fill, Market, RestingOrder, SymbolMarket, SymbolSpec
from simulator.units import UNITS, resting_fill_moves

ORDER_HISTORY = 100_000  # orders kept per profile for GET /orders/{id} (open ones are always kept)
FILL_HISTORY = 100_000
USER_TRADES_KEPT = 10_000  # trades with a user order on a side, whose order ids the feed reports


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


class OrderEvents(Protocol):
    """Where the order code reports its orders' changes (`simulator.coinbase.user_feed.UserMessages`)."""

    def received(self, order: Order, now_ms: int) -> None: ...

    def opened(self, order: Order, remaining: int, now_ms: int) -> None: ...

    def done(self, order: Order, reason: str, now_ms: int) -> None: ...

    def match(self, order: Order, trade_id: int, price: int, lots: int, counterparty: str, maker: bool,
              now_ms: int) -> None: ...


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
        self.feed: OrderEvents | None = None  # where its orders' changes are reported (the feed's `user` channel)

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


class Trading:
    """The exchange's order state: profiles by API key, order expiry, and fills of resting orders."""

    def __init__(self, market: Market, clock: Callable[[], float], demo: DemoProfile, balances: Mapping[str, float],
                 seed: int) -> None:
        self.clock = clock
        profile = Profile(demo, balances, seed)
        self.profiles = {profile.api_key: profile}
        self._expiring: list[tuple[int, int, Order]] = []  # (expire_ms, tie-breaker, order), a heap
        self._tie = itertools.count()
        self._order_ids = (stable_uuid("order", seed, n) for n in itertools.count())
        # Trade id -> (maker order id, taker order id) for trades with a user order on a side.
        self.user_trades: OrderedDict[int, tuple[str | None, str | None]] = OrderedDict()
        for sym in market.symbols.values():
            sym.on_user_fill = self.on_resting_fill

    def new_order_id(self) -> str:
        return next(self._order_ids)

    def note_user_trade(self, trade_id: int, maker: str | None, taker: str | None) -> None:
        known_maker, known_taker = self.user_trades.get(trade_id, (None, None))
        self.user_trades[trade_id] = (maker or known_maker, taker or known_taker)
        while len(self.user_trades) > USER_TRADES_KEPT:
            self.user_trades.popitem(last=False)

    def on_resting_fill(self, resting: RestingOrder, fill: Fill) -> None:
        order = resting.ref
        assert isinstance(order, Order)
        profile, spec = order.profile, order.spec
        moves = resting_fill_moves(spec, BUY if order.side == "buy" else SELL, order.locked, fill)  # holds apart
        order.locked -= moves.released
        profile.balance(moves.paid_asset).hold -= moves.released
        profile.balance(moves.got_asset).available += moves.got
        value = moves.value
        order.filled += fill.qty
        order.executed_value += value
        now_ms = int(self.clock() * 1000)
        profile.fills.append(FillRecord(fill.trade_id, order, fill.price, fill.qty, "M", now_ms))
        self.note_user_trade(fill.trade_id, order.id, None)
        if profile.feed is not None:
            taker = stable_uuid("taker", spec.symbol, fill.trade_id)  # the public match's taker id
            profile.feed.match(order, fill.trade_id, fill.price, fill.qty, taker, True, now_ms)
        if order.filled >= order.size:
            finish(order, "filled", now_ms)

    def schedule_expiry(self, order: Order) -> None:
        assert order.expire_ms is not None
        heapq.heappush(self._expiring, (order.expire_ms, next(self._tie), order))

    def expire_orders(self, now_ms: int) -> bool:
        """Cancel the GTT orders whose time is up; True when one of them left the book."""
        book_changed = False
        while self._expiring and self._expiring[0][0] <= now_ms:
            order = heapq.heappop(self._expiring)[2]
            if order.is_open:
                book_changed |= cancel(order, now_ms)
        return book_changed


def _release(order: Order) -> None:
    """Give back what an order still has on hold."""
    spec = order.spec
    balance = order.profile.balance(spec.quote if order.side == "buy" else spec.base)
    balance.hold -= order.locked
    balance.available += order.locked
    order.locked = 0


def finish(order: Order, reason: str, now_ms: int) -> None:
    _release(order)
    order.status, order.done_reason, order.done_ms = "done", reason, now_ms
    order.profile.closed(order)
    if order.profile.feed is not None:
        order.profile.feed.done(order, reason, now_ms)


def cancel(order: Order, now_ms: int) -> bool:
    """Take the order out of the book; an order that never filled is forgotten, as Coinbase purges it. True when it
    was resting in the book (market answers computed from the book are then stale)."""
    resting = order.resting
    if resting is not None:
        order.sym.cancel(resting, now_ms)
        order.resting = None
    finish(order, "canceled", now_ms)
    if order.filled == 0:
        order.profile.forget(order)
    return resting is not None
