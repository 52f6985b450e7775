"""Rate-limit building blocks: epoch-aligned fixed windows, token buckets, decaying counters and escalating bans.

All of them take the current time (`now`, seconds since the epoch) as an argument, so one clock
drives the whole exchange and tests can use a fake one.
"""

from __future__ import annotations

import math


class FixedWindowCounter:
    """Per-key usage in fixed windows aligned to the epoch (window number `floor(now / interval_s)`).

    Only the current window is kept: when it ends, every key starts again from zero.
    """

    __slots__ = ("_counts", "_window", "interval_s", "limit")

    def __init__(self, limit: int, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.limit = limit
        self.interval_s = interval_s
        self._window = -1
        self._counts: dict[str, int] = {}

    def add(self, key: str, amount: int, now: float) -> int:
        """Add `amount` to `key`'s usage; return the usage after adding."""
        window = int(now // self.interval_s)
        if window != self._window:
            self._window = window
            self._counts.clear()
        used = self._counts.get(key, 0) + amount
        self._counts[key] = used
        return used

    def used(self, key: str, now: float) -> int:
        if int(now // self.interval_s) != self._window:
            return 0
        return self._counts.get(key, 0)

    def reset_in(self, now: float) -> float:
        """Seconds until the current window ends."""
        return (math.floor(now / self.interval_s) + 1) * self.interval_s - now


class TokenBucket:
    """A bucket of `burst` tokens refilled at `rate_per_s`; refilled lazily when asked."""

    __slots__ = ("_updated", "burst", "rate_per_s", "tokens")

    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.tokens = float(burst)
        self._updated: float | None = None

    def _refill(self, now: float) -> None:
        if self._updated is not None and now > self._updated:
            self.tokens = min(self.burst, self.tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now if self._updated is None else max(self._updated, now)

    def try_take(self, amount: float, now: float) -> bool:
        """Take `amount` tokens if there are enough; return whether they were taken."""
        self._refill(now)
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def wait_s(self, amount: float, now: float) -> float:
        """Seconds until `amount` tokens will be available (0 if they are now)."""
        self._refill(now)
        missing = amount - self.tokens
        if missing <= 0:
            return 0.0
        return math.inf if self.rate_per_s <= 0 else missing / self.rate_per_s


class BanTracker:
    """Escalating bans per key for clients that keep sending while rate-limited.

    A key may send `tolerated` requests while limited (each answered 429); the next one bans it.
    The first ban lasts `first_ban_s`, each new one twice the previous, at most `max_ban_s`. A
    key's offence count is never forgotten, so repeat offenders get longer bans, as on Binance.
    """

    __slots__ = ("_bans", "_offences", "_strikes", "first_ban_s", "max_ban_s", "tolerated")

    def __init__(self, first_ban_s: float, max_ban_s: float, tolerated: int) -> None:
        self.first_ban_s = first_ban_s
        self.max_ban_s = max_ban_s
        self.tolerated = tolerated
        self._bans: dict[str, float] = {}  # key -> ban end (epoch seconds)
        self._offences: dict[str, int] = {}
        self._strikes: dict[str, tuple[float, int]] = {}  # key -> (end of the limited window, requests sent in it)

    def banned_until(self, key: str, now: float) -> float | None:
        """When `key`'s ban ends, or None if it is not banned at `now`."""
        until = self._bans.get(key)
        if until is None:
            return None
        if until <= now:
            del self._bans[key]
            return None
        return until

    def strike(self, key: str, now: float, limited_until: float) -> float | None:
        """Note one request that `key` sent while limited (until `limited_until`).

        Returns the end of the ban this request earned, or None while the key is still tolerated.
        """
        end, count = self._strikes.get(key, (0.0, 0))
        count = count + 1 if end > now else 1
        if count > self.tolerated:
            self._strikes.pop(key, None)
            return self.ban(key, now)
        self._strikes[key] = (limited_until, count)
        return None

    def ban(self, key: str, now: float) -> float:
        """Ban `key` from `now`; return when the ban ends."""
        offences = self._offences.get(key, 0)
        self._offences[key] = offences + 1
        duration = min(self.max_ban_s, self.first_ban_s * 2 ** min(offences, 64))
        until = now + duration
        self._bans[key] = until
        return until


class DecayingCounter:
    """Per-key counters that grow by each call's cost and drain at `decay_per_s`, capped at `max_count`.

    A call is admitted when the counter plus its cost stays within `max_count`; a refused call adds
    nothing. This is Kraken's REST call counter (and its per-pair trading counter). A key whose counter
    has drained to zero is forgotten, so idle keys cost no memory.
    """

    __slots__ = ("_levels", "decay_per_s", "max_count")

    def __init__(self, max_count: float, decay_per_s: float) -> None:
        if decay_per_s < 0:
            raise ValueError("decay_per_s must not be negative")
        self.max_count = max_count
        self.decay_per_s = decay_per_s
        self._levels: dict[str, tuple[float, float]] = {}  # key -> (level, when it was last updated)

    def level(self, key: str, now: float) -> float:
        """The counter of `key` at `now`, after decay."""
        entry = self._levels.get(key)
        if entry is None:
            return 0.0
        level, updated = entry
        return max(0.0, level - max(0.0, now - updated) * self.decay_per_s)

    def try_add(self, key: str, cost: float, now: float) -> bool:
        """Add `cost` to `key`'s counter if it fits under `max_count`; return whether it was added."""
        level = self.level(key, now)
        if level + cost > self.max_count:
            self._store(key, level, now)
            return False
        self._store(key, level + cost, now)
        return True

    def add(self, key: str, cost: float, now: float) -> float:
        """Add `cost` whatever the cap (a penalty that may push the counter over it); return the new level."""
        level = self.level(key, now) + cost
        self._store(key, level, now)
        return level

    def wait_s(self, key: str, cost: float, now: float) -> float:
        """Seconds until a call of `cost` would be admitted (0 if it would be now)."""
        excess = self.level(key, now) + cost - self.max_count
        if excess <= 0:
            return 0.0
        return math.inf if self.decay_per_s <= 0 else excess / self.decay_per_s

    def _store(self, key: str, level: float, now: float) -> None:
        if level <= 0:
            self._levels.pop(key, None)
        else:
            self._levels[key] = (level, now)
