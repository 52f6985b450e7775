"""Coinbase's REST rate limits as the simulator applies them: lazily refilled token buckets, one per key
(the client IP for "public", the profile for "private" and "fills"), one token per request."""

from __future__ import annotations

from collections.abc import Mapping

from exchanges.coinbase import TokenBucketLimit
from simulator.limits import TokenBucket


class Limiter:
    """Coinbase's limits: one token bucket per name ("public" per IP, "private" and "fills" per profile)."""

    def __init__(self, limits: Mapping[str, TokenBucketLimit]) -> None:
        self.limits = dict(limits)
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def take(self, bucket: str, key: str, now: float) -> bool:
        """Take one token from `key`'s `bucket`; False (nothing taken) when it is empty."""
        tokens = self._buckets.get((bucket, key))
        if tokens is None:
            limit = self.limits[bucket]
            tokens = self._buckets[(bucket, key)] = TokenBucket(limit.rate_per_s, limit.burst)
        return tokens.try_take(1, now)
