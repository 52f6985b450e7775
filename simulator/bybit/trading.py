"""Bybit v5's signed endpoints: order create, cancel, realtime and history, the wallet balance, and the account
endpoints clients call at start (account info, API key info, coin info).

Orders are checked as Bybit checks spot orders (symbol, side, type, quantity and price precision, minimum
quantity and value, balance), then trade against the simulated book like a taker; a GTC limit remainder rests in
the book and is filled later by market trades. Fees are zero. Order types `Limit` and `Market` (a market buy's
`qty` is in the quote coin, Bybit's default `marketUnit`); time in force `GTC`, `IOC`, `FOK`, `PostOnly`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from exchanges.bybit import (
    CATEGORY,
    COINS,
    DUPLICATE_ORDER_LINK_ID,
    INSUFFICIENT_BALANCE,
    ORDER_NOT_EXISTS,
    ORDER_PRICE_DECIMALS,
    ORDER_QTY_DECIMALS,
    ORDER_QTY_TOO_LOW,
    ORDER_VALUE_TOO_LOW,
)
from simulator.bybit.account import (
    CANCELLED,
    FILLED,
    NEW,
    OPEN_STATUSES,
    PARTIALLY_FILLED,
    PARTIALLY_FILLED_CANCELED,
    Account,
    Order,
)
from simulator.bybit.errors import BybitError, params_error
from simulator.bybit.market_data import category_param, spot_instrument
from simulator.market import BUY, SELL, SymbolMarket
from simulator.units import UNITS, base_units, quote_units, units_str

if TYPE_CHECKING:
    from simulator.bybit.sim import BybitSim

SIDES = {"Buy": BUY, "Sell": SELL}
ORDER_TYPES = ("Limit", "Market")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "PostOnly")
_DECIMAL_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
_LINK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
REALTIME_LIMIT_DEFAULT, REALTIME_LIMIT_MAX = 20, 50


# --- orders --------------------------------------------------------------------------------------------


def create_order(sim: BybitSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    instrument = spot_instrument(params)
    sym = sim.market.symbols[instrument.symbol]
    spec = sym.spec
    side = SIDES.get(params.get("side", ""))
    if side is None:
        raise params_error("side invalid")
    order_type = params.get("orderType", "")
    if order_type not in ORDER_TYPES:
        raise params_error("orderType invalid")
    tif = params.get("timeInForce") or ("IOC" if order_type == "Market" else "GTC")
    if tif not in TIME_IN_FORCE:
        raise params_error("timeInForce invalid")
    link_id = params.get("orderLinkId") or ""
    if link_id:
        if not _LINK_ID_RE.match(link_id):
            raise params_error("orderLinkId invalid")
        if link_id in account.link_ids:
            raise BybitError(DUPLICATE_ORDER_LINK_ID)
    qty = _decimal(params, "qty")
    if qty is None or qty <= 0:
        raise params_error("qty invalid")
    market_buy_in_quote = order_type == "Market" and side == BUY and params.get("marketUnit") != "baseCoin"
    if order_type == "Limit":
        price = _decimal(params, "price")
        if price is None or price <= 0:
            raise params_error("price invalid")
        ticks = price / Decimal(instrument.tick_size)
        if ticks != ticks.to_integral_value():
            raise BybitError(ORDER_PRICE_DECIMALS)
        reference = price
    else:
        ticks = Decimal(0)
        reference = Decimal(spec.price_str(sym.last_price()))
    if market_buy_in_quote:
        lots_value = qty / reference / Decimal(instrument.base_precision)
        lots = Decimal(int(lots_value))  # the base quantity that value buys, rounded down to the step
        value = qty
    else:
        lots = qty / Decimal(instrument.base_precision)
        if lots != lots.to_integral_value():
            raise BybitError(ORDER_QTY_DECIMALS)
        if qty < Decimal(instrument.min_order_qty):
            raise BybitError(ORDER_QTY_TOO_LOW)
        value = qty * reference
    if value < Decimal(instrument.min_order_amt) or lots <= 0:
        raise BybitError(ORDER_VALUE_TOO_LOW)
    order = Order(sim.trading.new_order_id(), link_id, spec, side, order_type, int(ticks), int(lots), tif,
                  int(now * 1000), int(now * 1000), account=account)
    if not _affordable(order, sym, account):
        raise BybitError(INSUFFICIENT_BALANCE)
    if tif == "PostOnly" and _crosses(order, sym):
        order.status = CANCELLED
        account.closed[order.order_id] = order
    else:
        _execute(sim, order, sym, account, now)
    if link_id:
        account.link_ids[link_id] = order
    return {"orderId": order.order_id, "orderLinkId": order.order_link_id}


def cancel_order(sim: BybitSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    spot_instrument(params)
    order_id, link_id = params.get("orderId") or "", params.get("orderLinkId") or ""
    if not order_id and not link_id:
        raise params_error("orderId or orderLinkId is required")
    order = account.find(order_id, link_id)
    if order is None or order.status not in OPEN_STATUSES or order.spec.symbol != params.get("symbol"):
        raise BybitError(ORDER_NOT_EXISTS)
    now_ms = int(now * 1000)
    if order.resting is not None:
        sim.market.symbols[order.spec.symbol].cancel(order.resting, now_ms)
        sim.cache.clear()
    account.close(order, PARTIALLY_FILLED_CANCELED if order.executed else CANCELLED, now_ms)
    return {"orderId": order.order_id, "orderLinkId": order.order_link_id}


def realtime(sim: BybitSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    """Open orders (openOnly=0, the default), or with openOnly=1 the recent closed ones; orderId or orderLinkId
    finds one order whatever its status."""
    category = category_param(params)
    limit = _int(params, "limit", REALTIME_LIMIT_DEFAULT, 1, REALTIME_LIMIT_MAX)
    if category != CATEGORY:
        return {"category": category, "list": [], "nextPageCursor": ""}
    symbol = params.get("symbol") or ""
    order_id, link_id = params.get("orderId") or "", params.get("orderLinkId") or ""
    if order_id or link_id:
        found = account.find(order_id, link_id)
        orders = [found] if found is not None else []
    elif params.get("openOnly", "0") == "1":
        orders = list(reversed(account.closed.values()))
    else:
        orders = list(reversed(account.open.values()))
    if symbol:
        orders = [o for o in orders if o.spec.symbol == symbol]
    return {"category": CATEGORY, "list": [order_info(o) for o in orders[:limit]], "nextPageCursor": ""}


def history(sim: BybitSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    """Closed orders (the account's last 500), newest first, filtered by symbol, orderId, orderLinkId and
    orderStatus. Bybit's history may lag behind an order's change and keeps cancelled orders 24 h; neither is
    modelled."""
    category = category_param(params)
    limit = _int(params, "limit", REALTIME_LIMIT_DEFAULT, 1, REALTIME_LIMIT_MAX)
    if category != CATEGORY:
        return {"category": category, "list": [], "nextPageCursor": ""}
    wanted = {
        "symbol": params.get("symbol") or "", "orderId": params.get("orderId") or "",
        "orderLinkId": params.get("orderLinkId") or "", "orderStatus": params.get("orderStatus") or "",
    }
    orders = [
        o for o in reversed(account.closed.values())
        if all(not value or _field(o, name) == value for name, value in wanted.items())
    ]
    return {"category": CATEGORY, "list": [order_info(o) for o in orders[:limit]], "nextPageCursor": ""}


def _field(order: Order, name: str) -> str:
    return {"symbol": order.spec.symbol, "orderId": order.order_id, "orderLinkId": order.order_link_id,
            "orderStatus": order.status}[name]


def order_info(order: Order) -> dict[str, Any]:
    spec = order.spec
    executed_qty = order.executed * spec.step_size
    average = order.value / UNITS / executed_qty if order.executed else 0.0
    leaves = order.qty - order.executed if order.status in OPEN_STATUSES else 0
    return {
        "orderId": order.order_id,
        "orderLinkId": order.order_link_id,
        "blockTradeId": "",
        "symbol": spec.symbol,
        "price": spec.price_str(order.price) if order.price else "0",
        "qty": spec.qty_str(order.qty),
        "side": "Buy" if order.side == BUY else "Sell",
        "isLeverage": "0",
        "positionIdx": 0,
        "orderStatus": order.status,
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": f"{average:.{spec.price_decimals}f}" if order.executed else "",
        "leavesQty": spec.qty_str(leaves),
        "leavesValue": f"{leaves * spec.step_size * order.price * spec.tick_size:.8f}",
        "cumExecQty": spec.qty_str(order.executed),
        "cumExecValue": units_str(order.value),
        "cumExecFee": "0",
        "timeInForce": order.time_in_force,
        "orderType": order.order_type,
        "stopOrderType": "",
        "orderIv": "",
        "triggerPrice": "0.00",
        "takeProfit": "0.00",
        "stopLoss": "0.00",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "triggerBy": "",
        "lastPriceOnCreated": "",
        "reduceOnly": False,
        "closeOnTrigger": False,
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "placeType": "",
        "createdTime": str(order.created_ms),
        "updatedTime": str(order.updated_ms),
    }


# --- account --------------------------------------------------------------------------------------------


def wallet_balance(sim: BybitSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    account_type = params.get("accountType")
    if account_type != "UNIFIED":
        raise params_error("accountType only support UNIFIED")
    wanted = {c for c in (params.get("coin") or "").split(",") if c}
    coins = [
        {
            "coin": coin, "equity": units_str(b.total), "usdValue": "", "walletBalance": units_str(b.total),
            "free": "", "locked": units_str(b.locked), "spotHedgingQty": "0", "borrowAmount": "0",
            "availableToWithdraw": "", "accruedInterest": "0", "totalOrderIM": "0", "totalPositionIM": "0",
            "totalPositionMM": "0", "unrealisedPnl": "0", "cumRealisedPnl": "0", "bonus": "0",
            "marginCollateral": True, "collateralSwitch": True, "spotBorrow": "0",
        }
        for coin, b in account.balances.items() if not wanted or coin in wanted
    ]
    return {"list": [{
        "accountType": "UNIFIED", "totalEquity": "", "totalWalletBalance": "", "totalMarginBalance": "",
        "totalAvailableBalance": "", "totalPerpUPL": "0", "totalInitialMargin": "0", "totalMaintenanceMargin": "0",
        "accountIMRate": "0", "accountMMRate": "0", "accountLTV": "0", "coin": coins,
    }]}


def account_info(sim: BybitSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    return {"unifiedMarginStatus": 6, "marginMode": "REGULAR_MARGIN", "isMasterTrader": False,
            "spotHedgingStatus": "OFF", "updatedTime": "1700000000000", "dcpStatus": "OFF", "timeWindow": 10,
            "smpGroup": 0}


def query_api(sim: BybitSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    """The API key's information; the demo key is a master account's read-write key on a unified account."""
    return {
        "id": "1", "note": "simulator demo key", "apiKey": account.api_key, "readOnly": 0, "secret": "",
        "permissions": {"ContractTrade": [], "Spot": ["SpotTrade"], "Wallet": ["AccountTransfer"], "Options": [],
                        "Derivatives": [], "CopyTrading": [], "BlockTrade": [], "Exchange": [], "NFT": [],
                        "Affiliate": [], "Earn": []},
        "ips": ["*"], "type": 1, "deadlineDay": -1, "expiredAt": "", "createdAt": "2024-01-01T00:00:00Z",
        "unified": 0, "uta": 1, "userID": int(account.uid), "inviterID": 0, "vipLevel": "No VIP",
        "mktMakerLevel": "0", "affiliateID": 0, "rsaPublicKey": "", "isMaster": True, "parentUid": "0",
        "kycLevel": "LEVEL_DEFAULT", "kycRegion": "",
    }


def coin_info(sim: BybitSim, params: Mapping[str, str], now: float, account: Account) -> Any:
    """Coins with one withdrawal chain each (the simulator has no deposits or withdrawals)."""
    wanted = params.get("coin")
    rows = [
        {"name": coin, "coin": coin, "remainAmount": "0", "chains": [{
            "chainType": coin, "confirmation": "1", "withdrawFee": "0", "depositMin": "0", "withdrawMin": "0",
            "chain": coin, "chainDeposit": "0", "chainWithdraw": "0", "minAccuracy": "8",
            "withdrawPercentageFee": "0", "contractAddress": "", "safeConfirmNumber": "1",
        }]}
        for coin in COINS if not wanted or coin == wanted
    ]
    return {"rows": rows}


# --- validation and execution --------------------------------------------------------------------------


def _decimal(params: Mapping[str, str], name: str) -> Decimal | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    if not _DECIMAL_RE.match(text):
        raise params_error(f"{name} invalid")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise params_error(f"{name} invalid") from None


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise params_error(f"{name} invalid")
    return int(text)


def _affordable(order: Order, sym: SymbolMarket, account: Account) -> bool:
    spec = sym.spec
    if order.side == SELL:
        return account.balance(spec.base).free >= base_units(spec, order.qty)
    price = order.price if order.order_type == "Limit" else (sym.best_ask() or sym.last_price())
    return account.balance(spec.quote).free >= quote_units(spec, price, order.qty)


def _crosses(order: Order, sym: SymbolMarket) -> bool:
    if order.side == BUY:
        ask = sym.best_ask()
        return ask is not None and order.price >= ask
    bid = sym.best_bid()
    return bid is not None and order.price <= bid


def _execute(sim: BybitSim, order: Order, sym: SymbolMarket, account: Account, now: float) -> None:
    spec = sym.spec
    sim.cache.clear()  # the order may trade or rest: market answers change
    now_ms = int(now * 1000)
    account.open[order.order_id] = order
    limit = order.price if order.order_type == "Limit" else None
    if order.time_in_force == "FOK" and not _fillable(order, sym):
        account.close(order, CANCELLED, now_ms)
        return
    fills = sym.execute(order.side, order.qty, limit, now_ms)
    lots = sum(f.qty for f in fills)
    value = sum(quote_units(spec, f.price, f.qty) for f in fills)
    base, quote = account.balance(spec.base), account.balance(spec.quote)
    if order.side == BUY:
        quote.total -= value
        base.total += base_units(spec, lots)
    else:
        base.total -= base_units(spec, lots)
        quote.total += value
    order.executed, order.value = lots, value
    remaining = order.qty - lots
    if remaining == 0:
        account.close(order, FILLED, now_ms)
    elif order.order_type == "Limit" and order.time_in_force in ("GTC", "PostOnly"):
        order.status = PARTIALLY_FILLED if lots else NEW
        order.lock = quote_units(spec, order.price, remaining) if order.side == BUY else base_units(spec, remaining)
        account.balance(order.locked_coin).locked += order.lock
        order.resting = sym.rest(order, order.side, order.price, remaining, now_ms)
    else:
        account.close(order, PARTIALLY_FILLED_CANCELED if lots else CANCELLED, now_ms)  # IOC/market remainders


def _fillable(order: Order, sym: SymbolMarket) -> bool:
    levels = sym.asks if order.side == BUY else sym.bids
    crossing = (p for p in levels if (p <= order.price if order.side == BUY else p >= order.price))
    return sum(levels[p] for p in crossing) >= order.qty
