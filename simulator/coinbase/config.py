"""The `[coinbase]` section of the simulator's config: defaults from `exchanges.coinbase`, and its checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exchanges.coinbase import TOKEN_BUCKETS, WS_LIMITS, TokenBucketLimit, WsLimits
from simulator.coinbase.products import default_balances
from simulator.common_config import (
    CapacityConfig,
    FaultsConfig,
    check_positive,
    require,
)


@dataclass(frozen=True, slots=True)
class CoinbaseConfig:
    seed: int = 43  # the market's random walk
    tick_ms: int = 100  # one market step (trades, book changes, feed messages) every tick_ms
    # Token buckets: "public" per IP, "private" per profile, "fills" (private /fills) per profile.
    rate_limits: Mapping[str, TokenBucketLimit] = field(default_factory=lambda: dict(TOKEN_BUCKETS))
    ws: WsLimits = WS_LIMITS
    faults: FaultsConfig = field(default_factory=FaultsConfig)
    capacity: CapacityConfig = field(default_factory=CapacityConfig)
    balances: Mapping[str, float] = field(default_factory=default_balances)  # the demo profile's start


def check(coinbase: CoinbaseConfig) -> None:
    """Rules that span values or go beyond 'not negative'."""
    for name, bucket in coinbase.rate_limits.items():
        require(bucket.rate_per_s > 0, f"coinbase.rate_limits.{name}.rate_per_s must be positive")
        require(bucket.burst >= 1, f"coinbase.rate_limits.{name}.burst must be at least 1")
    check_positive("coinbase.ws", coinbase.ws)
