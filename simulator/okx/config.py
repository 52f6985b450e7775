"""The `[okx]` section of the simulator's config: defaults from `exchanges.okx`, and its checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exchanges.base import WindowLimit
from exchanges.okx import (
    ENDPOINT_LIMITS,
    RULES,
    SUB_ACCOUNT_ORDER_LIMIT,
    TIMESTAMP_TOLERANCE_S,
    WS_LIMITS,
    EndpointLimit,
    WsLimits,
)
from simulator.common_config import CapacityConfig, FaultsConfig, check_positive, require
from simulator.okx.instruments import default_balances


@dataclass(frozen=True, slots=True)
class OkxConfig:
    seed: int = 45  # the market's random walk
    tick_ms: int = 100  # one market step (trades, book changes, stream pushes) every tick_ms
    # Each endpoint's limit: requests per window, counted per IP, user ID, or user ID and instrument ID.
    endpoint_limits: Mapping[str, EndpointLimit] = field(default_factory=lambda: dict(ENDPOINT_LIMITS))
    sub_account_orders: WindowLimit = SUB_ACCOUNT_ORDER_LIMIT  # new orders per window across instruments (50061)
    timestamp_tolerance_s: float = TIMESTAMP_TOLERANCE_S  # OK-ACCESS-TIMESTAMP this far off the clock: 50102
    ws: WsLimits = WS_LIMITS
    faults: FaultsConfig = field(default_factory=FaultsConfig)
    capacity: CapacityConfig = field(default_factory=CapacityConfig)
    balances: Mapping[str, float] = field(default_factory=default_balances)  # the demo account's start


def check(okx: OkxConfig) -> None:
    """Rules that span values or go beyond 'not negative'."""
    for name, limit in okx.endpoint_limits.items():
        where = f"okx.endpoint_limits.{name}"
        require(limit.limit >= 1 and limit.interval_s >= 1, f"{where}: limit and interval_s must be at least 1")
        require(limit.rule in RULES, f"{where}.rule must be one of {', '.join(RULES)}, got {limit.rule!r}")
    check_positive("okx.sub_account_orders", okx.sub_account_orders)
    require(okx.timestamp_tolerance_s > 0, "okx.timestamp_tolerance_s must be positive")
    check_positive("okx.ws", okx.ws)
