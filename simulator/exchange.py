"""What every simulated exchange shares: its config and clock, stats, injected faults, capacity, and a cache of
answers computed from the market, valid until the market changes (the next tick or a user's order)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

from simulator.capacity import Capacity
from simulator.faults import FaultInjector
from simulator.market import Market
from simulator.stats import ExchangeStats


class ExchangeSim:
    """The base of BinanceSim, CoinbaseSim and KrakenSim; they add their market, limits and accounts (their package's
    `mount` adds their routes)."""

    name: str
    prefix: str
    market: Market

    def __init__(self, config: Any, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock  # seconds since the epoch; every time the exchange reports comes from it
        self.stats = ExchangeStats()
        self.faults = FaultInjector(config.faults, self.stats)
        self.capacity = Capacity(config.capacity, self.stats)
        self.cache: dict[Hashable, Any] = {}

    @property
    def tick_ms(self) -> int:
        return self.config.tick_ms

    def tick(self) -> int:
        """One market step at the current time; returns that time in ms."""
        self.cache.clear()
        now_ms = int(self.clock() * 1000)
        self.market.step(now_ms)
        return now_ms

    def cached(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """`compute()`, computed at most once while the market does not change."""
        value = self.cache.get(key)
        if value is None:
            value = self.cache[key] = compute()
        return value
