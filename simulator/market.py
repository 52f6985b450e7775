"""An exchange-neutral market model: one consistent order book and trade tape per symbol.

Each symbol's mid price follows a seeded random walk. Every `step()` (one market tick) moves the
mid, fills some market orders against the book (producing trades), refreshes the book's levels
around the new mid and records every level change under increasing update ids, so that a REST
snapshot (`book.last_update_id`) and the diff log (`DepthDiff.first_id..last_id`) obey the usual
exchange sync rules: diffs are contiguous, and a snapshot's id falls between two diffs.

Prices and quantities are integers (ticks and lots) inside; exchange modules format them.
Resting user orders sit in the same book (price-time priority behind the market makers' quantity)
and are filled by market trades; the owner learns of fills through `on_user_fill`.
"""

from __future__ import annotations

import math
import random
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

BUY = "BUY"
SELL = "SELL"


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    symbol: str  # the exchange's own name, e.g. "BTCUSDT"
    base: str
    quote: str
    start_price: float
    tick_size: float  # price increment
    step_size: float  # quantity increment
    price_decimals: int = 8  # how many decimals the exchange prints
    qty_decimals: int = 8
    typical_qty: float = 1.0  # a typical level's size, in base units
    volatility_bps: float = 0.5  # standard deviation of the mid's move per tick, in basis points

    def ticks(self, price: float) -> int:
        return round(price / self.tick_size)

    def lots(self, qty: float) -> int:
        return round(qty / self.step_size)

    def price_str(self, ticks: int) -> str:
        return f"{ticks * self.tick_size:.{self.price_decimals}f}"

    def qty_str(self, lots: int) -> str:
        return f"{lots * self.step_size:.{self.qty_decimals}f}"


@dataclass(slots=True)
class Trade:
    id: int
    price: int  # ticks
    qty: int  # lots
    time_ms: int
    buyer_is_maker: bool  # the resting (maker) side was the buyer, i.e. the taker sold


@dataclass(slots=True)
class DepthDiff:
    """The level changes of one market tick: (side, price ticks, new total lots; 0 = removed)."""

    first_id: int
    last_id: int
    time_ms: int
    changes: list[tuple[str, int, int]]


@dataclass(slots=True)
class RestingOrder:
    """A user's order resting in the book. `ref` is the owner's handle (e.g. its order record)."""

    ref: object
    side: str
    price: int
    remaining: int


@dataclass(slots=True)
class Fill:
    price: int
    qty: int
    trade_id: int
    maker_ref: object | None  # the resting user order that was hit, if any


@dataclass(slots=True)
class TickResult:
    """What one `step()` produced; the WebSocket layer turns it into stream events."""

    time_ms: int
    trades: list[Trade]
    diff: DepthDiff | None


@dataclass(slots=True)
class Candle:
    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float  # base units
    quote_volume: float
    trades: int


class SymbolMarket:
    """One symbol's book, tape and candles."""

    BOOK_LEVELS = 60  # market makers' price levels on each side around the mid
    TRADE_HISTORY = 1000
    TRADE_TAPE_AT_START = 100  # a venue never opens with an empty tape: trades of the last minute
    DIFF_HISTORY = 100  # ticks of depth diffs kept (10 s at a 100 ms tick)
    CANDLE_1S_HISTORY = 86_400

    def __init__(self, spec: SymbolSpec, seed: int, start_ms: int) -> None:
        self.spec = spec
        self.rng = random.Random(seed ^ zlib.crc32(spec.symbol.encode()))
        self._history_seed = seed ^ zlib.crc32(spec.symbol.encode()) ^ 0x5EED
        self.start_ms = start_ms
        self.mid = float(spec.ticks(spec.start_price))  # in ticks, fractional
        # Quotes sit `level_step` ticks apart, about half a typical tick's move, so that a tick
        # shifts the book by a few levels instead of replacing it.
        self.level_step = max(1, round(self.mid * spec.volatility_bps / 10_000 / 2))
        self.bids: dict[int, int] = {}  # price ticks -> total lots (market makers + users)
        self.asks: dict[int, int] = {}
        self.user_orders: dict[tuple[str, int], deque[RestingOrder]] = {}
        self.last_update_id = 1_000_000 + self.rng.randrange(1_000_000)
        self.next_trade_id = 100_000 + self.rng.randrange(100_000)
        self.trades: deque[Trade] = deque(maxlen=self.TRADE_HISTORY)
        self.diffs: deque[DepthDiff] = deque(maxlen=self.DIFF_HISTORY)
        self.candles_1s: deque[Candle] = deque(maxlen=self.CANDLE_1S_HISTORY)
        self.on_user_fill: Callable[[RestingOrder, Fill], None] | None = None
        self._pending: dict[tuple[str, int], int] = {}
        self._new_trades: list[Trade] = []
        self._synthetic_cache: dict[tuple[int, int], Candle] = {}
        self._typical_lots = max(1, spec.lots(spec.typical_qty))
        self._seed_book()

    # --- queries ----------------------------------------------------------------------------

    def best_bid(self) -> int | None:
        return max(self.bids) if self.bids else None

    def best_ask(self) -> int | None:
        return min(self.asks) if self.asks else None

    def top(self, side: str, depth: int) -> list[tuple[int, int]]:
        """The best `depth` levels of one side: bids high to low, asks low to high."""
        levels = self.bids if side == BUY else self.asks
        prices = sorted(levels, reverse=(side == BUY))[:depth]
        return [(p, levels[p]) for p in prices]

    def last_price(self) -> int:
        return self.trades[-1].price if self.trades else round(self.mid)

    def diffs_since(self, update_id: int) -> list[DepthDiff]:
        """Diffs whose ids end after `update_id`, oldest first."""
        return [d for d in self.diffs if d.last_id > update_id]

    # --- one market tick ------------------------------------------------------------------------

    def step(self, now_ms: int) -> TickResult:
        rng = self.rng
        self.mid = max(10.0, self.mid * math.exp(rng.gauss(0.0, self.spec.volatility_bps / 10_000)))
        self._new_trades = trades = []
        for _ in range(_poisson(rng, 1.5)):
            side = BUY if rng.random() < 0.5 else SELL
            self._take(side, max(1, int(self._typical_lots * rng.expovariate(4.0))), limit=None, now_ms=now_ms)
        self._refresh_levels(now_ms)
        self._record_candle(now_ms, trades)
        return TickResult(now_ms, trades, self._flush_diff(now_ms))

    # --- user orders -----------------------------------------------------------------------------

    def execute(self, side: str, qty: int, limit: int | None, now_ms: int) -> list[Fill]:
        """Fill a user's taker order against the book (market order if `limit` is None)."""
        self._new_trades = []
        fills = self._take(side, qty, limit, now_ms)
        self._flush_diff(now_ms)
        return fills

    def rest(self, ref: object, side: str, price: int, qty: int, now_ms: int) -> RestingOrder:
        """Place a user's remaining limit quantity in the book."""
        order = RestingOrder(ref, side, price, qty)
        self.user_orders.setdefault((side, price), deque()).append(order)
        levels = self.bids if side == BUY else self.asks
        self._set_level(side, levels, price, levels.get(price, 0) + qty)
        self._flush_diff(now_ms)
        return order

    def cancel(self, order: RestingOrder, now_ms: int) -> None:
        queue = self.user_orders.get((order.side, order.price))
        if queue and order in queue:
            queue.remove(order)
            if not queue:
                del self.user_orders[(order.side, order.price)]
            levels = self.bids if order.side == BUY else self.asks
            self._set_level(order.side, levels, order.price, max(0, levels.get(order.price, 0) - order.remaining))
            order.remaining = 0
            self._flush_diff(now_ms)

    # --- candles -----------------------------------------------------------------------------------

    def candles(
        self, interval_ms: int, start_ms: int | None, end_ms: int | None, limit: int, now_ms: int
    ) -> list[Candle]:
        """Candles of `interval_ms` (aligned to the epoch), oldest first, at most `limit`.

        With `start_ms`, the first candles opening at or after it; otherwise the latest ones up
        to `end_ms` (or now). Candles before the simulator started are synthetic but
        deterministic (a seeded multi-scale walk ending at the start price); later ones
        aggregate the real trades.
        """
        last_open = min(end_ms if end_ms is not None else now_ms, now_ms)
        last_open -= last_open % interval_ms
        if start_ms is not None:
            first_open = -(-start_ms // interval_ms) * interval_ms  # ceil to the interval
            last_open = min(last_open, first_open + (limit - 1) * interval_ms)
        else:
            first_open = last_open - (limit - 1) * interval_ms
        return [self._candle(t, interval_ms) for t in range(first_open, last_open + 1, interval_ms)]

    def candle(self, open_ms: int, close_ms: int) -> Candle:
        """One candle over [open_ms, close_ms), for periods that are not epoch-aligned (weeks, months)."""
        return self._candle(open_ms, close_ms - open_ms)

    def _candle(self, open_ms: int, interval_ms: int) -> Candle:
        close_ms = open_ms + interval_ms
        if close_ms <= self.start_ms:
            return self._synthetic(open_ms, close_ms)
        live = self._live_candles(open_ms, close_ms)
        fallback = self.last_price() * self.spec.tick_size
        if open_ms >= self.start_ms:
            return _merge(open_ms, live, fallback)
        return _merge(open_ms, [self._synthetic(open_ms, self.start_ms), *live], fallback)

    def _live_candles(self, open_ms: int, close_ms: int) -> list[Candle]:
        """The 1 s candles in [open_ms, close_ms); they are sorted, and nearly one per second."""
        candles = self.candles_1s
        if not candles or close_ms <= candles[0].open_ms:
            return []
        idx = min(len(candles) - 1, max(0, (open_ms - candles[0].open_ms) // 1000))
        while idx > 0 and candles[idx].open_ms >= open_ms:
            idx -= 1
        out = []
        for i in range(idx, len(candles)):
            c = candles[i]
            if c.open_ms >= close_ms:
                break
            if c.open_ms >= open_ms:
                out.append(c)
        return out

    def _synthetic_price(self, t_ms: int) -> float:
        return self.spec.start_price * math.exp(self._walk(t_ms) - self._walk(self.start_ms))

    def _walk(self, t_ms: int) -> float:
        # Value noise at four time scales (minute, hour, day, week), linearly interpolated.
        total = 0.0
        for scale_ms, amplitude in ((60_000, 0.001), (3_600_000, 0.006), (86_400_000, 0.025), (604_800_000, 0.06)):
            k, frac = divmod(t_ms / scale_ms, 1.0)
            a = _noise(self._history_seed, scale_ms, int(k))
            b = _noise(self._history_seed, scale_ms, int(k) + 1)
            total += amplitude * (a + (b - a) * frac)
        return total

    def _synthetic(self, open_ms: int, close_ms: int) -> Candle:
        key = (open_ms, close_ms)
        cached = self._synthetic_cache.get(key)
        if cached is None:
            if len(self._synthetic_cache) > 50_000:
                self._synthetic_cache.clear()
            cached = self._synthetic_cache[key] = self._make_synthetic(open_ms, close_ms)
        return cached

    def _make_synthetic(self, open_ms: int, close_ms: int) -> Candle:
        samples = [self._synthetic_price(open_ms + (close_ms - open_ms) * i // 8) for i in range(9)]
        volume_noise = 0.5 + _noise(self._history_seed ^ 0xF00D, close_ms - open_ms, open_ms // 1000) ** 2
        minutes = max(1.0, (close_ms - open_ms) / 60_000)
        volume = self.spec.typical_qty * 20 * minutes * volume_noise
        mean_price = sum(samples) / len(samples)
        return Candle(open_ms, samples[0], max(samples), min(samples), samples[-1], volume, volume * mean_price,
                      max(1, int(volume / self.spec.typical_qty * 3)))

    # --- internals -----------------------------------------------------------------------------

    def _seed_book(self) -> None:
        self._refresh_levels(self.start_ms)
        self._pending.clear()  # the initial book is the snapshot, not a diff
        self._seed_tape()

    def _seed_tape(self) -> None:
        """Trades of the minute before start, near the opening mid, so that recent-trade queries and
        trade snapshots are never empty. Drawn from the history seed: the live sequence is unchanged."""
        rng = random.Random(self._history_seed ^ 0x7A9E)
        count = self.TRADE_TAPE_AT_START
        for i in range(count):
            self.next_trade_id += 1
            offset = rng.randint(-3, 3) * self.level_step
            qty = max(1, int(self._typical_lots * rng.expovariate(4.0)))
            time_ms = self.start_ms - (count - i) * 60_000 // count
            self.trades.append(Trade(self.next_trade_id, max(1, round(self.mid) + offset), qty, time_ms,
                                     buyer_is_maker=rng.random() < 0.5))

    def _take(self, side: str, qty: int, limit: int | None, now_ms: int) -> list[Fill]:
        """Consume the opposite side from the best price while `limit` allows."""
        book_side = SELL if side == BUY else BUY
        levels = self.asks if side == BUY else self.bids
        fills: list[Fill] = []
        while qty > 0 and levels:
            price = min(levels) if side == BUY else max(levels)
            if limit is not None and ((side == BUY and price > limit) or (side == SELL and price < limit)):
                break
            available = levels[price]
            take = min(qty, available)
            qty -= take
            self._set_level(book_side, levels, price, available - take)
            fills.extend(self._fill_level(book_side, price, available, take, side, now_ms))
        return fills

    def _fill_level(
        self, book_side: str, price: int, before: int, take: int, taker_side: str, now_ms: int
    ) -> list[Fill]:
        """Split a level's fill between market makers (first in time) and resting user orders."""
        queue = self.user_orders.get((book_side, price))
        user_total = sum(o.remaining for o in queue) if queue else 0
        maker_part = min(take, before - user_total)
        fills = []
        if maker_part > 0:
            fills.append(self._trade(price, maker_part, taker_side, now_ms, None))
        left = take - max(maker_part, 0)
        while left > 0 and queue:
            order = queue[0]
            part = min(left, order.remaining)
            order.remaining -= part
            left -= part
            fill = self._trade(price, part, taker_side, now_ms, order.ref)
            fills.append(fill)
            if order.remaining == 0:
                queue.popleft()
            if self.on_user_fill is not None:
                self.on_user_fill(order, fill)
        if queue is not None and not queue:
            self.user_orders.pop((book_side, price), None)
        return fills

    def _trade(self, price: int, qty: int, taker_side: str, now_ms: int, maker_ref: object | None) -> Fill:
        self.next_trade_id += 1
        trade = Trade(self.next_trade_id, price, qty, now_ms, buyer_is_maker=(taker_side == SELL))
        self.trades.append(trade)
        self._new_trades.append(trade)
        return Fill(price, qty, self.next_trade_id, maker_ref)

    def _set_level(self, side: str, levels: dict[int, int], price: int, qty: int) -> None:
        if qty > 0:
            levels[price] = qty
        else:
            levels.pop(price, None)
            qty = 0
        self._pending[(side, price)] = qty

    def _refresh_levels(self, now_ms: int) -> None:
        """Market makers re-quote around the mid on a grid of `level_step` ticks: drop their levels
        out of the band, fill the user orders the move made marketable, fill gaps, jiggle sizes."""
        rng = self.rng
        step = self.level_step
        grid_mid = round(self.mid / step) * step
        best_bid_target = grid_mid - step
        best_ask_target = grid_mid + step
        bid_band = range(best_bid_target - (self.BOOK_LEVELS - 1) * step, best_bid_target + 1, step)
        ask_band = range(best_ask_target, best_ask_target + self.BOOK_LEVELS * step, step)
        for side, levels, band in ((BUY, self.bids, bid_band), (SELL, self.asks, ask_band)):
            for price in [p for p in levels if p not in band and not self.user_orders.get((side, p))]:
                self._set_level(side, levels, price, 0)
        # What is left beyond the new best prices are users' resting orders: the market trades them.
        crossing_bids = sum(q for p, q in self.bids.items() if p >= best_ask_target)
        if crossing_bids:
            self._take(SELL, crossing_bids, limit=best_ask_target, now_ms=now_ms)
        crossing_asks = sum(q for p, q in self.asks.items() if p <= best_bid_target)
        if crossing_asks:
            self._take(BUY, crossing_asks, limit=best_bid_target, now_ms=now_ms)
        for side, levels, band in ((BUY, self.bids, bid_band), (SELL, self.asks, ask_band)):
            for price in band:
                if price not in levels and rng.random() < 0.9:
                    self._set_level(side, levels, price, self._level_size(rng))
            for _ in range(3):
                price = rng.choice(band)
                if price in levels:
                    user = sum(o.remaining for o in self.user_orders.get((side, price), ()))
                    self._set_level(side, levels, price, user + self._level_size(rng))

    def _level_size(self, rng: random.Random) -> int:
        return max(1, int(self._typical_lots * rng.uniform(0.2, 3.0)))

    def _flush_diff(self, now_ms: int) -> DepthDiff | None:
        if not self._pending:
            return None
        changes = [(side, price, qty) for (side, price), qty in self._pending.items()]
        self._pending.clear()
        first = self.last_update_id + 1
        self.last_update_id += len(changes)
        diff = DepthDiff(first, self.last_update_id, now_ms, changes)
        self.diffs.append(diff)
        return diff

    def _record_candle(self, now_ms: int, trades: list[Trade]) -> None:
        open_ms = now_ms - now_ms % 1000
        candle = self.candles_1s[-1] if self.candles_1s else None
        if candle is None or candle.open_ms != open_ms:
            px = self.last_price() * self.spec.tick_size
            candle = Candle(open_ms, px, px, px, px, 0.0, 0.0, 0)
            self.candles_1s.append(candle)
        for t in trades:
            px = t.price * self.spec.tick_size
            qty = t.qty * self.spec.step_size
            if candle.trades == 0 and candle.volume == 0.0:
                candle.open = candle.high = candle.low = px
            candle.high = max(candle.high, px)
            candle.low = min(candle.low, px)
            candle.close = px
            candle.volume += qty
            candle.quote_volume += qty * px
            candle.trades += 1


class Market:
    """All symbols of one exchange, stepped together."""

    def __init__(self, specs: list[SymbolSpec], seed: int, start_ms: int) -> None:
        self.symbols: dict[str, SymbolMarket] = {s.symbol: SymbolMarket(s, seed, start_ms) for s in specs}
        self.listeners: list[Callable[[SymbolMarket, TickResult], None]] = []

    def step(self, now_ms: int) -> None:
        for sym in self.symbols.values():
            result = sym.step(now_ms)
            for listener in self.listeners:
                listener(sym, result)


def _merge(open_ms: int, parts: list[Candle], fallback: float) -> Candle:
    traded = [c for c in parts if c.volume > 0] or parts
    if not traded:
        return Candle(open_ms, fallback, fallback, fallback, fallback, 0.0, 0.0, 0)
    return Candle(
        open_ms,
        traded[0].open,
        max(c.high for c in traded),
        min(c.low for c in traded),
        traded[-1].close,
        sum(c.volume for c in parts),
        sum(c.quote_volume for c in parts),
        sum(c.trades for c in parts),
    )


def _noise(seed: int, scale: int, k: int) -> float:
    """A deterministic value in [-1, 1] for lattice point k at one scale."""
    h = zlib.crc32(f"{seed}:{scale}:{k}".encode())
    return (h / 0xFFFFFFFF) * 2.0 - 1.0


def _poisson(rng: random.Random, lam: float) -> int:
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1
