"""The simulated Binance Spot exchange: market, accounts, limits, faults, REST (and WebSocket) routes."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from exchanges.binance import HOSTS, simulator_credentials
from simulator.binance import rest, ws
from simulator.binance.account import Account
from simulator.binance.limiter import RequestLimiter
from simulator.binance.orders import Trading
from simulator.binance.symbols import symbol_specs
from simulator.faults import FaultInjector
from simulator.market import Market
from simulator.stats import ExchangeStats

if TYPE_CHECKING:
    from simulator.config import BinanceConfig


class BinanceSim:
    name = "binance"
    prefix = HOSTS.simulator_prefix

    def __init__(self, config: BinanceConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock  # seconds since the epoch; every time the exchange reports comes from it
        self.stats = ExchangeStats()
        self.faults = FaultInjector(config.faults, self.stats)
        self.limiter = RequestLimiter(config)
        self.market = Market(symbol_specs(), config.seed, int(clock() * 1000))
        api_key, secret = simulator_credentials()
        self.trading = Trading(self, [Account(api_key, secret, config.balances, uid=1)], config.seed)
        # Answers and figures computed from the market, valid until it changes (next tick or a user's order).
        self.cache: dict[Hashable, Any] = {}

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
