"""Bybit v5's public market-data endpoints, answered from the simulated market.

Each handler takes (sim, params, now_s) and returns the envelope's `result`. Shapes follow the v5 docs (spot):
prices and sizes are strings printed with the instrument's decimals, times are milliseconds (strings where Bybit
sends strings). Only the spot category has instruments here: instruments-info and tickers answer an empty `list`
for `linear`, `inverse` and `option` (the simulator lists no derivatives); the per-symbol endpoints answer
retCode 10001 for a symbol outside spot.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

from exchanges.bybit import (
    CATEGORY,
    INSTRUMENTS,
    KLINE_INTERVALS,
    KLINE_LIMIT_DEFAULT,
    KLINE_LIMIT_MAX,
    ORDERBOOK_LIMIT_DEFAULT,
    ORDERBOOK_LIMIT_MAX,
    RECENT_TRADE_LIMIT_DEFAULT,
    RECENT_TRADE_LIMIT_MAX,
    Instrument,
)
from simulator.bybit.errors import params_error
from simulator.market import BUY, SELL, SymbolMarket, SymbolSpec
from simulator.rolling import MINUTE_MS

if TYPE_CHECKING:
    from simulator.bybit.sim import BybitSim

CATEGORIES = ("spot", "linear", "inverse", "option")
LAUNCH_TIME_MS = "1620000000000"


def category_param(params: Mapping[str, str], default: str | None = None) -> str:
    category = params.get("category") or default
    if category is None:
        raise params_error("category is required")
    if category not in CATEGORIES:
        raise params_error(f"category {category!r} is not supported")
    return category


def spot_instrument(params: Mapping[str, str], default_category: str | None = None) -> Instrument:
    """The spot instrument a per-symbol request names (`category` must be spot)."""
    category = category_param(params, default_category)
    symbol = params.get("symbol")
    if not symbol:
        raise params_error("symbol is required")
    instrument = INSTRUMENTS.get(symbol) if category == CATEGORY else None
    if instrument is None:
        raise params_error(f"symbol invalid: {symbol}")
    return instrument


def int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise params_error(f"{name} invalid") from None
    if not low <= value <= high:
        raise params_error(f"{name} out of range [{low}, {high}]")
    return value


def _price(spec: SymbolSpec, value: float) -> str:
    return spec.price_str(spec.ticks(value))


# --- endpoints -------------------------------------------------------------------------------------


def server_time(sim: BybitSim, params: Mapping[str, str], now: float) -> Any:
    nanos = int(now * 1e9)
    return {"timeSecond": str(nanos // 10**9), "timeNano": str(nanos)}


def instruments_info(sim: BybitSim, params: Mapping[str, str], now: float) -> Any:
    category = category_param(params)
    if category != CATEGORY:
        return {"category": category, "list": [], "nextPageCursor": ""}
    symbol = params.get("symbol")
    selected = [i for i in INSTRUMENTS.values() if not symbol or i.symbol == symbol]
    status = params.get("status")
    if status and status != "Trading":
        selected = []
    return {"category": CATEGORY, "list": [instrument_info(i) for i in selected], "nextPageCursor": ""}


def instrument_info(i: Instrument) -> dict[str, Any]:
    return {
        "symbol": i.symbol,
        "baseCoin": i.base,
        "quoteCoin": i.quote,
        "innovation": "0",
        "symbolType": "",
        "status": "Trading",
        "marginTrading": "none",  # the simulator trades spot only: no margin
        "stTag": "0",
        "lotSizeFilter": {
            "basePrecision": i.base_precision,
            "quotePrecision": i.quote_precision,
            "minOrderQty": i.min_order_qty,
            "maxOrderQty": i.max_order_qty,
            "minOrderAmt": i.min_order_amt,
            "maxOrderAmt": i.max_order_amt,
        },
        "priceFilter": {"tickSize": i.tick_size},
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
    }


def tickers(sim: BybitSim, params: Mapping[str, str], now: float) -> Any:
    category = category_param(params)
    if category != CATEGORY:
        return {"category": category, "list": []}
    symbol = params.get("symbol")
    if symbol and symbol not in INSTRUMENTS:
        raise params_error(f"symbol invalid: {symbol}")
    now_ms = int(now * 1000)
    names = [symbol] if symbol else list(INSTRUMENTS)
    return {"category": CATEGORY,
            "list": [sim.cached(("ticker", name), lambda name=name: ticker(sim, name, now_ms)) for name in names]}


def ticker(sim: BybitSim, symbol: str, now_ms: int) -> dict[str, str]:
    sym = sim.market.symbols[symbol]
    spec = sym.spec
    day = sim.day_windows[symbol].stats(sym, now_ms)
    bid, ask = sym.best_bid(), sym.best_ask()
    last = sym.last_price() * spec.tick_size
    return {
        "symbol": symbol,
        "bid1Price": spec.price_str(bid or 0),
        "bid1Size": spec.qty_str(sym.bids.get(bid, 0) if bid is not None else 0),
        "ask1Price": spec.price_str(ask or 0),
        "ask1Size": spec.qty_str(sym.asks.get(ask, 0) if ask is not None else 0),
        "lastPrice": spec.price_str(sym.last_price()),
        "prevPrice24h": _price(spec, day.open),
        "price24hPcnt": f"{(last - day.open) / day.open if day.open else 0.0:.4f}",
        "highPrice24h": _price(spec, day.high),
        "lowPrice24h": _price(spec, day.low),
        "turnover24h": f"{day.quote_volume:.8f}",
        "volume24h": f"{day.volume:.8f}",
        "usdIndexPrice": _price(spec, last) if spec.quote == "USDT" else "",
    }


def orderbook(sim: BybitSim, params: Mapping[str, str], now: float) -> Any:
    instrument = spot_instrument(params)
    limit = int_param(params, "limit", ORDERBOOK_LIMIT_DEFAULT, 1, ORDERBOOK_LIMIT_MAX)
    sym = sim.market.symbols[instrument.symbol]
    return book_result(sym, limit, int(now * 1000))


def book_result(sym: SymbolMarket, limit: int, now_ms: int) -> dict[str, Any]:
    spec = sym.spec
    return {
        "s": spec.symbol,
        "b": [[spec.price_str(p), spec.qty_str(q)] for p, q in sym.top(BUY, limit)],
        "a": [[spec.price_str(p), spec.qty_str(q)] for p, q in sym.top(SELL, limit)],
        "ts": now_ms,
        "u": sym.last_update_id,
        "seq": sym.last_update_id,
        "cts": now_ms,
    }


def recent_trade(sim: BybitSim, params: Mapping[str, str], now: float) -> Any:
    instrument = spot_instrument(params)
    limit = int_param(params, "limit", RECENT_TRADE_LIMIT_DEFAULT, 1, RECENT_TRADE_LIMIT_MAX)
    sym = sim.market.symbols[instrument.symbol]
    spec = sym.spec
    tape = sym.trades
    selected = reversed(list(islice(tape, max(0, len(tape) - limit), None)))  # newest first
    rows = [
        {"execId": str(t.id), "symbol": spec.symbol, "price": spec.price_str(t.price), "size": spec.qty_str(t.qty),
         "side": "Sell" if t.buyer_is_maker else "Buy", "time": str(t.time_ms), "isBlockTrade": False,
         "isRPITrade": False, "seq": str(t.id)}
        for t in selected
    ]
    return {"category": CATEGORY, "list": rows}


def kline(sim: BybitSim, params: Mapping[str, str], now: float) -> Any:
    instrument = spot_instrument(params, default_category="linear")  # Bybit's default category is linear
    interval = params.get("interval", "")
    minutes = KLINE_INTERVALS.get(interval)
    if minutes is None:
        raise params_error("interval invalid")
    limit = int_param(params, "limit", KLINE_LIMIT_DEFAULT, 1, KLINE_LIMIT_MAX)
    start = _optional_int(params, "start")
    end = _optional_int(params, "end")
    sym = sim.market.symbols[instrument.symbol]
    spec = sym.spec
    now_ms = int(now * 1000)
    candles = sym.candles(minutes * MINUTE_MS, start, end, limit, now_ms)
    if start is not None and end is not None:
        candles = [c for c in candles if c.open_ms <= end]
    rows = [
        [str(c.open_ms), _price(spec, c.open), _price(spec, c.high), _price(spec, c.low), _price(spec, c.close),
         f"{c.volume:.8f}", f"{c.quote_volume:.8f}"]
        for c in reversed(candles)  # newest first, as Bybit sorts them
    ]
    return {"category": CATEGORY, "symbol": instrument.symbol, "list": rows}


def _optional_int(params: Mapping[str, str], name: str) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise params_error(f"{name} invalid") from None
