"""Coinbase's private endpoints: orders, accounts and fills of the demo profile.

Limit orders cross what they can against the simulated book (`SymbolMarket.execute`) and, with GTC or
GTT, rest the remainder in it (`SymbolMarket.rest`), where market trades fill it later; a post-only
order that would cross is rejected (status "rejected", reject_reason "post only"). Market orders take
`size` or spend `funds`. IOC remainders are cancelled, a FOK order that cannot fill completely is
cancelled unfilled, GTT orders expire after `cancel_after` (min, hour, day). As on Coinbase, POST
/orders answers before matching (status "pending", nothing filled yet), and a cancelled order that
never filled is forgotten (GET then answers 404). Fees are zero; there is no self-trade prevention.
Every change of an order (received, open, match, done) is reported to its profile's `feed` (the feed's `user`
channel, `user_feed`) as it happens.
Amounts are exact: ticks, lots and 1e-8 balance units (`simulator.units`).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from exchanges.coinbase import MAX_OPEN_ORDERS
from simulator.coinbase.account import FillRecord, Order, Profile, cancel, finish
from simulator.coinbase.errors import CoinbaseError, invalid, not_found
from simulator.coinbase.market_data import maker_order_id, paginate
from simulator.coinbase.products import PRODUCT_PARAMS
from simulator.coinbase.wire import Answer, Request, iso_time
from simulator.market import BUY, SELL, Fill, SymbolMarket
from simulator.units import UNITS, base_units, quote_units, units_str

if TYPE_CHECKING:
    from simulator.coinbase.sim import CoinbaseSim

SIDES = {"buy": BUY, "sell": SELL}
ORDER_TYPES = ("limit", "market")
TIMES_IN_FORCE = ("GTC", "GTT", "IOC", "FOK")
CANCEL_AFTER_MS = {"min": 60_000, "hour": 3_600_000, "day": 86_400_000}
SELF_TRADE_PREVENTION = ("dc", "co", "cn", "cb")  # accepted; the simulator prevents no self-trades
ZERO_FEE = "0.0000000000000000"
MAX_AMOUNT = Decimal(10**12)  # prices, sizes and funds above this are invalid (they would only waste memory)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


# --- endpoints ---------------------------------------------------------------------------------


def place_order(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    assert profile is not None
    now_ms = int(now * 1000)
    order = _validate(sim, request, profile, now_ms)
    answer = order_json(order, now_ms)  # Coinbase answers before matching: pending, nothing filled
    _execute(sim, order, now_ms)
    return answer


def get_order(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    assert profile is not None
    order = profile.find(request.path["order_id"])
    if order is None:
        raise not_found()
    return order_json(order)


def cancel_order(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    """Answers the cancelled order's id. `product_id` is optional and only a hint, as on Coinbase."""
    assert profile is not None
    order = profile.find(request.path["order_id"])
    if order is None:
        raise not_found()
    if not order.is_open:
        raise CoinbaseError("Order already done")
    _cancel(sim, order, int(now * 1000))
    return order.id


def cancel_all(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    assert profile is not None
    product_id = request.text("product_id")
    if product_id is not None and product_id not in sim.market.symbols:
        raise invalid("product_id")
    now_ms = int(now * 1000)
    cancelled = [o for o in profile.open.values() if product_id is None or o.spec.symbol == product_id]
    for order in cancelled:
        _cancel(sim, order, now_ms)
    return [o.id for o in cancelled]


def list_orders(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    """Newest first; `status` (repeatable: open, pending, active, done, all; default the open ones),
    `product_id`, `limit` (default 100, at most 1000), and `before`/`after` creation-time cursors."""
    assert profile is not None
    statuses = set(request.all("status")) or {"open", "pending", "active"}
    if not statuses <= {"open", "pending", "active", "done", "rejected", "all"}:
        raise invalid("status")
    product_id = request.text("product_id")
    if product_id is not None and product_id not in sim.market.symbols:
        raise invalid("product_id")
    limit = request.integer("limit", 100)
    if limit is None or not 1 <= limit <= 1000:
        raise invalid("limit")
    after, before = request.text("after"), request.text("before")
    selected = [
        o for o in reversed(profile.orders.values())
        if ("all" in statuses or o.status in statuses)
        and (product_id is None or o.spec.symbol == product_id)
        and (after is None or iso_time(o.created_ms) < after)
        and (before is None or iso_time(o.created_ms) > before)
    ]
    page = selected[-limit:] if before is not None and after is None else selected[:limit]
    headers = {"CB-BEFORE": iso_time(page[0].created_ms), "CB-AFTER": iso_time(page[-1].created_ms)} if page else {}
    return Answer([order_json(o) for o in page], headers)


def accounts(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    assert profile is not None
    return [
        {
            "id": profile.account_ids[currency],
            "currency": currency,
            "balance": _amount(b.available + b.hold),
            "hold": _amount(b.hold),
            "available": _amount(b.available),
            "profile_id": profile.id,
            "trading_enabled": True,
            "pending_deposit": ZERO_FEE,
        }
        for currency, b in profile.balances.items()
    ]


def fills(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    assert profile is not None
    order_id, product_id = request.text("order_id"), request.text("product_id")
    if order_id is None and product_id is None:
        raise CoinbaseError("Either product_id or order_id must be specified")
    if product_id is not None and product_id not in sim.market.symbols:
        raise invalid("product_id")
    selected = [
        f for f in profile.fills
        if (order_id is None or f.order.id == order_id) and (product_id is None or f.order.spec.symbol == product_id)
    ]
    page, headers = paginate(selected, lambda f: f.trade_id, request, default_limit=100)
    return Answer([_fill_json(profile, f) for f in page], headers)


# --- validation --------------------------------------------------------------------------------


def _validate(sim: CoinbaseSim, request: Request, profile: Profile, now_ms: int) -> Order:
    """A new order from the request, checked as Coinbase checks it; CoinbaseError (400) if it fails."""
    product_id = request.text("product_id")
    if product_id is None:
        raise CoinbaseError("product_id is required")
    sym = sim.market.symbols.get(product_id)
    if sym is None:
        raise invalid("product_id")
    spec = sym.spec
    side = request.text("side")
    if side not in SIDES:
        raise invalid("side")
    kind = request.text("type") or "limit"
    if kind not in ORDER_TYPES:
        raise invalid("order_type")
    client_oid = request.text("client_oid") or ""
    if client_oid and not _UUID.match(client_oid):
        raise invalid("client_oid")
    stp = request.text("stp")
    if stp is not None and stp not in SELF_TRADE_PREVENTION:
        raise invalid("stp")
    tif = request.text("time_in_force") or "GTC"
    post_only = request.flag("post_only")
    price_ticks = size_lots = funds_units = 0
    expire_ms = None
    if kind == "limit":
        if tif not in TIMES_IN_FORCE:
            raise invalid("time_in_force")
        if post_only and tif in ("IOC", "FOK"):
            raise CoinbaseError("post_only is invalid with time_in_force IOC or FOK")
        if tif == "GTT":
            cancel_after = request.text("cancel_after")
            if cancel_after not in CANCEL_AFTER_MS:
                raise invalid("cancel_after")
            expire_ms = now_ms + CANCEL_AFTER_MS[cancel_after]
        price_ticks = _steps(_positive(request, "price"), spec.tick_size, "price", spec.price_str(1))
        size_lots = _steps(_positive(request, "size"), spec.step_size, "size", spec.qty_str(1))
        value = quote_units(spec, price_ticks, size_lots)
    else:
        if post_only:
            raise CoinbaseError("post_only is invalid for market orders")
        tif = "GTC"
        has_size, has_funds = request.text("size") is not None, request.text("funds") is not None
        if has_size == has_funds:
            raise CoinbaseError("Market orders must specify either size or funds")
        if has_size:
            size_lots = _steps(_positive(request, "size"), spec.step_size, "size", spec.qty_str(1))
            value = quote_units(spec, sym.last_price(), size_lots)
        else:
            funds = _positive(request, "funds")
            funds_units = int(funds * UNITS)
            if funds_units != funds * UNITS:
                raise CoinbaseError("funds is too accurate. Smallest unit is 0.00000001")
            value = funds_units
    min_funds = Decimal(PRODUCT_PARAMS[product_id].min_market_funds)
    if value < min_funds * UNITS:
        raise CoinbaseError(f"Order value is too small. Minimum is {min_funds} {spec.quote}")
    if len(profile.open) >= MAX_OPEN_ORDERS:
        raise CoinbaseError("Too many open orders")
    if client_oid and client_oid in profile.client_oids and profile.client_oids[client_oid].is_open:
        raise CoinbaseError("client_oid is already in use")
    order = Order(sim.trading.new_order_id(), profile, sym, side, kind, tif, post_only, price_ticks, size_lots,
                  funds_units, client_oid, now_ms, expire_ms)
    if not _affordable(order):
        raise CoinbaseError("Insufficient funds")
    return order


def _positive(request: Request, name: str) -> Decimal:
    text = request.text(name)
    if text is None:
        raise CoinbaseError(f"{name} is required")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise invalid(name) from None
    if not value.is_finite() or not 0 < value <= MAX_AMOUNT:
        raise invalid(name)
    return value


def _steps(value: Decimal, step: float, name: str, step_text: str) -> int:
    """`value` as a whole number of `step`s; "too accurate" when it is not one."""
    count = value / Decimal(str(step))
    if count != count.to_integral_value():
        raise CoinbaseError(f"{name} is too accurate. Smallest unit is {step_text}")
    return int(count)


def _walk(sym: SymbolMarket, side: str, lots: int | None, funds: int, limit: int | None) -> list[tuple[int, int]]:
    """The (price, lots) a taker order would fill against the book, without filling it: up to `lots`, or
    while `funds` (quote units) last."""
    levels = sym.asks if side == BUY else sym.bids
    spec, taken = sym.spec, []
    for price in sorted(levels, reverse=(side == SELL)):
        if limit is not None and (price > limit if side == BUY else price < limit):
            break
        if lots is not None:
            if lots <= 0:
                break
            take = min(lots, levels[price])
            lots -= take
        else:
            affordable = funds * UNITS // (price * round(spec.tick_size * UNITS) * base_units(spec, 1))
            take = min(levels[price], affordable)
            funds -= quote_units(spec, price, take)
            if take == 0:
                break
        taken.append((price, take))
    return taken


def _affordable(order: Order) -> bool:
    profile, spec, sym = order.profile, order.spec, order.sym
    if order.side == "sell":
        lots = order.size or sum(q for _, q in _walk(sym, SELL, None, order.funds, None))
        return profile.balance(spec.base).available >= base_units(spec, lots)
    if order.type == "limit":
        cost = quote_units(spec, order.price, order.size)
    elif order.funds:
        cost = order.funds
    else:
        cost = sum(quote_units(spec, p, q) for p, q in _walk(sym, BUY, order.size, 0, None))
    return profile.balance(spec.quote).available >= cost


def _crosses(order: Order) -> bool:
    sym = order.sym
    best = sym.best_ask() if order.side == "buy" else sym.best_bid()
    return best is not None and (order.price >= best if order.side == "buy" else order.price <= best)


# --- execution ---------------------------------------------------------------------------------


def _execute(sim: CoinbaseSim, order: Order, now_ms: int) -> None:
    profile, sym, side = order.profile, order.sym, SIDES[order.side]
    sim.cache.clear()  # the order may trade or rest: market answers change
    profile.add(order)
    if profile.feed is not None:
        profile.feed.received(order, now_ms)
    if order.type == "limit" and order.post_only and _crosses(order):
        order.status, order.reject_reason, order.done_ms = "rejected", "post only", now_ms
        profile.closed(order)
        if profile.feed is not None:  # received, then done: the simulator's choice (Coinbase's docs do not say)
            profile.feed.done(order, "canceled", now_ms)
        return
    limit = order.price if order.type == "limit" else None
    if order.type == "market" and order.funds:
        order.size = sum(q for _, q in _walk(sym, side, None, order.funds, None))
    fill_or_kill_short = order.time_in_force == "FOK" and sum(q for _, q in _walk(sym, side, order.size, 0, limit)) < (
        order.size)
    fills = [] if fill_or_kill_short or order.size == 0 else sym.execute(side, order.size, limit, now_ms)
    _settle_taker(sim, order, fills, now_ms)
    remaining = order.size - order.filled
    if remaining == 0 and order.size > 0:
        finish(order, "filled", now_ms)
    elif order.type == "limit" and order.time_in_force in ("GTC", "GTT"):
        _rest(sim, order, remaining, now_ms)
    else:
        _cancel(sim, order, now_ms)


def _settle_taker(sim: CoinbaseSim, order: Order, taker_fills: list[Fill], now_ms: int) -> None:
    profile, spec = order.profile, order.spec
    lots = sum(f.qty for f in taker_fills)
    value = sum(quote_units(spec, f.price, f.qty) for f in taker_fills)
    base, quote = profile.balance(spec.base), profile.balance(spec.quote)
    if order.side == "buy":
        quote.available -= value
        base.available += base_units(spec, lots)
    else:
        base.available -= base_units(spec, lots)
        quote.available += value
    order.filled += lots
    order.executed_value += value
    maker_side = SELL if order.side == "buy" else BUY
    for f in taker_fills:
        profile.fills.append(FillRecord(f.trade_id, order, f.price, f.qty, "T", now_ms))
        sim.trading.note_user_trade(f.trade_id, None, order.id)
        maker = f.maker_ref.id if isinstance(f.maker_ref, Order) else maker_order_id(order.sym, maker_side, f.price)
        if profile.feed is not None:
            profile.feed.match(order, f.trade_id, f.price, f.qty, maker, False, now_ms)


def _rest(sim: CoinbaseSim, order: Order, remaining: int, now_ms: int) -> None:
    profile, spec = order.profile, order.spec
    if order.side == "buy":
        order.locked = quote_units(spec, order.price, remaining)
        balance = profile.balance(spec.quote)
    else:
        order.locked = base_units(spec, remaining)
        balance = profile.balance(spec.base)
    balance.available -= order.locked
    balance.hold += order.locked
    order.status = "open"
    order.resting = order.sym.rest(order, SIDES[order.side], order.price, remaining, now_ms)
    if profile.feed is not None:
        profile.feed.opened(order, remaining, now_ms)
    if order.expire_ms is not None:
        sim.trading.schedule_expiry(order)


def _cancel(sim: CoinbaseSim, order: Order, now_ms: int) -> None:
    """`account.cancel`, and forget the market answers if the order left the book."""
    if cancel(order, now_ms):
        sim.cache.clear()


# --- answers -----------------------------------------------------------------------------------


def _decimal_text(value: Decimal) -> str:
    return f"{value:.8f}"


def _amount(units: int) -> str:
    """A balance or value as Coinbase prints it: 16 decimals."""
    return f"{units_str(units)}00000000"


def order_json(order: Order, placed_ms: int | None = None) -> dict[str, Any]:
    """An order as GET /orders/{id} shows it; with `placed_ms`, as POST /orders answers: pending, unfilled."""
    spec = order.spec
    answer: dict[str, Any] = {"id": order.id}
    if order.type == "limit":
        answer["price"] = _decimal_text(Decimal(order.price) * Decimal(spec.price_str(1)))
    if order.type == "limit" or not order.funds:
        answer["size"] = _decimal_text(Decimal(order.size) * Decimal(spec.qty_str(1)))
    answer.update({
        "product_id": spec.symbol,
        "profile_id": order.profile.id,
        "side": order.side,
        "type": order.type,
        "time_in_force": order.time_in_force,
        "post_only": order.post_only,
        "created_at": iso_time(order.created_ms),
    })
    if order.funds:
        answer["funds"] = answer["specified_funds"] = _amount(order.funds)
    if order.expire_ms is not None:
        answer["expire_time"] = iso_time(order.expire_ms)
    if order.client_oid:
        answer["client_oid"] = order.client_oid
    pending = placed_ms is not None
    answer.update({
        "fill_fees": ZERO_FEE,
        "filled_size": _decimal_text(Decimal(0 if pending else order.filled) * Decimal(spec.qty_str(1))),
        "executed_value": _amount(0 if pending else order.executed_value),
        "status": "pending" if pending else order.status,
        "settled": not pending and not order.is_open,
    })
    if not pending and order.done_ms is not None:
        if order.status == "done":
            answer["done_at"] = iso_time(order.done_ms)
            answer["done_reason"] = order.done_reason
        else:
            answer["reject_reason"] = order.reject_reason
    return answer


def _fill_json(profile: Profile, fill: FillRecord) -> dict[str, Any]:
    spec = fill.order.spec
    value = quote_units(spec, fill.price, fill.size)
    return {
        "created_at": iso_time(fill.time_ms),
        "trade_id": fill.trade_id,
        "product_id": spec.symbol,
        "order_id": fill.order.id,
        "user_id": profile.user_id,
        "profile_id": profile.id,
        "liquidity": fill.liquidity,
        "price": spec.price_str(fill.price),
        "size": spec.qty_str(fill.size),
        "fee": ZERO_FEE,
        "side": fill.order.side,
        "settled": True,
        "usd_volume": _amount(value) if spec.quote == "USD" else None,
    }
