"""Demo accounts: balances (free and locked) and the orders of each account, and the exchange's order state
(`Trading`: accounts by API key, order ids, fills of resting orders).

Amounts are integers in units of 1e-8 of an asset, so balances move exactly; prices and
quantities of orders are the market's ticks and lots.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from simulator.market import BUY, Fill, Market, RestingOrder, SymbolSpec
from simulator.units import UNITS, resting_fill_moves

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HISTORY = 100_000  # closed orders kept per account for GET /order
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})


@dataclass(slots=True)
class Balance:
    free: int = 0
    locked: int = 0


@dataclass(slots=True, eq=False)
class Order:
    symbol: str
    spec: SymbolSpec
    order_id: int
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    price: int  # ticks; 0 for MARKET
    orig_qty: int  # lots
    orig_quote_qty: int  # quote units of quoteOrderQty; 0 when not used
    time_ms: int
    executed_qty: int = 0  # lots
    cumm_quote: int = 0  # quote units
    status: str = "NEW"
    update_ms: int = 0
    locked: int = 0  # units still locked for the resting remainder (quote for BUY, base for SELL)
    resting: RestingOrder | None = None
    account: Account | None = field(default=None, repr=False)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def locked_asset(self) -> str:
        return self.spec.quote if self.side == BUY else self.spec.base


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One change of an order, as the user data stream's executionReport tells it."""

    order: Order
    exec_type: str  # NEW, TRADE, CANCELED, EXPIRED
    status: str  # the order's status right after this change
    executed_qty: int  # lots, cumulative at this change
    cumm_quote: int  # quote units, cumulative at this change
    fill: Fill | None  # the trade of a TRADE event
    maker: bool  # the fill was against the order resting in the book
    time_ms: int


OrderListener = Callable[["Account", list[OrderEvent]], None]


class Account:
    def __init__(self, api_key: str, secret: str, balances: Mapping[str, float], uid: int) -> None:
        self.api_key = api_key
        self.secret = secret
        self.ed25519_keys: dict[str, Ed25519PublicKey] = {}  # the account's Ed25519 API keys: key -> public key
        self.uid = uid
        self.balances: dict[str, Balance] = {a: Balance(round(v * UNITS)) for a, v in balances.items()}
        self.orders: dict[int, Order] = {}  # open and recent orders, oldest first
        self.open: dict[str, dict[int, Order]] = {}  # symbol -> order id -> open order
        self._client_ids: dict[tuple[str, str], Order] = {}
        self.update_ms = 0

    def balance(self, asset: str) -> Balance:
        balance = self.balances.get(asset)
        if balance is None:
            balance = self.balances[asset] = Balance()
        return balance

    def add(self, order: Order) -> None:
        order.account = self
        self.orders[order.order_id] = order
        self._client_ids[(order.symbol, order.client_order_id)] = order
        if order.is_open:
            self.open.setdefault(order.symbol, {})[order.order_id] = order
        self._trim()

    def closed(self, order: Order) -> None:
        """Note that `order` left the book (filled, canceled or expired)."""
        open_orders = self.open.get(order.symbol)
        if open_orders is not None:
            open_orders.pop(order.order_id, None)

    def release(self, order: Order) -> None:
        """Give back what an order still has locked."""
        balance = self.balance(order.locked_asset)
        balance.locked -= order.locked
        balance.free += order.locked
        order.locked = 0

    def find(self, symbol: str, order_id: int | None, client_order_id: str | None) -> Order | None:
        if order_id is not None:
            order = self.orders.get(order_id)
        else:
            order = self._client_ids.get((symbol, client_order_id or ""))
        if order is None or order.symbol != symbol:
            return None
        if client_order_id is not None and order.client_order_id != client_order_id:
            return None
        return order

    def open_with_client_id(self, symbol: str, client_order_id: str) -> bool:
        order = self._client_ids.get((symbol, client_order_id))
        return order is not None and order.is_open

    def open_orders(self, symbol: str | None) -> Iterator[Order]:
        if symbol is not None:
            yield from self.open.get(symbol, {}).values()
            return
        for orders in self.open.values():
            yield from orders.values()

    def _trim(self) -> None:
        """Forget the oldest closed orders beyond HISTORY (open ones are kept)."""
        orders = self.orders
        while len(orders) > HISTORY:
            oldest = next(iter(orders.values()))
            del orders[oldest.order_id]
            if oldest.is_open:
                orders[oldest.order_id] = oldest  # move to the end; open orders are bounded by MAX_NUM_ORDERS
            elif self._client_ids.get((oldest.symbol, oldest.client_order_id)) is oldest:
                del self._client_ids[(oldest.symbol, oldest.client_order_id)]


class Trading:
    """The exchange's order state: accounts by API key, order ids, and fills of resting orders."""

    def __init__(self, market: Market, clock: Callable[[], float], accounts: list[Account], seed: int) -> None:
        self.clock = clock
        self.accounts = {a.api_key: a for a in accounts}
        self.next_order_id = 1_000_000
        self._rng = random.Random(seed ^ 0xC11E47)
        self.listeners: list[OrderListener] = []  # told of every order change (the user data streams)
        self.on_first_fill: Callable[[Account], None] | None = None  # an order of the account started trading
        for sym in market.symbols.values():
            sym.on_user_fill = self.on_resting_fill

    def new_client_id(self) -> str:
        return "".join(self._rng.choices(string.ascii_letters + string.digits, k=22))

    def publish(self, account: Account, events: list[OrderEvent]) -> None:
        for listener in self.listeners:
            listener(account, events)

    def on_resting_fill(self, resting: RestingOrder, fill: Fill) -> None:
        order = resting.ref
        assert isinstance(order, Order) and order.account is not None
        account, spec = order.account, order.spec
        moves = resting_fill_moves(spec, order.side, order.locked, fill)  # locked funds are apart from free ones
        order.locked -= moves.released
        account.balance(moves.paid_asset).locked -= moves.released
        account.balance(moves.got_asset).free += moves.got
        if order.executed_qty == 0 and self.on_first_fill is not None:
            self.on_first_fill(account)
        order.executed_qty += fill.qty
        order.cumm_quote += moves.value
        now_ms = int(self.clock() * 1000)
        order.update_ms = account.update_ms = now_ms
        if order.executed_qty >= order.orig_qty:
            order.status = "FILLED"
            account.release(order)
            account.closed(order)
        else:
            order.status = "PARTIALLY_FILLED"
        if self.listeners:
            self.publish(account, [OrderEvent(order, "TRADE", order.status, order.executed_qty, order.cumm_quote, fill,
                                              True, now_ms)])
