"""The simulated Kraken Spot exchange: market, accounts, limits, faults, REST and WebSocket v2 routes."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from exchanges.kraken import HOSTS, simulator_credentials
from simulator.faults import FaultInjector
from simulator.kraken import rest, ws
from simulator.kraken.limiter import KrakenLimiter
from simulator.kraken.pairs import symbol_specs
from simulator.kraken.trading import Account, Trading
from simulator.market import Market, SymbolMarket, TickResult
from simulator.rolling import DayWindow
from simulator.stats import ExchangeStats

if TYPE_CHECKING:
    from simulator.config import KrakenConfig


class KrakenSim:
    name = "kraken"
    prefix = HOSTS.simulator_prefix

    def __init__(self, config: KrakenConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock  # seconds since the epoch; every time the exchange reports comes from it
        self.stats = ExchangeStats()
        self.faults = FaultInjector(config.faults, self.stats)
        self.limiter = KrakenLimiter(config)
        self.market_started_s = clock()
        self.market = Market(symbol_specs(), config.seed, int(self.market_started_s * 1000))
        api_key, secret = simulator_credentials()
        self.trading = Trading(self, [Account(api_key, secret, config.balances)], config.seed)
        self.day_windows = {name: DayWindow() for name in self.market.symbols}
        # When each book level last changed (whole seconds, as Depth reports it), kept from the diff log.
        self.level_times: dict[str, dict[tuple[str, int], int]] = {name: {} for name in self.market.symbols}
        self._diff_cursors = {name: sym.last_update_id for name, sym in self.market.symbols.items()}
        self.market.listeners.append(self._note_level_times)
        # Answers computed from the market, valid until it changes (next tick or a user's order) ...
        self.cache: dict[Hashable, Any] = {}
        # ... and answers that never change (reference data).
        self.static_cache: dict[Hashable, Any] = {}

    @property
    def tick_ms(self) -> int:
        return self.config.tick_ms

    def tick(self) -> None:
        """One market step at the current time."""
        self.cache.clear()
        self.market.step(int(self.clock() * 1000))

    def cached(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """`compute()`, computed at most once while the market does not change."""
        value = self.cache.get(key)
        if value is None:
            value = self.cache[key] = compute()
        return value

    def mount(self, app: web.Application) -> None:
        rest.add_routes(app, self)
        ws.add_routes(app, self)
        rest.add_not_found(app, self)

    def _note_level_times(self, sym: SymbolMarket, result: TickResult) -> None:
        """Stamp every level changed since the last tick (user orders between ticks included)."""
        name = sym.spec.symbol
        cursor = self._diff_cursors[name]
        if sym.last_update_id == cursor:
            return
        times = self.level_times[name]
        for diff in sym.diffs_since(cursor):
            second = diff.time_ms // 1000
            for side, price, qty in diff.changes:
                if qty:
                    times[(side, price)] = second
                else:
                    times.pop((side, price), None)
        self._diff_cursors[name] = sym.last_update_id
