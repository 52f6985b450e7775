"""Kraken's private methods: Balance, BalanceEx, AddOrder (with `validate`), CancelOrder, OpenOrders and
GetWebSocketsToken (the token of the ws-auth endpoint, `simulator.kraken.ws_auth`).

Orders are checked as Kraken checks them (pair, side, type, volume and price precision, order and
cost minimums, funds); with `validate=true` nothing more happens and no limiter is charged (Kraken
does not say whether it charges one). A real order is charged to the per-pair trading counter (+1),
then trades against the simulated book like a taker; a GTC limit remainder rests in the book and is
filled later by market trades. CancelOrder is charged the penalty for the order's age. Fees are zero.
Supported order types: `limit` and `market`; time in force `GTC` and `IOC`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from exchanges.kraken import ADD_ORDER_COST, ASSETS, TRADING_RATE_LIMIT, Pair, cancel_penalty
from simulator.kraken.account import Account, ExecEvent, Order, event
from simulator.kraken.errors import KrakenError, invalid_argument
from simulator.kraken.market_data import pair_param
from simulator.market import BUY, SELL, SymbolMarket, SymbolSpec
from simulator.units import UNITS, base_units, quote_units

if TYPE_CHECKING:
    from simulator.kraken.sim import KrakenSim

SIDES = {"buy": BUY, "sell": SELL}
ORDER_TYPES = ("limit", "market")
TIME_IN_FORCE = ("GTC", "IOC")
_DECIMAL_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
_CL_ORD_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,36}$")
_INT32 = range(-(2**31), 2**31)
ZERO_PRICE = "0.00000"


# --- endpoints ---------------------------------------------------------------------------------------


def balance(sim: KrakenSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    return {asset: balance_text(b.total, asset) for asset, b in account.balances.items()}


def balance_ex(sim: KrakenSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    """Each asset's total and the part held by open orders."""
    return {asset: {"balance": balance_text(b.total, asset), "hold_trade": balance_text(b.hold, asset)}
            for asset, b in account.balances.items()}


def balance_text(units: int, asset: str) -> str:
    """A balance with the asset's own number of decimals (`ZUSD` 4, `XXBT` 10)."""
    decimals = ASSETS[asset].decimals if asset in ASSETS else 8
    return f"{Decimal(units).scaleb(-8):.{decimals}f}"


@dataclass(slots=True)
class _NewOrder:
    pair: Pair
    sym: SymbolMarket
    side: str
    ordertype: str
    price: int
    volume: int
    userref: int
    cl_ord_id: str | None
    time_in_force: str
    oflags: str
    validate: bool


def add_order(sim: KrakenSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    request = _validate(sim, params, account)
    descr = {"order": _description(request)}
    if request.validate:
        return {"descr": descr}
    pair = request.pair
    if sum(1 for o in account.open.values() if o.pair is pair) >= sim.limiter.tier.max_open_orders:
        raise KrakenError("EOrder:Orders limit exceeded")
    if not sim.limiter.trading.try_add(_trading_key(account, pair), ADD_ORDER_COST, now):
        sim.stats.rate_limited += 1
        raise KrakenError(TRADING_RATE_LIMIT)
    order = _execute(sim, request, account, now)
    return {"descr": descr, "txid": [order.txid]}


def cancel_order(sim: KrakenSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    txid = (params.get("txid") or "").strip()
    cl_ord_id = params.get("cl_ord_id") or None
    if not txid and cl_ord_id is None:
        raise invalid_argument("txid")
    if cl_ord_id is not None:
        orders = [o for o in account.open.values() if o.cl_ord_id == cl_ord_id]
    elif txid.lstrip("-").isdigit():
        userref = int(txid)
        orders = [o for o in account.open.values() if o.userref == userref]
    else:
        order = account.open.get(txid)
        orders = [order] if order is not None else []
    if not orders:
        raise KrakenError("EOrder:Unknown order")
    for order in orders:
        penalty = cancel_penalty(now - order.opened_s)
        if not sim.limiter.trading.try_add(_trading_key(account, order.pair), penalty, now):
            sim.stats.rate_limited += 1
            raise KrakenError(TRADING_RATE_LIMIT)
        cancel(sim, account, order, now, "User requested")
    return {"count": len(orders)}


def cancel(sim: KrakenSim, account: Account, order: Order, now: float, reason: str) -> None:
    """Take an open order out of the book and close it as canceled (no limiter charged here)."""
    if order.resting is not None:
        sim.market.symbols[order.pair.id].cancel(order.resting, int(now * 1000))
        sim.cache.clear()
    account.close(order, "canceled", now)
    if sim.trading.listeners:
        sim.trading.publish(account, [event(order, "canceled", "canceled", now, reason=reason)])


def get_ws_token(sim: KrakenSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    """GetWebSocketsToken: a new token for the caller's key, `expires` in seconds."""
    ttl_s = sim.config.ws.token_ttl_s
    return {"token": sim.ws_tokens.issue(account.api_key, now), "expires": int(ttl_s)}


def open_orders(sim: KrakenSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    userref = _userref(params)
    cl_ord_id = params.get("cl_ord_id") or None
    selected = [
        o for o in account.open.values()
        if (userref is None or o.userref == userref) and (cl_ord_id is None or o.cl_ord_id == cl_ord_id)
    ]
    return {"open": {o.txid: order_info(o) for o in selected}}


def order_info(order: Order) -> dict[str, Any]:
    spec, pair = order.spec, order.pair
    average = order.cost / UNITS / (order.executed * spec.step_size) if order.executed else 0.0
    info: dict[str, Any] = {
        "refid": None,
        "userref": order.userref,
        "status": order.status,
        "opentm": round(order.opened_s, 4),
        "starttm": 0,
        "expiretm": 0,
        "descr": {
            "pair": pair.altname,
            "type": "buy" if order.side == BUY else "sell",
            "ordertype": order.ordertype,
            "price": spec.price_str(order.price) if order.price else "0",
            "price2": "0",
            "leverage": "none",
            "order": _order_text(pair, spec, order.side, order.ordertype, order.volume, order.price),
            "close": "",
        },
        "vol": spec.qty_str(order.volume),
        "vol_exec": spec.qty_str(order.executed),
        "cost": f"{order.cost / UNITS:.{pair.cost_decimals}f}",
        "fee": f"{0:.{pair.cost_decimals}f}",
        "price": f"{average:.{spec.price_decimals}f}",
        "stopprice": ZERO_PRICE,
        "limitprice": ZERO_PRICE,
        "misc": "",
        "oflags": order.oflags,
    }
    if order.cl_ord_id is not None:
        info["cl_ord_id"] = order.cl_ord_id
    return info


# --- validation ----------------------------------------------------------------------------------------


def _validate(sim: KrakenSim, params: Mapping[str, str], account: Account) -> _NewOrder:
    pair = pair_param(params)
    sym = sim.market.symbols[pair.id]
    spec = sym.spec
    side = SIDES.get(params.get("type", ""))
    if side is None:
        raise invalid_argument("type")
    ordertype = params.get("ordertype", "")
    if ordertype not in ORDER_TYPES:
        raise invalid_argument("ordertype")
    volume = _decimal(params, "volume")
    if volume is None or volume <= 0:
        raise invalid_argument("volume")
    lots = volume * 10**pair.lot_decimals
    if lots != lots.to_integral_value():
        raise invalid_argument("volume")
    price = _decimal(params, "price")
    if ordertype == "limit":
        if price is None or price <= 0:
            raise invalid_argument("price")
        ticks = price * 10**pair.pair_decimals
        if ticks != ticks.to_integral_value():
            raise KrakenError(
                f"EOrder:Invalid price:{pair.altname} price can only be specified up to {pair.pair_decimals} decimals."
            )
        reference = price
    else:
        ticks = Decimal(0)
        reference = Decimal(spec.price_str(sym.last_price()))
    if volume < Decimal(pair.ordermin):
        raise KrakenError("EOrder:Order minimum not met")
    if volume * reference < Decimal(pair.costmin):
        raise KrakenError("EOrder:Cost minimum not met")
    tif = params.get("timeinforce") or "GTC"
    if tif not in TIME_IN_FORCE:
        raise invalid_argument("timeinforce")
    cl_ord_id = params.get("cl_ord_id") or None
    userref = _userref(params)
    if cl_ord_id is not None:
        if userref is not None:
            raise invalid_argument("cl_ord_id")  # mutually exclusive with userref
        if not _CL_ORD_ID_RE.match(cl_ord_id):
            raise invalid_argument("cl_ord_id")
    validate = params.get("validate", "").lower() in ("true", "1")
    request = _NewOrder(pair, sym, side, ordertype, int(ticks), int(lots), userref or 0, cl_ord_id, tif,
                        params.get("oflags") or "fciq", validate)
    if not _affordable(request, account):
        raise KrakenError("EOrder:Insufficient funds")
    return request


def _decimal(params: Mapping[str, str], name: str) -> Decimal | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    if not _DECIMAL_RE.match(text):
        raise invalid_argument(name)  # relative prices (+, -, #, %) are not modelled
    try:
        return Decimal(text)
    except InvalidOperation:
        raise invalid_argument(name) from None


def _userref(params: Mapping[str, str]) -> int | None:
    text = params.get("userref")
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise invalid_argument("userref") from None
    if value not in _INT32:
        raise invalid_argument("userref")
    return value


def _affordable(request: _NewOrder, account: Account) -> bool:
    spec, sym = request.sym.spec, request.sym
    if request.side == SELL:
        return account.balance(spec.base).available >= base_units(spec, request.volume)
    if request.ordertype == "market":
        cost, lots = 0, request.volume
        for price in sorted(sym.asks):
            take = min(lots, sym.asks[price])
            cost += quote_units(spec, price, take)
            lots -= take
            if lots <= 0:
                break
    else:
        cost = quote_units(spec, request.price, request.volume)
    return account.balance(spec.quote).available >= cost


def _trading_key(account: Account, pair: Pair) -> str:
    return f"{account.api_key} {pair.id}"


def _description(request: _NewOrder) -> str:
    return _order_text(request.pair, request.sym.spec, request.side, request.ordertype, request.volume, request.price)


def _order_text(pair: Pair, spec: SymbolSpec, side: str, ordertype: str, lots: int, ticks: int) -> str:
    action = "buy" if side == BUY else "sell"
    where = f"limit {spec.price_str(ticks)}" if ordertype == "limit" else "market"
    return f"{action} {spec.qty_str(lots)} {pair.altname} @ {where}"


# --- execution -------------------------------------------------------------------------------------------


def _execute(sim: KrakenSim, request: _NewOrder, account: Account, now: float) -> Order:
    sym, spec, side = request.sym, request.sym.spec, request.side
    sim.cache.clear()  # the order may trade or rest: market answers change
    now_ms = int(now * 1000)
    order = Order(sim.trading.new_txid(), request.pair, spec, side, request.ordertype, request.price,
                  request.volume, request.userref, request.cl_ord_id, request.time_in_force, request.oflags, now,
                  account=account)
    account.open[order.txid] = order
    publishing = bool(sim.trading.listeners)
    if publishing:
        sim.trading.publish(account, [event(order, "pending_new", "pending_new", now),
                                      event(order, "new", "new", now)])
    limit = request.price if request.ordertype == "limit" else None
    fills = sym.execute(side, request.volume, limit, now_ms)
    lots = sum(f.qty for f in fills)
    value = sum(quote_units(spec, f.price, f.qty) for f in fills)
    base, quote = account.balance(spec.base), account.balance(spec.quote)
    if side == BUY:
        quote.total -= value
        base.total += base_units(spec, lots)
    else:
        base.total -= base_units(spec, lots)
        quote.total += value
    order.executed, order.cost = lots, value
    remaining = request.volume - lots
    events: list[ExecEvent] = []
    if publishing:
        executed = cost = 0
        for fill in fills:
            executed += fill.qty
            cost += quote_units(spec, fill.price, fill.qty)
            status = "filled" if executed == request.volume else "partially_filled"
            events.append(ExecEvent(order, "trade", status, now, executed, cost, fill))
    if remaining == 0:
        account.close(order, "closed", now)
        if publishing:
            events.append(event(order, "filled", "filled", now))
    elif request.ordertype == "limit" and request.time_in_force == "GTC":
        order.hold = quote_units(spec, order.price, remaining) if side == BUY else base_units(spec, remaining)
        account.balance(order.held_asset).hold += order.hold
        order.resting = sym.rest(order, side, order.price, remaining, now_ms)
    else:
        account.close(order, "canceled", now)  # IOC and market remainders are not kept
        if publishing:
            events.append(event(order, "canceled", "canceled", now, reason="Immediate or cancel"))
    if events:
        sim.trading.publish(account, events)
    return order
