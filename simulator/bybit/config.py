"""The `[bybit]` section of the simulator's config: defaults from `exchanges.bybit`, and its checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exchanges.bybit import IP_LIMIT, RECV_WINDOW_DEFAULT_MS, UID_LIMITS_PER_S, WS_LIMITS, IpLimit, WsLimits
from simulator.bybit.instruments import default_balances
from simulator.common_config import CapacityConfig, FaultsConfig, check_positive, require


@dataclass(frozen=True, slots=True)
class BybitConfig:
    seed: int = 45  # the market's random walk
    tick_ms: int = 100  # one market step (trades, book changes, stream messages) every tick_ms
    ip_limit: IpLimit = IP_LIMIT  # HTTP requests per window per IP; over it, 403 and a ban of ban_s
    # Requests per second per UID and endpoint (signed endpoints); over it, retCode 10006 with HTTP 200.
    uid_limits_per_s: Mapping[str, int] = field(default_factory=lambda: dict(UID_LIMITS_PER_S))
    recv_window_default_ms: int = RECV_WINDOW_DEFAULT_MS  # when a signed request sends no X-BAPI-RECV-WINDOW
    ws: WsLimits = WS_LIMITS
    faults: FaultsConfig = field(default_factory=FaultsConfig)
    capacity: CapacityConfig = field(default_factory=CapacityConfig)
    balances: Mapping[str, float] = field(default_factory=default_balances)  # the demo account's start


def check(bybit: BybitConfig) -> None:
    """Rules that span values or go beyond 'not negative'."""
    require(bybit.ip_limit.requests >= 1, "bybit.ip_limit.requests must be at least 1")
    require(bybit.ip_limit.window_s >= 1, "bybit.ip_limit.window_s must be at least 1")
    for name, limit in bybit.uid_limits_per_s.items():
        require(limit >= 1, f"bybit.uid_limits_per_s.{name} must be at least 1")
    require(bybit.recv_window_default_ms >= 1, "bybit.recv_window_default_ms must be at least 1")
    check_positive("bybit.ws", bybit.ws)
