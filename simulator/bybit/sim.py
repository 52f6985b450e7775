"""The simulated Bybit v5 spot exchange's state: market, accounts, limits and faults (its routes: `rest`, `ws`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

from exchanges.bybit import HOSTS, simulator_credentials
from simulator.bybit.account import Account, Trading
from simulator.bybit.config import BybitConfig
from simulator.bybit.instruments import symbol_specs
from simulator.bybit.limiter import Limiter
from simulator.exchange import ExchangeSim
from simulator.market import Market
from simulator.rolling import DayWindow

DEMO_UID = "100000045"


class BybitSim(ExchangeSim):
    name = "bybit"
    prefix = HOSTS.simulator_prefix

    def __init__(self, config: BybitConfig, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, clock)
        self.limiter = Limiter(config)
        self.market = Market(symbol_specs(), config.seed, int(clock() * 1000))
        api_key, secret = simulator_credentials()
        self.trading = Trading(self.market, clock, [Account(DEMO_UID, api_key, secret, config.balances)], config.seed)
        self.day_windows = {name: DayWindow() for name in self.market.symbols}
        self.static_cache: dict[Hashable, Any] = {}  # answers that never change (reference data)
