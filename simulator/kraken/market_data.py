"""Kraken's public market-data methods, answered from the simulated market.

Each handler takes (sim, params, now_s) and returns the `result` of the envelope. Shapes and types
follow krakenfx/api-specs: prices and volumes are strings, counts and times integers (trade times
are float seconds); per-pair answers are keyed by the pair's REST id (`XXBTZUSD`). Ticker, Depth
and Trades print prices with at least 5 decimals and volumes with the pair's 8 lot decimals, OHLC
prices with the pair's own decimals, as Kraken does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from exchanges.kraken import (
    ASSETS,
    DEPTH_COUNT_DEFAULT,
    DEPTH_COUNT_MAX,
    MAKER_FEES,
    OHLC_INTERVALS,
    OHLC_MAX_ROWS,
    PAIRS,
    TAKER_FEES,
    TRADES_COUNT_DEFAULT,
    TRADES_COUNT_MAX,
    UNKNOWN_ASSET,
    UNKNOWN_PAIR,
    Pair,
)
from simulator.kraken.errors import KrakenError, invalid_argument
from simulator.market import BUY, SELL, Candle, SymbolMarket, SymbolSpec, Trade
from simulator.rolling import MINUTE_MS

if TYPE_CHECKING:
    from simulator.kraken.sim import KrakenSim

DAY_MS = 86_400_000
REST_MIN_PRICE_DECIMALS = 5
VWAP_DECIMALS = 5
TRADE_CURSOR_SCALE = 1_000_000  # a trade's `last` cursor: its time in ms * this + its id (mod this), i.e. ~ns


# --- names ---------------------------------------------------------------------------------------

_PAIR_NAMES: dict[str, Pair] = {}
for _pair in PAIRS.values():
    for _name in (_pair.id, _pair.altname, _pair.wsname, _pair.symbol):
        _PAIR_NAMES[_name.upper()] = _pair
_ASSET_NAMES = {name.upper(): asset for asset in ASSETS.values() for name in (asset.id, asset.altname)}


def lookup_pair(name: str) -> Pair:
    """A pair by REST id, altname, v1 wsname or v2 symbol (`XXBTZUSD`, `XBTUSD`, `XBT/USD`, `BTC/USD`)."""
    pair = _PAIR_NAMES.get(name.strip().upper())
    if pair is None:
        raise KrakenError(UNKNOWN_PAIR)
    return pair


def pair_param(params: Mapping[str, str]) -> Pair:
    name = params.get("pair")
    if not name:
        raise invalid_argument("pair")
    if "," in name:
        raise invalid_argument("pair")  # Depth, Trades and OHLC take exactly one pair
    return lookup_pair(name)


def pairs_param(params: Mapping[str, str]) -> list[Pair]:
    """The pairs of an optional comma-separated `pair` parameter; all pairs when it is absent."""
    names = params.get("pair")
    if not names:
        return list(PAIRS.values())
    return list(dict.fromkeys(lookup_pair(name) for name in names.split(",")))


def int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int | None = None) -> int:
    """An integer parameter in [low, high] (above `high` is clamped); `EGeneral:Invalid arguments:<name>` else."""
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise invalid_argument(name) from None
    if value < low:
        raise invalid_argument(name)
    return min(value, high) if high is not None else value


def since_param(params: Mapping[str, str]) -> int | None:
    """`since` as an integer; None when absent."""
    text = params.get("since")
    if text is None or text == "":
        return None
    try:
        return int(text) if text.isdigit() else int(float(text))  # a nanosecond cursor must stay exact
    except (ValueError, OverflowError):
        raise invalid_argument("since") from None


# --- formatting ------------------------------------------------------------------------------------


def rest_price(spec: SymbolSpec, ticks: int) -> str:
    return f"{ticks * spec.tick_size:.{max(spec.price_decimals, REST_MIN_PRICE_DECIMALS)}f}"


def rest_price_of(spec: SymbolSpec, value: float) -> str:
    return rest_price(spec, spec.ticks(value))


def ohlc_price(spec: SymbolSpec, value: float) -> str:
    return spec.price_str(spec.ticks(value))


def volume_text(value: float) -> str:
    return f"{value:.8f}"


# --- static reference data -----------------------------------------------------------------------


def server_time(sim: KrakenSim, params: Mapping[str, str], now: float) -> Any:
    moment = datetime.fromtimestamp(int(now), UTC)
    return {"unixtime": int(now), "rfc1123": moment.strftime("%a, %d %b %y %H:%M:%S +0000")}


def assets(sim: KrakenSim, params: Mapping[str, str], now: float) -> Any:
    aclass = params.get("aclass")
    if aclass not in (None, "", "currency"):
        raise invalid_argument("aclass")
    names = params.get("asset")
    if names:
        selected = []
        for name in names.split(","):
            asset = _ASSET_NAMES.get(name.strip().upper())
            if asset is None:
                raise KrakenError(UNKNOWN_ASSET)
            selected.append(asset)
    else:
        selected = list(ASSETS.values())
    return {
        a.id: {"aclass": "currency", "altname": a.altname, "decimals": a.decimals,
               "display_decimals": a.display_decimals, "status": "enabled"}
        for a in dict.fromkeys(selected)
    }


_INFO_KEYS = {
    "leverage": ("leverage_buy", "leverage_sell"),
    "fees": ("fees", "fees_maker", "fee_volume_currency"),
    "margin": ("margin_call", "margin_stop"),
}


def asset_pairs(sim: KrakenSim, params: Mapping[str, str], now: float) -> Any:
    info = params.get("info") or "info"
    if info != "info" and info not in _INFO_KEYS:
        raise invalid_argument("info")
    answers = {}
    for pair in pairs_param(params):
        entry = pair_info(pair)
        answers[pair.id] = entry if info == "info" else {k: entry[k] for k in _INFO_KEYS[info]}
    return answers


def pair_info(pair: Pair) -> dict[str, Any]:
    return {
        "altname": pair.altname,
        "wsname": pair.wsname,
        "aclass_base": "currency",
        "base": pair.base,
        "aclass_quote": "currency",
        "quote": pair.quote,
        "lot": "unit",
        "cost_decimals": pair.cost_decimals,
        "pair_decimals": pair.pair_decimals,
        "lot_decimals": pair.lot_decimals,
        "lot_multiplier": 1,
        "leverage_buy": [],  # the simulator trades spot only: no margin
        "leverage_sell": [],
        "fees": [list(tier) for tier in TAKER_FEES],
        "fees_maker": [list(tier) for tier in MAKER_FEES],
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": pair.ordermin,
        "costmin": pair.costmin,
        "tick_size": pair.tick_size,
        "status": "online",
    }


# --- market data -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Summary:
    """Price and volume statistics over a set of candles."""

    open: float
    high: float
    low: float
    volume: float
    vwap: float
    trades: int


def summarize(candles: Iterable[Candle], last_price: float) -> Summary:
    traded = [c for c in candles if c.volume > 0 or c.trades > 0]
    if not traded:
        return Summary(last_price, last_price, last_price, 0.0, last_price, 0)
    volume = sum(c.volume for c in traded)
    quote = sum(c.quote_volume for c in traded)
    return Summary(traded[0].open, max(c.high for c in traded), min(c.low for c in traded), volume,
                   quote / volume if volume else last_price, sum(c.trades for c in traded))


def ticker(sim: KrakenSim, params: Mapping[str, str], now: float) -> Any:
    now_ms = int(now * 1000)
    return {pair.id: sim.cached(("ticker", pair.id), lambda pair=pair: _ticker(sim, pair, now_ms))
            for pair in pairs_param(params)}


def day_summaries(sim: KrakenSim, sym: SymbolMarket, now_ms: int) -> tuple[Summary, Summary]:
    """(today since 00:00 UTC, the last 24 hours) of one symbol."""
    window = sim.day_windows[sym.spec.symbol]
    window.stats(sym, now_ms)  # brings the closed minutes up to date
    current_open = now_ms - now_ms % MINUTE_MS
    current = sym.candles(MINUTE_MS, current_open, None, 1, now_ms)
    minutes = [*list(window.closed)[1:], *current]
    midnight = now_ms - now_ms % DAY_MS
    last = sym.last_price() * sym.spec.tick_size
    return summarize((c for c in minutes if c.open_ms >= midnight), last), summarize(minutes, last)


def _ticker(sim: KrakenSim, pair: Pair, now_ms: int) -> dict[str, Any]:
    sym = sim.market.symbols[pair.id]
    spec = sym.spec
    today, day = day_summaries(sim, sym, now_ms)
    bid, ask = sym.best_bid(), sym.best_ask()
    bid_qty = sym.bids[bid] * spec.step_size if bid is not None else 0.0
    ask_qty = sym.asks[ask] * spec.step_size if ask is not None else 0.0
    last_trade = sym.trades[-1] if sym.trades else None
    price = rest_price_of
    return {
        "a": [rest_price(spec, ask or 0), str(int(ask_qty)), f"{ask_qty:.3f}"],
        "b": [rest_price(spec, bid or 0), str(int(bid_qty)), f"{bid_qty:.3f}"],
        "c": [rest_price(spec, sym.last_price()), spec.qty_str(last_trade.qty if last_trade else 0)],
        "v": [volume_text(today.volume), volume_text(day.volume)],
        "p": [f"{today.vwap:.{VWAP_DECIMALS}f}", f"{day.vwap:.{VWAP_DECIMALS}f}"],
        "t": [today.trades, day.trades],
        "l": [price(spec, today.low), price(spec, day.low)],
        "h": [price(spec, today.high), price(spec, day.high)],
        "o": price(spec, today.open),
    }


def depth(sim: KrakenSim, params: Mapping[str, str], now: float) -> Any:
    pair = pair_param(params)
    count = int_param(params, "count", DEPTH_COUNT_DEFAULT, 1, DEPTH_COUNT_MAX)
    sym = sim.market.symbols[pair.id]
    spec = sym.spec
    times = sim.level_times[pair.id]
    started = int(sim.market_started_s)

    def levels(side: str) -> list[list[Any]]:
        return [[rest_price(spec, p), spec.qty_str(q), times.get((side, p), started)] for p, q in sym.top(side, count)]

    return {pair.id: {"asks": levels(SELL), "bids": levels(BUY)}}


def trade_cursor(trade: Trade) -> int:
    return trade.time_ms * TRADE_CURSOR_SCALE + trade.id % TRADE_CURSOR_SCALE


def trades(sim: KrakenSim, params: Mapping[str, str], now: float) -> Any:
    pair = pair_param(params)
    count = int_param(params, "count", TRADES_COUNT_DEFAULT, 1, TRADES_COUNT_MAX)
    since = since_param(params)
    sym = sim.market.symbols[pair.id]
    tape = sym.trades
    if since is None:
        selected = list(islice(tape, max(0, len(tape) - count), None))
    else:
        since_ns = since * 1_000_000_000 if since < 10**11 else since  # seconds, or a `last` cursor
        selected = [t for t in tape if trade_cursor(t) > since_ns][:count]
    spec = sym.spec
    rows = [
        [rest_price(spec, t.price), spec.qty_str(t.qty), round(t.time_ms / 1000, 4),
         "s" if t.buyer_is_maker else "b", "m", "", t.id]
        for t in selected
    ]
    last = trade_cursor(selected[-1]) if selected else (since if since is not None else int(now * 1e9))
    return {pair.id: rows, "last": str(last)}


def ohlc(sim: KrakenSim, params: Mapping[str, str], now: float) -> Any:
    pair = pair_param(params)
    interval = int_param(params, "interval", 1, 1)
    if interval not in OHLC_INTERVALS:
        raise invalid_argument("interval")
    since = since_param(params)
    sym = sim.market.symbols[pair.id]
    spec = sym.spec
    now_ms = int(now * 1000)
    candles = sym.candles(interval * 60_000, None, None, OHLC_MAX_ROWS, now_ms)
    rows = [
        [c.open_ms // 1000, ohlc_price(spec, c.open), ohlc_price(spec, c.high), ohlc_price(spec, c.low),
         ohlc_price(spec, c.close), ohlc_price(spec, c.quote_volume / c.volume if c.volume else c.close),
         volume_text(c.volume), c.trades]
        for c in candles
    ]
    committed_last = rows[-2][0] if len(rows) > 1 else rows[-1][0]
    if since is not None:
        rows = [r for r in rows[:-1] if r[0] > since] + rows[-1:]  # the open candle is always there
    return {pair.id: rows, "last": committed_last}
