"""The simulated Binance Spot exchange's state: market, accounts, limits and faults (its routes: `rest`, `ws`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from exchanges.binance import HOSTS, ed25519_public_key, simulator_credentials, simulator_ed25519_credentials
from simulator.binance.account import Account, Trading
from simulator.binance.config import BinanceConfig
from simulator.binance.limiter import Limiter
from simulator.binance.symbols import symbol_specs
from simulator.common_config import ConfigError
from simulator.exchange import ExchangeSim
from simulator.market import Market


class BinanceSim(ExchangeSim):
    name = "binance"
    prefix = HOSTS.simulator_prefix

    def __init__(self, config: BinanceConfig, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, clock)
        self.limiter = Limiter(config)
        self.market = Market(symbol_specs(), config.seed, int(clock() * 1000))
        api_key, secret = simulator_credentials()
        demo = Account(api_key, secret, config.balances, uid=1)
        ed25519_key, private_key = simulator_ed25519_credentials()
        try:
            demo.ed25519_keys[ed25519_key] = ed25519_public_key(private_key)  # as registered on Binance: the public key
        except ValueError as e:
            raise ConfigError(f"SIM_BINANCE_ED25519_PRIVATE_KEY: {e}") from None
        self.trading = Trading(self.market, clock, [demo], config.seed)
        self.trading.accounts[ed25519_key] = demo  # its second API key
        self.trading.on_first_fill = lambda account: self.limiter.order_filled(account.api_key, clock())
