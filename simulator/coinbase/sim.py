"""The simulated Coinbase Exchange's state: market, demo profile, token-bucket limits and faults (its routes:
`rest`, `ws`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

from exchanges.coinbase import HOSTS, DemoProfile, simulator_credentials
from simulator.coinbase.account import Trading
from simulator.coinbase.config import CoinbaseConfig
from simulator.coinbase.limiter import Limiter
from simulator.coinbase.products import product_specs
from simulator.common_config import ConfigError
from simulator.exchange import ExchangeSim
from simulator.market import Market, SymbolMarket
from simulator.rolling import DayStats, DayWindow


class CoinbaseSim(ExchangeSim):
    name = "coinbase"
    prefix = HOSTS.simulator_prefix

    def __init__(self, config: CoinbaseConfig, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, clock)
        self.limiter = Limiter(config.rate_limits)
        self.market = Market(product_specs(), config.seed, int(clock() * 1000))
        self.trading = Trading(self.market, clock, _demo_profile(), config.balances, config.seed)
        self._days = {product_id: DayWindow() for product_id in self.market.symbols}
        self._per_minute: dict[Hashable, tuple[int, Any]] = {}

    def tick(self) -> int:
        now_ms = super().tick()
        if self.trading.expire_orders(now_ms):
            self.cache.clear()  # an expired order left the book
        return now_ms

    def per_minute(self, key: Hashable, now_ms: int, compute: Callable[[], Any]) -> Any:
        """`compute()`, computed at most once a minute (figures that move slowly, e.g. the 30-day volume)."""
        minute = now_ms // 60_000
        entry = self._per_minute.get(key)
        if entry is None or entry[0] != minute:
            entry = self._per_minute[key] = (minute, compute())
        return entry[1]

    def day_stats(self, sym: SymbolMarket, now_ms: int) -> DayStats:
        """The product's rolling 24 h statistics (once per market state)."""
        product_id = sym.spec.symbol
        return self.cached(("24h", product_id), lambda: self._days[product_id].stats(sym, now_ms))


def _demo_profile() -> DemoProfile:
    try:
        return simulator_credentials()
    except ValueError as e:
        raise ConfigError(str(e)) from None
