"""Binance's trading endpoints: place, test, query and cancel orders, open orders and the account.

MARKET orders and the crossing part of LIMIT orders fill against the simulated book
(`SymbolMarket.execute`); the rest of a GTC LIMIT order rests in it (`SymbolMarket.rest`) and is
filled later by market trades (`on_user_fill`). Commission is zero (the account reports zero rates)
and there is no self-trade prevention.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from simulator.binance import params as p
from simulator.binance.account import Account, Order, OrderEvent
from simulator.binance.errors import (
    INSUFFICIENT_BALANCE,
    BinanceError,
    bad_combination,
    filter_failure,
    illegal,
    mandatory,
    order_rejected,
)
from simulator.binance.market_data import ORDER_TYPES
from simulator.binance.symbols import MAX_NUM_ORDERS, MAX_PRICE, MAX_QTY, MIN_NOTIONAL
from simulator.market import BUY, SELL, Fill, SymbolMarket, SymbolSpec
from simulator.units import UNITS, base_units, quote_units, units_str

if TYPE_CHECKING:
    from simulator.binance.sim import BinanceSim

SIDES = {BUY: BUY, SELL: SELL}
TYPES = dict.fromkeys(ORDER_TYPES)
TIME_IN_FORCE = dict.fromkeys(("GTC", "IOC", "FOK"))
RESPONSE_TYPES = dict.fromkeys(("ACK", "RESULT", "FULL"))
STP_MODE = "NONE"
_CLIENT_ID_RE = re.compile(r"^[a-zA-Z0-9-_.]{1,36}$")
_ZERO = "0.00000000"


# --- endpoints ---------------------------------------------------------------------------------


def test_order(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    assert account is not None
    _validate(sim, params, account)
    if params.get("computeCommissionRates", "").lower() == "true":
        zero = {"maker": _ZERO, "taker": _ZERO}
        return {
            "standardCommissionForOrder": zero,
            "specialCommissionForOrder": zero,
            "taxCommissionForOrder": zero,
            "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": "BNB",
                         "discount": _ZERO},
        }
    return {}


def place_order(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    assert account is not None
    request = _validate(sim, params, account)
    rejection = sim.limiter.order_rejection(account.api_key, now)
    if rejection is not None:
        raise BinanceError(rejection.code, rejection.msg, rejection.status, rejection.retry_after_s)
    now_ms = int(now * 1000)
    order, fills = _execute(sim, request, account, now_ms)
    sim.limiter.count_order(account.api_key, now)
    if fills:  # traded at once: its count is given back (faqs/order_count_decrement.md)
        sim.limiter.order_filled(account.api_key, now)
    if sim.trading.listeners:
        sim.trading.publish(account, _placement_events(order, fills, now_ms))
    response_type = request.response_type
    answer = _ack(order)
    if response_type == "ACK":
        return answer
    answer.update(_result(order))
    if response_type == "FULL":
        commission_asset = order.spec.base if order.side == BUY else order.spec.quote
        answer["fills"] = [
            {"price": order.spec.price_str(f.price), "qty": order.spec.qty_str(f.qty), "commission": _ZERO,
             "commissionAsset": commission_asset, "tradeId": f.trade_id}
            for f in fills
        ]
    return answer


def query_order(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    assert account is not None
    order = _find(sim, params, account)
    if order is None:
        raise BinanceError(-2013, "Order does not exist.")
    return _order_info(order)


def cancel_order(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    assert account is not None
    order = _find(sim, params, account)
    if order is None or not order.is_open:
        raise BinanceError(-2011, "Unknown order sent.")
    new_client_id = _client_id(params, "newClientOrderId") or sim.trading.new_client_id()
    now_ms = int(now * 1000)
    if order.resting is not None:
        sim.market.symbols[order.symbol].cancel(order.resting, now_ms)
        sim.cache.clear()
    order.status = "CANCELED"
    order.update_ms = account.update_ms = now_ms
    account.release(order)
    account.closed(order)
    answer = {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": new_client_id,
        "transactTime": now_ms,
    }
    answer.update(_result(order))
    del answer["workingTime"]
    if sim.trading.listeners:
        sim.trading.publish(account, [OrderEvent(order, "CANCELED", "CANCELED", order.executed_qty, order.cumm_quote,
                                                 None, False, now_ms)])
    return answer


def open_orders(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    assert account is not None
    name = params.get("symbol")
    symbol = p.lookup(sim.market, name).spec.symbol if name is not None else None
    return [_order_info(o) for o in account.open_orders(symbol)]


def account_info(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    assert account is not None
    omit_zero = params.get("omitZeroBalances", "").lower() == "true"
    zero_rates = {"maker": _ZERO, "taker": _ZERO, "buyer": _ZERO, "seller": _ZERO}
    return {
        "makerCommission": 0,
        "takerCommission": 0,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": zero_rates,
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": account.update_ms,
        "accountType": "SPOT",
        "balances": [
            {"asset": asset, "free": units_str(b.free), "locked": units_str(b.locked)}
            for asset, b in account.balances.items()
            if not (omit_zero and b.free == 0 and b.locked == 0)
        ],
        "permissions": ["SPOT"],
        "uid": account.uid,
    }


# --- validation --------------------------------------------------------------------------------


@dataclass(slots=True)
class _NewOrder:
    """A validated new-order request (prices in ticks, quantities in lots, quote amounts in units)."""

    sym: SymbolMarket
    side: str
    type: str
    time_in_force: str
    price: int
    lots: int
    quote_qty: int
    client_id: str
    response_type: str


def _validate(sim: BinanceSim, params: Mapping[str, str], account: Account) -> _NewOrder:
    """Check a new order's parameters, filters and balance as Binance does; raise BinanceError if it fails."""
    sym = p.symbol(sim.market, params)
    spec = sym.spec
    side = p.choice(params, "side", SIDES, BinanceError(-1117, "Invalid side.")) or _missing("side")
    type_ = p.choice(params, "type", TYPES, BinanceError(-1116, "Invalid orderType.")) or _missing("type")
    tif = p.choice(params, "timeInForce", TIME_IN_FORCE, BinanceError(-1115, "Invalid timeInForce."))
    if type_ == "LIMIT" and tif is None:
        raise mandatory("timeInForce")
    if type_ != "LIMIT" and tif is not None:
        raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
    response_type = p.choice(params, "newOrderRespType", RESPONSE_TYPES, illegal("newOrderRespType", "ACK|RESULT|FULL"))
    client_id = _client_id(params, "newClientOrderId")
    if client_id is not None and account.open_with_client_id(spec.symbol, client_id):
        raise order_rejected("Duplicate order sent.")
    qty = p.decimal(params, "quantity")
    quote_qty = p.decimal(params, "quoteOrderQty")
    price = p.decimal(params, "price")
    if type_ == "MARKET":
        if price is not None:
            raise BinanceError(-1106, "Parameter 'price' sent when not required.")
        if (qty is None) == (quote_qty is None):
            if qty is None:
                raise BinanceError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
            raise bad_combination()
    else:
        if quote_qty is not None:
            raise BinanceError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
        if qty is None:
            raise mandatory("quantity")
        if price is None:
            raise mandatory("price")
    ticks = _multiple(price, spec.tick_size, "PRICE_FILTER") if price is not None else 0
    if price is not None and not 1 <= ticks <= spec.ticks(MAX_PRICE):
        raise filter_failure("PRICE_FILTER")
    lots = _multiple(qty, spec.step_size, "LOT_SIZE") if qty is not None else 0
    if qty is not None and not 1 <= lots <= spec.lots(MAX_QTY):
        raise filter_failure("LOT_SIZE")
    quote_units_wanted = round(quote_qty * UNITS) if quote_qty is not None else 0
    reference_price = price if price is not None else Decimal(spec.price_str(sym.last_price()))  # MARKET: last
    notional = quote_qty if quote_qty is not None else (qty or Decimal(0)) * reference_price
    if notional < Decimal(str(MIN_NOTIONAL)):
        raise filter_failure("NOTIONAL")
    if type_ != "MARKET" and len(account.open.get(spec.symbol, ())) >= MAX_NUM_ORDERS:
        raise filter_failure("MAX_NUM_ORDERS")
    if type_ == "LIMIT_MAKER" and _crosses(sym, side, ticks):
        raise order_rejected("Order would immediately match and take.")
    if quote_units_wanted:
        lots = _lots_for_quote(sym, side, quote_units_wanted)
    request = _NewOrder(sym, side, type_, tif or "GTC", ticks, lots, quote_units_wanted, client_id or "",
                        response_type or ("FULL" if type_ in ("LIMIT", "MARKET") else "ACK"))
    if not _affordable(request, account):
        raise order_rejected(INSUFFICIENT_BALANCE)
    return request


def _missing(name: str) -> str:
    raise mandatory(name)


def _client_id(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not _CLIENT_ID_RE.match(value):
        raise illegal(name, _CLIENT_ID_RE.pattern)
    return value


def _multiple(value: Decimal, step: float, filter_name: str) -> int:
    """`value` as a whole number of `step`s; a filter failure when it is not one."""
    count = value / Decimal(str(step))
    if count != count.to_integral_value():
        raise filter_failure(filter_name)
    return int(count)


def _crosses(sym: SymbolMarket, side: str, ticks: int) -> bool:
    best = sym.best_ask() if side == BUY else sym.best_bid()
    return best is not None and (ticks >= best if side == BUY else ticks <= best)


def _walk(sym: SymbolMarket, side: str, lots: int, limit: int | None) -> list[tuple[int, int]]:
    """The (price, lots) a taker order of `lots` would fill against the book, without filling it."""
    levels = sym.asks if side == BUY else sym.bids
    fills = []
    for price in sorted(levels, reverse=(side == SELL)):
        if lots <= 0 or (limit is not None and (price > limit if side == BUY else price < limit)):
            break
        take = min(lots, levels[price])
        fills.append((price, take))
        lots -= take
    return fills


def _lots_for_quote(sym: SymbolMarket, side: str, quote: int) -> int:
    """How many lots a MARKET order with quoteOrderQty spends (BUY) or raises (SELL) at most."""
    levels = sym.asks if side == BUY else sym.bids
    spec, lots = sym.spec, 0
    for price in sorted(levels, reverse=(side == SELL)):
        per_lot = quote_units(spec, price, 1)
        take = min(levels[price], quote // per_lot if per_lot else 0)
        lots += take
        quote -= take * per_lot
        if take < levels[price]:
            break
    return lots


def _affordable(request: _NewOrder, account: Account) -> bool:
    spec, sym = request.sym.spec, request.sym
    if request.side == BUY and request.quote_qty:
        return account.balance(spec.quote).free >= request.quote_qty
    if request.side == SELL:
        return account.balance(spec.base).free >= base_units(spec, request.lots)
    if request.type == "MARKET":
        cost = sum(quote_units(spec, price, lots) for price, lots in _walk(sym, BUY, request.lots, None))
    else:
        cost = quote_units(spec, request.price, request.lots)
    return account.balance(spec.quote).free >= cost


# --- execution ---------------------------------------------------------------------------------


def _execute(sim: BinanceSim, request: _NewOrder, account: Account, now_ms: int) -> tuple[Order, list[Fill]]:
    sym, spec, side = request.sym, request.sym.spec, request.side
    sim.cache.clear()  # the order may trade or rest: market answers change
    sim.trading.next_order_id += 1
    order = Order(spec.symbol, spec, sim.trading.next_order_id, request.client_id or sim.trading.new_client_id(),
                  side, request.type, request.time_in_force, request.price, request.lots, request.quote_qty, now_ms,
                  update_ms=now_ms)
    account.add(order)
    account.update_ms = now_ms
    limit = request.price if request.type != "MARKET" else None
    fill_or_kill_short = request.time_in_force == "FOK" and sum(q for _, q in _walk(sym, side, request.lots, limit)) < (
        request.lots)
    if request.type == "LIMIT_MAKER" or fill_or_kill_short or request.lots == 0:
        fills = []
    else:
        fills = sym.execute(side, request.lots, limit, now_ms)
    _settle_taker(account, order, fills)
    remaining = order.orig_qty - order.executed_qty
    if remaining == 0 and order.orig_qty > 0:
        order.status = "FILLED"
    elif request.type != "MARKET" and request.time_in_force == "GTC":
        _rest(sym, account, order, remaining, now_ms)
    else:
        order.status = "EXPIRED"
    if not order.is_open:
        account.closed(order)
    return order, fills


def _settle_taker(account: Account, order: Order, fills: list[Fill]) -> None:
    spec = order.spec
    lots = sum(f.qty for f in fills)
    value = sum(quote_units(spec, f.price, f.qty) for f in fills)
    base, quote = account.balance(spec.base), account.balance(spec.quote)
    if order.side == BUY:
        quote.free -= value
        base.free += base_units(spec, lots)
    else:
        base.free -= base_units(spec, lots)
        quote.free += value
    order.executed_qty += lots
    order.cumm_quote += value
    if lots and lots < order.orig_qty:
        order.status = "PARTIALLY_FILLED"


def _rest(sym: SymbolMarket, account: Account, order: Order, remaining: int, now_ms: int) -> None:
    spec = order.spec
    if order.side == BUY:
        order.locked = quote_units(spec, order.price, remaining)
        balance = account.balance(spec.quote)
    else:
        order.locked = base_units(spec, remaining)
        balance = account.balance(spec.base)
    balance.free -= order.locked
    balance.locked += order.locked
    order.resting = sym.rest(order, order.side, order.price, remaining, now_ms)


def _placement_events(order: Order, fills: list[Fill], now_ms: int) -> list[OrderEvent]:
    """NEW, then one TRADE per fill (PARTIALLY_FILLED until the last fills it), then EXPIRED if the rest expired."""
    events = [OrderEvent(order, "NEW", "NEW", 0, 0, None, False, now_ms)]
    lots = quote = 0
    for fill in fills:
        lots += fill.qty
        quote += quote_units(order.spec, fill.price, fill.qty)
        status = "FILLED" if lots >= order.orig_qty else "PARTIALLY_FILLED"
        events.append(OrderEvent(order, "TRADE", status, lots, quote, fill, False, now_ms))
    if order.status == "EXPIRED":
        events.append(OrderEvent(order, "EXPIRED", "EXPIRED", lots, quote, None, False, now_ms))
    return events


# --- answers -----------------------------------------------------------------------------------


def _find(sim: BinanceSim, params: Mapping[str, str], account: Account) -> Order | None:
    sym = p.symbol(sim.market, params)
    order_id = p.integer(params, "orderId")
    client_id = params.get("origClientOrderId") or None
    if order_id is None and client_id is None:
        raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
    return account.find(sym.spec.symbol, order_id, client_id)


def _ack(order: Order) -> dict[str, Any]:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time_ms,
    }


def _result(order: Order) -> dict[str, Any]:
    spec: SymbolSpec = order.spec
    return {
        "price": spec.price_str(order.price),
        "origQty": spec.qty_str(order.orig_qty),
        "executedQty": spec.qty_str(order.executed_qty),
        "origQuoteOrderQty": units_str(order.orig_quote_qty),
        "cummulativeQuoteQty": units_str(order.cumm_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "workingTime": order.time_ms,
        "selfTradePreventionMode": STP_MODE,
    }


def _order_info(order: Order) -> dict[str, Any]:
    spec = order.spec
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": spec.price_str(order.price),
        "origQty": spec.qty_str(order.orig_qty),
        "executedQty": spec.qty_str(order.executed_qty),
        "cummulativeQuoteQty": units_str(order.cumm_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "stopPrice": _ZERO,
        "icebergQty": _ZERO,
        "time": order.time_ms,
        "updateTime": order.update_ms,
        "isWorking": order.type != "MARKET",
        "workingTime": order.time_ms,
        "origQuoteOrderQty": units_str(order.orig_quote_qty),
        "selfTradePreventionMode": STP_MODE,
    }
