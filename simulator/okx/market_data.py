"""OKX's public endpoints, answered from the simulated market.

Each handler takes (sim, params, now_s) and returns the envelope's `data` list. Shapes follow OKX's docs
(#public-data-rest-api, #order-book-trading-market-data): every number is a string; lists of trades and
candles are newest first. `public/instruments` answers other instrument types with an empty list (the simulator
trades spot only).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

from exchanges.okx import (
    BARS_MS,
    BOOKS_SZ_DEFAULT,
    BOOKS_SZ_MAX,
    CANDLES_LIMIT_DEFAULT,
    CANDLES_LIMIT_MAX,
    CANDLES_RECENT,
    CURRENCIES,
    HISTORY_TRADES_LIMIT_MAX,
    INST_TYPES,
    INSTRUMENT_MISSING,
    INSTRUMENTS,
    TRADES_LIMIT_DEFAULT,
    TRADES_LIMIT_MAX,
    Instrument,
)
from simulator.market import BUY, SELL, Candle, SymbolMarket
from simulator.okx.errors import OkxError, parameter_empty, parameter_error
from simulator.okx.instruments import price_text, size_text, value_text

if TYPE_CHECKING:
    from simulator.okx.sim import OkxSim

LIST_TIME_MS = "1548133413000"


def instrument_param(params: Mapping[str, str], required: bool = True) -> Instrument | None:
    inst_id = params.get("instId", "")
    if not inst_id:
        if required:
            raise parameter_empty("instId")
        return None
    inst = INSTRUMENTS.get(inst_id)
    if inst is None:
        raise OkxError(INSTRUMENT_MISSING)
    return inst


def int_param(params: Mapping[str, str], name: str, default: int, high: int) -> int:
    """An integer parameter from 1, clamped at `high` (as OKX clamps `limit` and `sz`)."""
    text = params.get(name, "")
    if text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise parameter_error(name) from None
    if value < 1:
        raise parameter_error(name)
    return min(value, high)


def ms_param(params: Mapping[str, str], name: str) -> int | None:
    text = params.get(name, "")
    if text == "":
        return None
    if not text.isdigit():
        raise parameter_error(name)
    return int(text)


# --- reference data ---------------------------------------------------------------------------------


def server_time(sim: OkxSim, params: Mapping[str, str], now: float) -> Any:
    return [{"ts": str(int(now * 1000))}]


def instruments(sim: OkxSim, params: Mapping[str, str], now: float) -> Any:
    inst_type = params.get("instType", "")
    if not inst_type:
        raise parameter_empty("instType")
    if inst_type not in INST_TYPES:
        raise parameter_error("instType")
    if inst_type != "SPOT":
        return []
    inst = instrument_param(params, required=False)
    return [instrument_info(i) for i in ([inst] if inst else INSTRUMENTS.values())]


def instrument_info(inst: Instrument) -> dict[str, str]:
    return {
        "alias": "", "auctionEndTime": "", "baseCcy": inst.base, "category": "1", "ctMult": "", "ctType": "",
        "ctVal": "", "ctValCcy": "", "expTime": "", "instFamily": "", "instId": inst.inst_id, "instType": "SPOT",
        "lever": "", "listTime": LIST_TIME_MS, "lotSz": inst.lot_sz, "maxIcebergSz": "9999999999",
        "maxLmtAmt": "20000000", "maxLmtSz": "9999999999", "maxMktAmt": "1000000", "maxMktSz": "1000000",
        "maxStopSz": "1000000", "maxTriggerSz": "9999999999", "maxTwapSz": "9999999999", "minSz": inst.min_sz,
        "optType": "", "quoteCcy": inst.quote, "ruleType": "normal", "settleCcy": "", "state": "live", "stk": "",
        "tickSz": inst.tick_sz, "uly": "",
    }


def currencies(sim: OkxSim, params: Mapping[str, str], now: float) -> Any:
    """`asset/currencies` (signed on OKX, listed here with the public data it is)."""
    wanted = [c for c in params.get("ccy", "").split(",") if c]
    return [
        {"ccy": ccy, "name": name, "chain": f"{ccy}-{ccy}", "canDep": True, "canWd": True, "canInternal": True,
         "mainNet": True, "minDep": "0.00000001", "minWd": "0.001", "maxWd": "1000000", "wdTickSz": "8",
         "minFee": "0", "maxFee": "0", "wdQuota": "10000000", "usedWdQuota": "0", "logoLink": "", "needTag": False,
         "minDepArrivalConfirm": "1", "minWdUnlockConfirm": "1", "depQuotaFixed": "", "usedDepQuotaFixed": "",
         "depQuoteDailyLayer2": ""}
        for ccy, name in CURRENCIES.items() if not wanted or ccy in wanted
    ]


# --- market data -------------------------------------------------------------------------------------


def ticker(sim: OkxSim, params: Mapping[str, str], now: float) -> Any:
    inst = instrument_param(params)
    assert inst is not None
    now_ms = int(now * 1000)
    return [sim.cached(("ticker", inst.inst_id), lambda: ticker_info(sim, inst.inst_id, now_ms))]


def tickers(sim: OkxSim, params: Mapping[str, str], now: float) -> Any:
    inst_type = params.get("instType", "")
    if not inst_type:
        raise parameter_empty("instType")
    if inst_type not in INST_TYPES:
        raise parameter_error("instType")
    if inst_type != "SPOT":
        return []
    now_ms = int(now * 1000)
    return [sim.cached(("ticker", i), lambda i=i: ticker_info(sim, i, now_ms)) for i in INSTRUMENTS]


def ticker_info(sim: OkxSim, inst_id: str, now_ms: int) -> dict[str, str]:
    sym = sim.market.symbols[inst_id]
    spec = sym.spec
    day = sim.day_windows[inst_id].stats(sym, now_ms)
    bid, ask = sym.best_bid(), sym.best_ask()
    last_trade = sym.trades[-1] if sym.trades else None
    day_open_ms = now_ms - now_ms % 86_400_000
    sod = sym.candles(86_400_000, day_open_ms, None, 1, now_ms)[0].open
    price = spec.ticks
    return {
        "instType": "SPOT", "instId": inst_id,
        "last": price_text(spec, sym.last_price()),
        "lastSz": size_text(spec, last_trade.qty if last_trade else 0),
        "askPx": price_text(spec, ask or 0), "askSz": size_text(spec, sym.asks.get(ask, 0) if ask else 0),
        "bidPx": price_text(spec, bid or 0), "bidSz": size_text(spec, sym.bids.get(bid, 0) if bid else 0),
        "open24h": price_text(spec, price(day.open)), "high24h": price_text(spec, price(day.high)),
        "low24h": price_text(spec, price(day.low)),
        "volCcy24h": value_text(day.quote_volume), "vol24h": value_text(day.volume),
        "sodUtc0": price_text(spec, price(sod)), "sodUtc8": price_text(spec, price(sod)),
        "ts": str(now_ms),
    }


def book_levels(sym: SymbolMarket, side: str, depth: int) -> list[list[str]]:
    """`[price, size, "0", number of orders]` per level (the third field is deprecated and always "0")."""
    spec = sym.spec
    return [[price_text(spec, p), size_text(spec, q), "0", str(1 + q * 7 % 13)] for p, q in sym.top(side, depth)]


def books(sim: OkxSim, params: Mapping[str, str], now: float) -> Any:
    inst = instrument_param(params)
    assert inst is not None
    depth = int_param(params, "sz", BOOKS_SZ_DEFAULT, BOOKS_SZ_MAX)
    sym = sim.market.symbols[inst.inst_id]
    return [{"asks": book_levels(sym, SELL, depth), "bids": book_levels(sym, BUY, depth), "ts": str(int(now * 1000))}]


def trades(sim: OkxSim, params: Mapping[str, str], now: float) -> Any:
    inst = instrument_param(params)
    assert inst is not None
    limit = int_param(params, "limit", TRADES_LIMIT_DEFAULT, TRADES_LIMIT_MAX)
    return _trade_rows(sim.market.symbols[inst.inst_id], limit, None)


def history_trades(sim: OkxSim, params: Mapping[str, str], now: float) -> Any:
    inst = instrument_param(params)
    assert inst is not None
    limit = int_param(params, "limit", HISTORY_TRADES_LIMIT_MAX, HISTORY_TRADES_LIMIT_MAX)
    return _trade_rows(sim.market.symbols[inst.inst_id], limit, ms_param(params, "after"))


def _trade_rows(sym: SymbolMarket, limit: int, before_id: int | None) -> list[dict[str, str]]:
    spec = sym.spec
    newest_first = (t for t in reversed(sym.trades) if before_id is None or t.id < before_id)
    return [
        {"instId": spec.symbol, "side": "sell" if t.buyer_is_maker else "buy", "sz": size_text(spec, t.qty),
         "px": price_text(spec, t.price), "source": "0", "tradeId": str(t.id), "ts": str(t.time_ms)}
        for t in islice(newest_first, limit)
    ]


def candles(sim: OkxSim, params: Mapping[str, str], now: float) -> Any:
    return _candles(sim, params, now, recent_only=True)


def history_candles(sim: OkxSim, params: Mapping[str, str], now: float) -> Any:
    return _candles(sim, params, now, recent_only=False)


def _candles(sim: OkxSim, params: Mapping[str, str], now: float, recent_only: bool) -> Any:
    """Candles newest first; `after` asks for ones older than a time, `before` for newer ones."""
    inst = instrument_param(params)
    assert inst is not None
    bar = params.get("bar") or "1m"
    interval = BARS_MS.get(bar)
    if interval is None:
        raise parameter_error("bar")
    limit = int_param(params, "limit", CANDLES_LIMIT_DEFAULT, CANDLES_LIMIT_MAX)
    after, before = ms_param(params, "after"), ms_param(params, "before")
    now_ms = int(now * 1000)
    current_open = now_ms - now_ms % interval
    oldest_open = current_open - (CANDLES_RECENT - 1) * interval if recent_only else 0
    newest = current_open if after is None else min(current_open, (after - 1) - (after - 1) % interval)
    if newest < oldest_open:
        return []
    sym = sim.market.symbols[inst.inst_id]
    if before is not None and after is None:
        first = max(oldest_open, before - before % interval + interval)
        rows = sym.candles(interval, first, None, limit, now_ms) if first <= current_open else []
    else:
        rows = sym.candles(interval, None, newest, limit, now_ms)
        rows = [c for c in rows if c.open_ms >= oldest_open and (before is None or c.open_ms > before)]
    return [_candle_row(sym, c, current_open) for c in reversed(rows)]


def _candle_row(sym: SymbolMarket, c: Candle, current_open: int) -> list[str]:
    spec = sym.spec
    price = spec.ticks
    return [str(c.open_ms), price_text(spec, price(c.open)), price_text(spec, price(c.high)),
            price_text(spec, price(c.low)), price_text(spec, price(c.close)), value_text(c.volume),
            value_text(c.quote_volume), value_text(c.quote_volume), "0" if c.open_ms == current_open else "1"]
