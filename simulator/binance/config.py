"""The `[binance]` section of the simulator's config: defaults from `exchanges.binance`, and its checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exchanges.base import WindowLimit
from exchanges.binance import FIRST_BAN_S, MAX_BAN_S, RATE_LIMITS, WS_API_LIMITS, WS_LIMITS, WsApiLimits, WsLimits
from simulator.binance.symbols import default_balances
from simulator.common_config import (
    CapacityConfig,
    FaultsConfig,
    check_positive,
    require,
)


@dataclass(frozen=True, slots=True)
class BanConfig:
    first_ban_s: int = FIRST_BAN_S  # the first IP ban; each new ban doubles it
    max_ban_s: int = MAX_BAN_S
    # Requests a client may send while rate-limited (each answered 429) before the next one bans its IP (418).
    limited_requests_before_ban: int = 10


@dataclass(frozen=True, slots=True)
class BinanceConfig:
    seed: int = 42  # the market's random walk
    tick_ms: int = 100  # one market step (trades, book changes) every tick_ms
    rate_limits: Mapping[str, WindowLimit] = field(default_factory=lambda: dict(RATE_LIMITS))
    bans: BanConfig = BanConfig()
    ws: WsLimits = WS_LIMITS
    ws_api: WsApiLimits = WS_API_LIMITS  # the WebSocket API's session rules
    faults: FaultsConfig = field(default_factory=FaultsConfig)
    capacity: CapacityConfig = field(default_factory=CapacityConfig)
    balances: Mapping[str, float] = field(default_factory=default_balances)  # the demo account's start


def check(binance: BinanceConfig) -> None:
    """Rules that span values or go beyond 'not negative'."""
    for name, window in binance.rate_limits.items():
        require(window.interval_s >= 1, f"binance.rate_limits.{name}.interval_s must be at least 1")
    require(binance.bans.first_ban_s >= 1, "binance.bans.first_ban_s must be at least 1")
    require(binance.bans.max_ban_s >= binance.bans.first_ban_s, "binance.bans.max_ban_s must be >= first_ban_s")
    check_positive("binance.ws", binance.ws)
    check_positive("binance.ws_api", binance.ws_api)
