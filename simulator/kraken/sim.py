"""The simulated Kraken Spot exchange's state: market, accounts, limits and faults (its routes: `rest`, `ws`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

from exchanges.kraken import HOSTS, simulator_credentials
from simulator.exchange import ExchangeSim
from simulator.kraken.account import Account, Trading
from simulator.kraken.config import KrakenConfig
from simulator.kraken.limiter import Limiter
from simulator.kraken.pairs import symbol_specs
from simulator.kraken.tokens import Tokens
from simulator.market import Market, SymbolMarket, TickResult
from simulator.rolling import DayWindow


class KrakenSim(ExchangeSim):
    name = "kraken"
    prefix = HOSTS.simulator_prefix

    def __init__(self, config: KrakenConfig, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, clock)
        self.limiter = Limiter(config)
        self.market_started_s = clock()
        self.market = Market(symbol_specs(), config.seed, int(self.market_started_s * 1000))
        api_key, secret = simulator_credentials()
        self.trading = Trading(self.market, clock, [Account(api_key, secret, config.balances)], config.seed)
        self.day_windows = {name: DayWindow() for name in self.market.symbols}
        # When each book level last changed (whole seconds, as Depth reports it), kept from the diff log.
        self.level_times: dict[str, dict[tuple[str, int], int]] = {name: {} for name in self.market.symbols}
        self._diff_cursors = {name: sym.last_update_id for name, sym in self.market.symbols.items()}
        self.market.listeners.append(self._note_level_times)
        # Answers that never change (reference data), beside the market-state cache.
        self.static_cache: dict[Hashable, Any] = {}
        self.ws_tokens = Tokens()  # GetWebSocketsToken's tokens, for the ws-auth endpoint

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
