"""Kraken's limits as the simulator applies them.

- Public calls: a decaying counter per client IP (Trades and OHLC per IP and pair) -> `EGeneral:Too many requests`.
- Private calls: the REST call counter per API key, with the tier's maximum and decay -> `EAPI:Rate limit exceeded`.
  AddOrder and CancelOrder are not charged there but on the tier's trading counter per key and pair
  (+1 per order placed, a penalty by order age per cancel) -> `EOrder:Rate limit exceeded`.
- Nonces: per API key, each one above the highest seen; with `nonce_window` > 0, a nonce up to that far
  below the highest is still accepted once (Kraken's per-key "nonce window" setting).
- Lockout: an IP that gets `lockout.failures` invalid-key or invalid-signature answers within
  `lockout.window_s` is answered `EGeneral:Temporary lockout` on private calls for `lockout.lockout_s`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exchanges.kraken import PER_PAIR_PUBLIC
from simulator.limits import DecayingCounter, FixedWindowCounter

if TYPE_CHECKING:
    from simulator.kraken.config import KrakenConfig

NONCES_REMEMBERED = 4096  # recent nonces kept per key to refuse a replay inside the window


class NonceTracker:
    """The nonces each API key has used: each must be new and above `highest - window`."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._highest: dict[str, int] = {}
        self._recent: dict[str, set[int]] = {}  # only with a window: nonces used within it

    def accept(self, key: str, nonce: int) -> bool:
        """Whether `nonce` is valid for `key` now; a valid one is recorded as used."""
        highest = self._highest.get(key)
        if highest is None or nonce > highest:
            self._highest[key] = nonce
            if self.window > 0:
                self._remember(key, nonce, nonce)
            return True
        if self.window <= 0 or nonce <= highest - self.window:
            return False
        recent = self._recent.setdefault(key, set())
        if nonce in recent:
            return False
        self._remember(key, nonce, highest)
        return True

    def _remember(self, key: str, nonce: int, highest: int) -> None:
        recent = self._recent.setdefault(key, set())
        recent.add(nonce)
        if len(recent) > NONCES_REMEMBERED:
            floor = highest - self.window
            self._recent[key] = {n for n in recent if n > floor}


class Limiter:
    """Kraken's limits: the decaying call and trading counters per key, public calls per IP, and lockouts."""

    def __init__(self, config: KrakenConfig) -> None:
        limits = config.rate_limits
        self.tier_name = limits.tier
        self.tier = limits.tiers[limits.tier]
        self.public = DecayingCounter(limits.public.max_counter, limits.public.decay_per_s)
        self.calls = DecayingCounter(self.tier.max_counter, self.tier.decay_per_s)
        self.trading = DecayingCounter(self.tier.trading_threshold, self.tier.trading_decay_per_s)
        self.nonces = NonceTracker(config.nonce_window)
        lockout = config.lockout
        self.lockout_s = lockout.lockout_s
        self._auth_failures = FixedWindowCounter(lockout.failures, lockout.window_s)
        self._locked_until: dict[str, float] = {}

    @staticmethod
    def public_key(ip: str, method: str, pair: str) -> str:
        """What a public call is counted against: the IP, or the IP and pair for Trades and OHLC."""
        return f"{ip} {pair}" if method in PER_PAIR_PUBLIC else ip

    def locked(self, ip: str, now: float) -> bool:
        until = self._locked_until.get(ip)
        if until is None:
            return False
        if until <= now:
            del self._locked_until[ip]
            return False
        return True

    def auth_failed(self, ip: str, now: float) -> bool:
        """Count an invalid key or signature from `ip`; True when this one locks the IP out."""
        if self._auth_failures.add(ip, 1, now) >= self._auth_failures.limit:
            self._locked_until[ip] = now + self.lockout_s
            return True
        return False
