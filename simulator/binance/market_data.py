"""Binance's public market-data endpoints, answered from the simulated market.

Each handler takes (sim, params, now_s, account) and returns the JSON-ready answer. Aggregate
trades are one per trade (`a` = the trade id), so REST and streams agree on ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from exchanges.binance import KLINE_INTERVALS
from simulator.binance import params as p
from simulator.binance.errors import BinanceError, illegal
from simulator.binance.symbols import MAX_NUM_ORDERS, MAX_PRICE, MAX_QTY, MIN_NOTIONAL
from simulator.market import BUY, SELL, Candle, SymbolMarket, SymbolSpec, Trade

if TYPE_CHECKING:
    from simulator.binance.account import Account
    from simulator.binance.sim import BinanceSim

ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET")

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DAY_MS = _UNIT_MS["d"]
_MONDAY_OFFSET_MS = 4 * _DAY_MS  # 1970-01-01 was a Thursday; weekly candles open on Mondays
_ROLLING_WINDOW_MS = 86_400_000
_HOUR_MS = _UNIT_MS["h"]


def ping(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    return {}


def server_time(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    return {"serverTime": int(now * 1000)}


def exchange_info(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    markets, _one = p.symbols(sim.market, params)
    return {
        "timezone": "UTC",
        "serverTime": int(now * 1000),
        "rateLimits": sim.limiter.rate_limits_info,
        "exchangeFilters": [],
        "symbols": [symbol_info(m.spec) for m in markets],
    }


def symbol_info(spec: SymbolSpec) -> dict[str, Any]:
    tick = spec.price_str(1)
    step = spec.qty_str(1)
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": spec.qty_decimals,
        "quoteAsset": spec.quote,
        "quotePrecision": spec.price_decimals,
        "quoteAssetPrecision": spec.price_decimals,
        "baseCommissionPrecision": spec.qty_decimals,
        "quoteCommissionPrecision": spec.price_decimals,
        "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "amendAllowed": False,
        "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": f"{MAX_PRICE:.8f}", "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": f"{MAX_QTY:.8f}", "stepSize": step},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": f"{MAX_QTY:.8f}",
             "stepSize": "0.00000000"},
            {"filterType": "NOTIONAL", "minNotional": f"{MIN_NOTIONAL:.8f}", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": MAX_NUM_ORDERS},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",  # the simulator does not prevent self-trades
        "allowedSelfTradePreventionModes": ["NONE"],
    }


def depth(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    levels = p.limit(params, 100, 5000)
    sym = p.symbol(sim.market, params)
    price, qty = sym.spec.price_str, sym.spec.qty_str
    return {
        "lastUpdateId": sym.last_update_id,
        "bids": [[price(px), qty(q)] for px, q in sym.top(BUY, levels)],
        "asks": [[price(px), qty(q)] for px, q in sym.top(SELL, levels)],
    }


def recent_trades(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    count = p.limit(params, 500, 1000)
    sym = p.symbol(sim.market, params)
    trades = sym.trades
    return [_trade(sym.spec, t) for t in islice(trades, max(0, len(trades) - count), None)]


def _trade(spec: SymbolSpec, t: Trade) -> dict[str, Any]:
    return {
        "id": t.id,
        "price": spec.price_str(t.price),
        "qty": spec.qty_str(t.qty),
        "quoteQty": f"{t.price * spec.tick_size * t.qty * spec.step_size:.8f}",
        "time": t.time_ms,
        "isBuyerMaker": t.buyer_is_maker,
        "isBestMatch": True,
    }


def agg_trades(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    count = p.limit(params, 500, 1000)
    sym = p.symbol(sim.market, params)
    from_id = p.integer(params, "fromId")
    start = p.integer(params, "startTime")
    end = p.integer(params, "endTime")
    selected: list[Trade] = list(sym.trades)
    if from_id is not None:
        selected = [t for t in selected if t.id >= from_id][:count]
    elif start is not None or end is not None:
        low, high = start or 0, end if end is not None else 2**63
        selected = [t for t in selected if low <= t.time_ms <= high][:count]
    else:
        selected = selected[-count:]
    price, qty = sym.spec.price_str, sym.spec.qty_str
    return [
        {"a": t.id, "p": price(t.price), "q": qty(t.qty), "f": t.id, "l": t.id, "T": t.time_ms,
         "m": t.buyer_is_maker, "M": True}
        for t in selected
    ]


def klines(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    count = p.limit(params, 500, 1000)
    sym = p.symbol(sim.market, params)
    interval = p.required(params, "interval")
    if interval not in KLINE_INTERVALS:
        raise BinanceError(-1120, "Invalid interval.")
    start = p.integer(params, "startTime")
    end = p.integer(params, "endTime")
    now_ms = int(now * 1000)
    if start is not None and start > now_ms:
        return []  # no candle has opened yet
    if interval[-1] in ("w", "M"):
        rows = _calendar_candles(sym, interval, start, end, count, now_ms)
    else:
        length = int(interval[:-1]) * _UNIT_MS[interval[-1]]
        rows = [(c, c.open_ms + length) for c in sym.candles(length, start, end, count, now_ms)]
        if start is not None and end is not None:
            rows = [(c, close) for c, close in rows if c.open_ms <= end]
    return [_kline(sym.spec, c, close_ms) for c, close_ms in rows]


def _calendar_candles(
    sym: SymbolMarket, interval: str, start: int | None, end: int | None, count: int, now_ms: int
) -> list[tuple[Candle, int]]:
    """Weekly (Monday 00:00 UTC) and monthly (1st, 00:00 UTC) candles, which are not epoch-aligned."""
    step = int(interval[:-1])
    open_of, next_open = (_week_open, _next_week) if interval[-1] == "w" else (_month_open, _next_month)
    last = open_of(min(end if end is not None else now_ms, now_ms))
    opens: list[int] = []
    if start is not None:
        t = open_of(start)
        if t < start:
            t = next_open(t, 1)
        while t <= last and len(opens) < count:
            opens.append(t)
            t = next_open(t, step)
    else:
        t = last
        while len(opens) < count:
            opens.append(t)
            t = next_open(t, -step)
        opens.reverse()
    return [(sym.candle(t, next_open(t, step)), next_open(t, step)) for t in opens]


def _week_open(t_ms: int) -> int:
    return (t_ms - _MONDAY_OFFSET_MS) // _UNIT_MS["w"] * _UNIT_MS["w"] + _MONDAY_OFFSET_MS


def _next_week(t_ms: int, weeks: int) -> int:
    return t_ms + weeks * _UNIT_MS["w"]


def _month_open(t_ms: int) -> int:
    d = datetime.fromtimestamp(t_ms / 1000, UTC)
    return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1000)


def _next_month(t_ms: int, months: int) -> int:
    d = datetime.fromtimestamp(t_ms / 1000, UTC)
    index = d.year * 12 + d.month - 1 + months
    return int(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp() * 1000)


def _kline(spec: SymbolSpec, c: Candle, close_ms: int) -> list[Any]:
    price = spec.price_str
    # The model does not split volume by aggressor side; half of it is reported as taker-buy volume.
    return [
        c.open_ms,
        price(spec.ticks(c.open)),
        price(spec.ticks(c.high)),
        price(spec.ticks(c.low)),
        price(spec.ticks(c.close)),
        f"{c.volume:.8f}",
        close_ms - 1,
        f"{c.quote_volume:.8f}",
        c.trades,
        f"{c.volume / 2:.8f}",
        f"{c.quote_volume / 2:.8f}",
        "0",
    ]


def ticker_price(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    markets, one = p.symbols(sim.market, params)
    answers = [{"symbol": m.spec.symbol, "price": m.spec.price_str(m.last_price())} for m in markets]
    return answers[0] if one else answers


def book_ticker(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    markets, one = p.symbols(sim.market, params)
    answers = [_book_ticker(m) for m in markets]
    return answers[0] if one else answers


def _book_ticker(sym: SymbolMarket) -> dict[str, Any]:
    spec = sym.spec
    bid, ask = sym.best_bid(), sym.best_ask()
    return {
        "symbol": spec.symbol,
        "bidPrice": spec.price_str(bid or 0),
        "bidQty": spec.qty_str(sym.bids[bid] if bid is not None else 0),
        "askPrice": spec.price_str(ask or 0),
        "askQty": spec.qty_str(sym.asks[ask] if ask is not None else 0),
    }


_MINI_KEYS = ("symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume",
              "openTime", "closeTime", "firstId", "lastId", "count")


def ticker_24hr(sim: BinanceSim, params: Mapping[str, str], now: float, account: Account | None) -> Any:
    kind = params.get("type") or "FULL"
    if kind not in ("FULL", "MINI"):
        raise illegal("type", "FULL, MINI")
    markets, one = p.symbols(sim.market, params)
    answers = [sim.cached(("24hr", m.spec.symbol), lambda m=m: _rolling_24h(m, int(now * 1000))) for m in markets]
    if kind == "MINI":
        answers = [{k: a[k] for k in _MINI_KEYS} for a in answers]
    return answers[0] if one else answers


def _rolling_24h(sym: SymbolMarket, now_ms: int) -> dict[str, Any]:
    """24-hour statistics from hourly candles (the window starts at the first full hour within 24 h)."""
    spec = sym.spec
    candles = sym.candles(_HOUR_MS, now_ms - _ROLLING_WINDOW_MS, None, 25, now_ms)
    last = sym.last_price()  # prices in ticks from here on
    first = spec.ticks(candles[0].open) if candles else last
    high = max([spec.ticks(c.high) for c in candles] + [last])
    low = min([spec.ticks(c.low) for c in candles] + [last])
    volume = sum(c.volume for c in candles)
    quote_volume = sum(c.quote_volume for c in candles)
    last_trade = sym.trades[-1] if sym.trades else None
    last_id = last_trade.id if last_trade else 0
    count = min(sum(c.trades for c in candles), last_id)
    bid, ask = sym.best_bid(), sym.best_ask()
    price = spec.price_str
    return {
        "symbol": spec.symbol,
        "priceChange": price(last - first),
        "priceChangePercent": f"{(last - first) / first * 100:.3f}",
        "weightedAvgPrice": f"{(quote_volume / volume if volume else last * spec.tick_size):.8f}",
        "prevClosePrice": price(first),
        "lastPrice": price(last),
        "lastQty": spec.qty_str(last_trade.qty if last_trade else 0),
        "bidPrice": price(bid or 0),
        "bidQty": spec.qty_str(sym.bids[bid] if bid is not None else 0),
        "askPrice": price(ask or 0),
        "askQty": spec.qty_str(sym.asks[ask] if ask is not None else 0),
        "openPrice": price(first),
        "highPrice": price(high),
        "lowPrice": price(low),
        "volume": f"{volume:.8f}",
        "quoteVolume": f"{quote_volume:.8f}",
        "openTime": now_ms - _ROLLING_WINDOW_MS,
        "closeTime": now_ms,
        "firstId": last_id - count + 1 if count else -1,
        "lastId": last_id if count else -1,
        "count": count,
    }
