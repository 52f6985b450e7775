"""The simulated Binance Spot exchange: market, accounts, limits, faults, REST (and WebSocket) routes."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from exchanges.binance import HOSTS, simulator_credentials
from simulator.binance import rest, ws
from simulator.binance.account import Account
from simulator.binance.config import BinanceConfig, check
from simulator.binance.limiter import Limiter
from simulator.binance.symbols import symbol_specs
from simulator.binance.trading import Trading
from simulator.exchange import ExchangeSim
from simulator.market import Market
from simulator.venue import Venue


class BinanceSim(ExchangeSim):
    name = "binance"
    prefix = HOSTS.simulator_prefix

    def __init__(self, config: BinanceConfig, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, clock)
        self.limiter = Limiter(config)
        self.market = Market(symbol_specs(), config.seed, int(clock() * 1000))
        api_key, secret = simulator_credentials()
        self.trading = Trading(self, [Account(api_key, secret, config.balances, uid=1)], config.seed)

    def mount(self, app: web.Application) -> None:
        rest.add_routes(app, self)
        ws.add_routes(app, self)
        rest.add_not_found(app, self)


VENUE = Venue(BinanceSim, BinanceConfig, check)
