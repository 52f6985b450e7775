"""The simulated OKX exchange's state: market, accounts, limits and faults (its routes: `rest`, `ws`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

from exchanges.okx import HOSTS, simulator_credentials
from simulator.exchange import ExchangeSim
from simulator.market import Market
from simulator.okx.account import Account, Trading
from simulator.okx.config import OkxConfig
from simulator.okx.instruments import symbol_specs
from simulator.okx.limiter import Limiter
from simulator.rolling import DayWindow


class OkxSim(ExchangeSim):
    name = "okx"
    prefix = HOSTS.simulator_prefix

    def __init__(self, config: OkxConfig, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, clock)
        self.limiter = Limiter(config)
        self.market_started_s = clock()
        self.market = Market(symbol_specs(), config.seed, int(self.market_started_s * 1000))
        demo = simulator_credentials()
        account = Account(demo.api_key, demo.api_secret, demo.passphrase, config.balances)
        self.trading = Trading(self.market, clock, [account], config.seed)
        self.day_windows = {name: DayWindow() for name in self.market.symbols}
        self.static_cache: dict[Hashable, Any] = {}  # answers that never change (reference data)
