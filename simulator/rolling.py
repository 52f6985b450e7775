"""Rolling 24-hour statistics of one symbol, kept incrementally for tickers (every exchange has some).

`DayWindow` keeps the closed 1-minute candles of the last 24 h, so a ticker costs one pass over 1440
candles instead of a scan of the market's 1-second history.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from simulator.market import Candle, SymbolMarket

MINUTE_MS = 60_000


@dataclass(slots=True)
class DayStats:
    """The rolling 24 h statistics behind the ticker streams."""

    open_ms: int
    open: float
    high: float
    low: float
    volume: float
    quote_volume: float
    trades: int
    price_before: float  # the last price before the window (Binance's "x")


class DayWindow:
    """Closed 1-minute candles of the last 24 h, kept so a ticker costs one pass over 1440 candles."""

    MINUTES = 1440

    def __init__(self) -> None:
        self.closed: deque[Candle] = deque(maxlen=self.MINUTES)  # the minute before the window, then 1439

    def stats(self, sym: SymbolMarket, now_ms: int) -> DayStats:
        current_open = now_ms - now_ms % MINUTE_MS
        first_wanted = current_open - self.MINUTES * MINUTE_MS
        closed = self.closed
        if not closed or closed[-1].open_ms + MINUTE_MS < first_wanted:
            closed.clear()
            start = first_wanted
        else:
            start = closed[-1].open_ms + MINUTE_MS
        if start < current_open:
            closed.extend(sym.candles(MINUTE_MS, start, current_open - 1, (current_open - start) // MINUTE_MS, now_ms))
        current = sym.candles(MINUTE_MS, current_open, None, 1, now_ms)[0]
        window = [*closed, current][1:]
        return DayStats(
            open_ms=window[0].open_ms,
            open=window[0].open,
            high=max(c.high for c in window),
            low=min(c.low for c in window),
            volume=sum(c.volume for c in window),
            quote_volume=sum(c.quote_volume for c in window),
            trades=sum(c.trades for c in window),
            price_before=closed[0].close,
        )
