"""OKX's private endpoints: trade/order (place and query), trade/cancel-order, trade/orders-pending, account/balance.

Spot orders in the cash trade mode (`tdMode` cash) are checked as OKX checks them (instrument, side, type, size
a multiple of the lot size and at least the minimum, price on the tick, funds); a placed order trades against
the simulated book like a taker, and a limit remainder (`limit`, `post_only`) rests in the book and is filled
later by market trades; `ioc`, `fok` (all or nothing) and `market` remainders are cancelled. A post-only order that
would trade is cancelled. Market orders size in the base currency (`tgtCcy` base_ccy); fees are zero. An order
that fails is answered code 1 ("All operations failed") with its sCode and sMsg in `data`, as OKX answers it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from exchanges.okx import (
    BATCH_FAILED,
    BELOW_MIN_SIZE,
    INSUFFICIENT_BALANCE,
    MESSAGES,
    NOT_LOT_MULTIPLE,
    ORDER_MISSING,
    ORDER_MISSING_ON_CANCEL,
    SUB_ACCOUNT_RATE_LIMITED,
)
from simulator.market import BUY, SELL
from simulator.okx.account import Account, Order
from simulator.okx.errors import OkxError, parameter_empty, parameter_error
from simulator.okx.instruments import price_text, size_text, value_text
from simulator.okx.market_data import instrument_param
from simulator.units import UNITS, base_units, quote_units

if TYPE_CHECKING:
    from simulator.okx.sim import OkxSim

SIDES = {"buy": BUY, "sell": SELL}
ORDER_TYPES = ("limit", "market", "post_only", "ioc", "fok")
RESTING_TYPES = ("limit", "post_only")
_DECIMAL_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
_CL_ORD_ID_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")


def _failed(code: str, cl_ord_id: str = "", ord_id: str = "", tag: str = "", msg: str | None = None) -> OkxError:
    entry = {"clOrdId": cl_ord_id, "ordId": ord_id, "sCode": code, "sMsg": MESSAGES.get(code, "") if msg is None
             else msg, "tag": tag, "ts": ""}
    return OkxError(BATCH_FAILED, "All operations failed", [entry])


# --- balances -------------------------------------------------------------------------------------------


def balance(sim: OkxSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    wanted = [c for c in params.get("ccy", "").split(",") if c]
    now_ms = str(int(now * 1000))
    details = []
    for ccy, b in account.balances.items():
        if wanted and ccy not in wanted:
            continue
        total, frozen, available = (value_text(v / UNITS) for v in (b.total, b.frozen, b.available))
        details.append({
            "ccy": ccy, "eq": total, "cashBal": total, "availBal": available, "availEq": available,
            "frozenBal": frozen, "ordFrozen": frozen, "disEq": total, "eqUsd": "", "upl": "0", "uTime": now_ms,
            "isoEq": "0", "liab": "0", "crossLiab": "0", "interest": "0", "notionalLever": "0", "mgnRatio": "",
            "stgyEq": "0", "twap": "0", "maxLoan": "", "fixedBal": "0", "spotBal": total, "spotAvailBal": available,
        })
    return [{"adjEq": "", "imr": "", "mmr": "", "isoEq": "0", "mgnRatio": "", "notionalUsd": "", "ordFroz": "",
             "totalEq": "", "uTime": now_ms, "upl": "", "details": details}]


# --- orders ---------------------------------------------------------------------------------------------


def place_order(sim: OkxSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    cl_ord_id, tag = params.get("clOrdId", ""), params.get("tag", "")
    if cl_ord_id and not _CL_ORD_ID_RE.match(cl_ord_id):
        raise parameter_error("clOrdId")
    inst = instrument_param(params)
    assert inst is not None
    for name in ("tdMode", "side", "ordType", "sz"):
        if not params.get(name):
            raise parameter_empty(name)
    if params["tdMode"] != "cash":
        raise parameter_error("tdMode")  # the simulator trades spot only, without margin
    side = SIDES.get(params["side"])
    if side is None:
        raise parameter_error("side")
    ord_type = params["ordType"]
    if ord_type not in ORDER_TYPES:
        raise parameter_error("ordType")
    if params.get("tgtCcy", "base_ccy") != "base_ccy":
        raise parameter_error("tgtCcy")  # sizes in the quote currency are not modelled
    sym = sim.market.symbols[inst.inst_id]
    spec = sym.spec
    size = _decimal(params, "sz")
    lots = size / Decimal(inst.lot_sz)
    if lots != lots.to_integral_value():
        raise _failed(NOT_LOT_MULTIPLE, cl_ord_id, tag=tag)
    if size < Decimal(inst.min_sz):
        raise _failed(BELOW_MIN_SIZE, cl_ord_id, tag=tag)
    ticks = 0
    if ord_type != "market":
        if not params.get("px"):
            raise parameter_empty("px")
        price = _decimal(params, "px")
        exact = price / Decimal(inst.tick_sz)
        if price <= 0 or exact != exact.to_integral_value():
            raise parameter_error("px")
        ticks = int(exact)
    if cl_ord_id and any(o.cl_ord_id == cl_ord_id for o in account.open.values()):
        raise _failed("51016", cl_ord_id, tag=tag, msg="Duplicated client order ID")
    if not _affordable(sym, side, ord_type, ticks, int(lots), account):
        raise _failed(INSUFFICIENT_BALANCE, cl_ord_id, tag=tag)
    if not sim.limiter.admit_order(account.uid, now):
        sim.stats.rate_limited += 1
        raise _failed(SUB_ACCOUNT_RATE_LIMITED, cl_ord_id, tag=tag)
    order = _execute(sim, account, spec, side, ord_type, ticks, int(lots), cl_ord_id, tag, int(now * 1000))
    return [{"clOrdId": cl_ord_id, "ordId": order.ord_id, "sCode": "0", "sMsg": "Order placed", "tag": tag,
             "ts": str(order.created_ms)}]


def batch_orders(sim: OkxSim, params: Any, now: float, account: Account) -> Any:
    """Up to 20 orders in one request, each placed or refused on its own (code 1 when all fail, 2 when some do)."""
    return _batch(sim, params, now, account, place_order)


def cancel_batch_orders(sim: OkxSim, params: Any, now: float, account: Account) -> Any:
    return _batch(sim, params, now, account, cancel_order)


BATCH_MAX = 20


def _batch(sim: OkxSim, params: Any, now: float, account: Account, one: Any) -> Any:
    if not isinstance(params, list) or not params or len(params) > BATCH_MAX:
        raise parameter_error("orders")
    results: list[dict[str, str]] = []
    for entry in params:
        try:
            results += one(sim, {str(k): str(v) for k, v in entry.items()} if isinstance(entry, dict) else {}, now,
                           account)
        except OkxError as e:
            results += e.data or [{"clOrdId": "", "ordId": "", "sCode": e.code, "sMsg": e.msg, "tag": "", "ts": ""}]
    failed = sum(1 for r in results if r["sCode"] != "0")
    if failed:
        code = BATCH_FAILED if failed == len(results) else "2"
        raise OkxError(code, "All operations failed" if code == BATCH_FAILED else "Bulk operation partially succeeded",
                       results, status=200)
    return results


def cancel_order(sim: OkxSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    inst = instrument_param(params)
    assert inst is not None
    ord_id, cl_ord_id = params.get("ordId", ""), params.get("clOrdId", "")
    if not ord_id and not cl_ord_id:
        raise OkxError("51003", "Either client order ID or order ID is required.")
    order = account.find(ord_id, cl_ord_id)
    if order is None or order.ord_id not in account.open or order.spec.symbol != inst.inst_id:
        raise _failed(ORDER_MISSING_ON_CANCEL, cl_ord_id, ord_id)
    now_ms = int(now * 1000)
    if order.resting is not None:
        sim.market.symbols[inst.inst_id].cancel(order.resting, now_ms)
        sim.cache.clear()
    account.close(order, "canceled", now_ms)
    return [{"clOrdId": order.cl_ord_id, "ordId": order.ord_id, "sCode": "0", "sMsg": "", "ts": str(now_ms)}]


def get_order(sim: OkxSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    inst = instrument_param(params)
    assert inst is not None
    ord_id, cl_ord_id = params.get("ordId", ""), params.get("clOrdId", "")
    if not ord_id and not cl_ord_id:
        raise OkxError("51003", "Either client order ID or order ID is required.")
    order = account.find(ord_id, cl_ord_id)
    if order is None or order.spec.symbol != inst.inst_id:
        raise OkxError(ORDER_MISSING)
    return [order_info(order)]


def orders_pending(sim: OkxSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    inst_type, inst_id = params.get("instType", ""), params.get("instId", "")
    if inst_type and inst_type not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
        raise parameter_error("instType")
    if inst_id:
        instrument_param(params)
    limit = min(int(params.get("limit") or 100), 100) if (params.get("limit") or "1").isdigit() else 100
    selected = [o for o in reversed(account.open.values())  # newest first
                if (not inst_id or o.spec.symbol == inst_id) and inst_type in ("", "SPOT")
                and (not params.get("ordType") or o.ord_type == params["ordType"])]
    return [order_info(o) for o in selected[:limit]]


def order_info(order: Order) -> dict[str, str]:
    spec = order.spec
    average = (Decimal(order.cost) / UNITS / (Decimal(order.filled) * Decimal(str(spec.step_size)))
               if order.filled else None)
    return {
        "instType": "SPOT", "instId": spec.symbol, "ccy": "", "ordId": order.ord_id, "clOrdId": order.cl_ord_id,
        "tag": order.tag, "px": price_text(spec, order.price) if order.price else "", "pxUsd": "", "pxVol": "",
        "pxType": "", "sz": size_text(spec, order.size), "pnl": "0", "ordType": order.ord_type,
        "side": "buy" if order.side == BUY else "sell", "posSide": "net", "tdMode": "cash",
        "accFillSz": size_text(spec, order.filled),
        "fillPx": price_text(spec, order.last_fill_price) if order.last_fill_size else "",
        "tradeId": str(order.last_trade_id) if order.last_fill_size else "",
        "fillSz": size_text(spec, order.last_fill_size) if order.last_fill_size else "0",
        "fillTime": str(order.updated_ms) if order.last_fill_size else "",
        "avgPx": format(average.normalize(), "f") if average is not None else "", "state": order.state,
        "stpId": "", "stpMode": "cancel_maker", "lever": "", "attachAlgoClOrdId": "", "tpTriggerPx": "",
        "tpTriggerPxType": "", "tpOrdPx": "", "slTriggerPx": "", "slTriggerPxType": "", "slOrdPx": "",
        "attachAlgoOrds": [], "linkedAlgoOrd": {"algoId": ""}, "feeCcy": spec.quote if order.side == SELL
        else spec.base, "fee": "0", "rebateCcy": spec.quote, "rebate": "0", "source": "", "category": "normal",
        "reduceOnly": "false", "isTpLimit": "false", "cancelSource": "", "cancelSourceReason": "",
        "quickMgnType": "", "algoClOrdId": "", "algoId": "", "tgtCcy": "", "uTime": str(order.updated_ms),
        "cTime": str(order.created_ms), "tradeQuoteCcy": spec.quote,
    }


# --- checks and execution -----------------------------------------------------------------------------


def _decimal(params: Mapping[str, str], name: str) -> Decimal:
    text = params.get(name, "")
    if not _DECIMAL_RE.match(text):
        raise parameter_error(name)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise parameter_error(name) from None


def _affordable(sym: Any, side: str, ord_type: str, ticks: int, lots: int, account: Account) -> bool:
    spec = sym.spec
    if side == SELL:
        return account.balance(spec.base).available >= base_units(spec, lots)
    if ord_type == "market":
        cost, left = 0, lots
        for price in sorted(sym.asks):
            take = min(left, sym.asks[price])
            cost += quote_units(spec, price, take)
            left -= take
            if left <= 0:
                break
    else:
        cost = quote_units(spec, ticks, lots)
    return account.balance(spec.quote).available >= cost


def _crosses(sym: Any, side: str, ticks: int) -> bool:
    best = sym.best_ask() if side == BUY else sym.best_bid()
    return best is not None and (ticks >= best if side == BUY else ticks <= best)


def _fillable(sym: Any, side: str, ticks: int, lots: int) -> bool:
    levels = sym.asks if side == BUY else sym.bids
    reachable = sum(q for p, q in levels.items() if (p <= ticks if side == BUY else p >= ticks))
    return reachable >= lots


def _execute(sim: OkxSim, account: Account, spec: Any, side: str, ord_type: str, ticks: int, lots: int,
             cl_ord_id: str, tag: str, now_ms: int) -> Order:
    sym = sim.market.symbols[spec.symbol]
    sim.cache.clear()  # the order may trade or rest: market answers change
    order = Order(sim.trading.new_ord_id(), cl_ord_id, tag, spec, side, ord_type, ticks, lots, now_ms, now_ms,
                  account=account)
    account.open[order.ord_id] = order
    if (ord_type == "post_only" and _crosses(sym, side, ticks)) or (
            ord_type == "fok" and not _fillable(sym, side, ticks, lots)):
        account.close(order, "canceled", now_ms)
        return order
    fills = sym.execute(side, lots, ticks if ord_type != "market" else None, now_ms)
    filled = sum(f.qty for f in fills)
    value = sum(quote_units(spec, f.price, f.qty) for f in fills)
    base, quote = account.balance(spec.base), account.balance(spec.quote)
    if side == BUY:
        quote.total -= value
        base.total += base_units(spec, filled)
    else:
        base.total -= base_units(spec, filled)
        quote.total += value
    order.filled, order.cost = filled, value
    if fills:
        last = fills[-1]
        order.last_fill_price, order.last_fill_size, order.last_trade_id = last.price, last.qty, last.trade_id
    remaining = lots - filled
    if remaining == 0:
        account.close(order, "filled", now_ms)
    elif ord_type in RESTING_TYPES:
        order.state = "partially_filled" if filled else "live"
        order.frozen = quote_units(spec, ticks, remaining) if side == BUY else base_units(spec, remaining)
        account.balance(order.frozen_currency).frozen += order.frozen
        order.resting = sym.rest(order, side, ticks, remaining, now_ms)
    else:
        account.close(order, "canceled", now_ms)
    return order


