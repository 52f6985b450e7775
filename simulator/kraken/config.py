"""The `[kraken]` section of the simulator's config: defaults from `exchanges.kraken`, and its checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exchanges.kraken import (
    DEFAULT_TIER,
    LOCKOUT,
    PUBLIC_LIMIT,
    TIERS,
    WS_LIMITS,
    CounterLimit,
    Lockout,
    TierLimits,
    WsLimits,
)
from simulator.common_config import (
    CapacityConfig,
    FaultsConfig,
    check_positive,
    require,
)
from simulator.kraken.pairs import default_balances


@dataclass(frozen=True, slots=True)
class KrakenRateLimits:
    tier: str = DEFAULT_TIER  # which of `tiers` the demo account has
    # Per tier: the REST call counter per API key, the trading counter per key and pair, open orders per pair.
    tiers: Mapping[str, TierLimits] = field(default_factory=lambda: dict(TIERS))
    public: CounterLimit = PUBLIC_LIMIT  # public calls per IP (Trades, OHLC: per IP and pair)


@dataclass(frozen=True, slots=True)
class KrakenConfig:
    seed: int = 44  # the market's random walk
    tick_ms: int = 100  # one market step (trades, book changes, stream messages) every tick_ms
    rate_limits: KrakenRateLimits = KrakenRateLimits()
    # How far below the highest nonce seen a new nonce is still accepted (Kraken's per-key setting; 0: none).
    nonce_window: int = 0
    lockout: Lockout = LOCKOUT
    ws: WsLimits = WS_LIMITS
    faults: FaultsConfig = field(default_factory=FaultsConfig)
    capacity: CapacityConfig = field(default_factory=CapacityConfig)
    balances: Mapping[str, float] = field(default_factory=default_balances)  # the demo account's start


def check(kraken: KrakenConfig) -> None:
    """Rules that span values or go beyond 'not negative'."""
    limits = kraken.rate_limits
    require(limits.tier in limits.tiers,
            f"kraken.rate_limits.tier must be one of {', '.join(limits.tiers)}, got {limits.tier!r}")
    for name, tier in limits.tiers.items():
        check_positive(f"kraken.rate_limits.tiers.{name}", tier)
    check_positive("kraken.rate_limits.public", limits.public)
    check_positive("kraken.lockout", kraken.lockout)
    check_positive("kraken.ws", kraken.ws)
