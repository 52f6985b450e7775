"""Coinbase's public endpoints, answered from the simulated market.

Each handler takes (sim, request, now_s, profile) and returns the JSON-ready answer, or an `Answer`
when it sets headers (the trades page's CB-BEFORE/CB-AFTER cursors). Prices and sizes are strings,
except in candles, whose rows are JSON numbers; trade ids and sequences are numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from exchanges.coinbase import BOOK_LEVELS, CANDLE_GRANULARITIES, MAX_CANDLES, TRADES_PAGE_MAX
from simulator.coinbase.errors import CoinbaseError, invalid, not_found
from simulator.coinbase.products import CURRENCIES, PRODUCT_PARAMS
from simulator.coinbase.wire import Answer, Request, iso_time, sequence, stable_uuid
from simulator.market import BUY, SELL, SymbolMarket, SymbolSpec, Trade

if TYPE_CHECKING:
    from simulator.coinbase.account import Profile
    from simulator.coinbase.sim import CoinbaseSim

DAY_MS = 86_400_000
MONTH_DAYS = 30


def server_time(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    return {"iso": iso_time(now * 1000)[:-4] + "Z", "epoch": round(now, 3)}


def currencies(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    return [_currency(code) for code in CURRENCIES]


def currency(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    code = request.path["currency_id"]
    if code not in CURRENCIES:
        raise not_found()
    return _currency(code)


def _currency(code: str) -> dict[str, Any]:
    info = CURRENCIES[code]
    crypto = info.kind == "crypto"
    networks = [{
        "id": info.network, "name": info.name, "status": "online", "contract_address": "",
        "crypto_address_link": "", "crypto_transaction_link": "", "min_withdrawal_amount": 0.0001,
        "max_withdrawal_amount": 10_000, "network_confirmations": 6, "processing_time_seconds": 0,
    }] if crypto else []
    return {
        "id": code,
        "name": info.name,
        "min_size": info.max_precision,
        "status": "online",
        "message": "",
        "max_precision": info.max_precision,
        "convertible_to": [],
        "details": {
            "type": info.kind, "symbol": "$" if code == "USD" else None, "network_confirmations": 6 if crypto else 0,
            "sort_order": list(CURRENCIES).index(code), "crypto_address_link": "", "crypto_transaction_link": "",
            "push_payment_methods": [] if crypto else ["bank_wire"], "group_types": [], "display_name": None,
            "processing_time_seconds": None, "min_withdrawal_amount": 0.0001 if crypto else 1,
            "max_withdrawal_amount": 10_000 if crypto else 1_000_000,
        },
        "default_network": info.network,
        "supported_networks": networks,
        "display_name": code,
    }


def products(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    return [product_info(sym.spec) for sym in sim.market.symbols.values()]


def product(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    return product_info(product_of(sim, request).spec)


def product_info(spec: SymbolSpec) -> dict[str, Any]:
    params = PRODUCT_PARAMS[spec.symbol]
    return {
        "id": spec.symbol,
        "base_currency": spec.base,
        "quote_currency": spec.quote,
        "quote_increment": spec.price_str(1),
        "base_increment": spec.qty_str(1),
        "display_name": f"{spec.base}-{spec.quote}",
        "min_market_funds": params.min_market_funds,
        "margin_enabled": False,
        "post_only": False,
        "limit_only": False,
        "cancel_only": False,
        "status": "online",
        "status_message": "",
        "trading_disabled": False,
        "fx_stablecoin": False,
        "max_slippage_percentage": "0.03000000",
        "auction_mode": False,
        "high_bid_limit_percentage": "",
    }


def product_of(sim: CoinbaseSim, request: Request) -> SymbolMarket:
    """The market of the product in the path; 404 NotFound for an unknown one, as Coinbase answers."""
    sym = sim.market.symbols.get(request.path["product_id"])
    if sym is None:
        raise not_found()
    return sym


def ticker(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    sym = product_of(sim, request)
    spec = sym.spec
    last = sym.trades[-1] if sym.trades else None
    bid, ask = sym.best_bid(), sym.best_ask()
    return {
        "ask": spec.price_str(ask or 0),
        "bid": spec.price_str(bid or 0),
        "volume": _size(sim.day_stats(sym, int(now * 1000)).volume),
        "trade_id": last.id if last else 0,
        "price": spec.price_str(last.price if last else sym.last_price()),
        "size": spec.qty_str(last.qty if last else 0),
        "time": iso_time(last.time_ms if last else now * 1000),
    }


def stats(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    sym = product_of(sim, request)
    now_ms = int(now * 1000)
    day = sim.day_stats(sym, now_ms)
    price = _price_format(sym.spec)
    return {
        "open": price(day.open),
        "high": price(day.high),
        "low": price(day.low),
        "last": sym.spec.price_str(sym.last_price()),
        "volume": _size(day.volume),
        "volume_30day": _size(thirty_day_volume(sim, sym, now_ms)),
    }


def thirty_day_volume(sim: CoinbaseSim, sym: SymbolMarket, now_ms: int) -> float:
    """Base volume of the last 30 daily candles (computed at most once a minute per product)."""
    return sim.per_minute(
        ("30d", sym.spec.symbol), now_ms,
        lambda: sum(c.volume for c in sym.candles(DAY_MS, None, None, MONTH_DAYS, now_ms)),
    )


def book(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    sym = product_of(sim, request)
    level = request.integer("level", 1)
    if level not in BOOK_LEVELS:
        raise invalid("level")
    depth = 1 if level == 1 else len(sym.bids) + len(sym.asks)  # levels 2 and 3: the whole book
    if level == 3:
        bids, asks = _orders(sym, BUY, depth), _orders(sym, SELL, depth)
    else:
        bids, asks = _levels(sym, BUY, depth), _levels(sym, SELL, depth)
    return {
        "bids": bids,
        "asks": asks,
        "sequence": sequence(sym),
        "auction_mode": False,
        "auction": None,
        "time": iso_time(now * 1000),
    }


def _user_orders(sym: SymbolMarket, side: str, price: int) -> list[Any]:
    return list(sym.user_orders.get((side, price), ()))


def _levels(sym: SymbolMarket, side: str, depth: int) -> list[list[Any]]:
    """Aggregated levels [price, size, num_orders]: the market makers' quantity counts as one order."""
    spec, rows = sym.spec, []
    for price, size in sym.top(side, depth):
        users = _user_orders(sym, side, price)
        makers = size - sum(o.remaining for o in users)
        rows.append([spec.price_str(price), spec.qty_str(size), len(users) + (1 if makers > 0 else 0)])
    return rows


def _orders(sym: SymbolMarket, side: str, depth: int) -> list[list[Any]]:
    """Level 3 rows [price, size, order_id]: the market makers' quantity first (time priority), then users'."""
    spec, rows = sym.spec, []
    for price, size in sym.top(side, depth):
        users = _user_orders(sym, side, price)
        makers = size - sum(o.remaining for o in users)
        if makers > 0:
            rows.append([spec.price_str(price), spec.qty_str(makers), maker_order_id(sym, side, price)])
        rows.extend([spec.price_str(price), spec.qty_str(o.remaining), o.ref.id] for o in users)
    return rows


def maker_order_id(sym: SymbolMarket, side: str, price: int) -> str:
    """The synthetic market maker's order id at one price level."""
    return stable_uuid("maker", sym.spec.symbol, side, price)


def trades(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    sym = product_of(sim, request)
    page, headers = paginate(list(sym.trades), lambda t: t.id, request)
    return Answer([_trade(sym.spec, t) for t in page], headers)


def paginate(
    items: list[Any], cursor_of: Callable[[Any], int], request: Request, default_limit: int = TRADES_PAGE_MAX
) -> tuple[list[Any], dict[str, str]]:
    """Coinbase's cursor pagination over `items` (oldest first): newest first, at most `limit`; `after`
    gives older items than a cursor, `before` newer ones; CB-BEFORE/CB-AFTER name the page's ends."""
    limit = request.integer("limit", default_limit)
    if limit is None or not 1 <= limit <= TRADES_PAGE_MAX:
        raise invalid("limit")
    after, before = request.integer("after", None), request.integer("before", None)
    if after is not None:
        page = [i for i in items if cursor_of(i) < after][-limit:]
    elif before is not None:
        page = [i for i in items if cursor_of(i) > before][:limit]
    else:
        page = items[-limit:]
    page.reverse()
    headers = {"CB-BEFORE": str(cursor_of(page[0])), "CB-AFTER": str(cursor_of(page[-1]))} if page else {}
    return page, headers


def _trade(spec: SymbolSpec, t: Trade) -> dict[str, Any]:
    return {
        "trade_id": t.id,
        "side": "buy" if t.buyer_is_maker else "sell",  # the maker's side
        "size": spec.qty_str(t.qty),
        "price": spec.price_str(t.price),
        "time": iso_time(t.time_ms),
    }


def candles(sim: CoinbaseSim, request: Request, now: float, profile: Profile | None) -> Any:
    sym = product_of(sim, request)
    granularity = request.integer("granularity", 60)
    if granularity not in CANDLE_GRANULARITIES:
        raise CoinbaseError("Unsupported granularity")
    start, end = _time_param(request, "start"), _time_param(request, "end")
    if start is not None and end is not None:
        if end < start:
            raise CoinbaseError("start must be before end")
        if (end - start) / granularity > MAX_CANDLES:
            raise CoinbaseError(
                "granularity too small for the requested time range. Count of aggregations requested exceeds 300"
            )
    interval_ms = granularity * 1000
    now_ms = int(now * 1000)
    start_ms = None if start is None else int(start * 1000)
    end_ms = None if end is None else int(end * 1000)
    if start_ms is not None and start_ms > now_ms:
        return []
    rows = sym.candles(interval_ms, start_ms, end_ms, MAX_CANDLES, now_ms)
    if end_ms is not None:
        rows = [c for c in rows if c.open_ms <= end_ms]
    spec = sym.spec
    price = _price_format(spec)
    return [
        [c.open_ms // 1000, float(price(c.low)), float(price(c.high)), float(price(c.open)), float(price(c.close)),
         round(c.volume, 8)]
        for c in reversed(rows)
    ]


def _time_param(request: Request, name: str) -> float | None:
    """A time parameter in seconds: ISO 8601 (what Coinbase documents) or Unix seconds."""
    text = request.text(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise invalid(name) from None
    if not math.isfinite(value) or value < 0:
        raise invalid(name)
    return value


def _price_format(spec: SymbolSpec) -> Any:
    """A float price rounded to the product's increment, as text."""
    return lambda value: spec.price_str(spec.ticks(value))


def _size(value: float) -> str:
    return f"{value:.8f}"
