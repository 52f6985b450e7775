"""Exponential backoff with full jitter, capped, never shorter than a server-given Retry-After."""

from __future__ import annotations

import random


class Backoff:
    """Delays for successive retries: uniform in [0, min(cap, base * 2**attempt)] ("full jitter").

    A server's own wait (Retry-After) wins when it is longer; it is not capped, because retrying
    earlier than the server allows only earns a longer ban.
    """

    def __init__(self, base_s: float = 0.5, cap_s: float = 30.0, rng: random.Random | None = None) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError(f"backoff needs 0 < base_s <= cap_s, got base_s={base_s} cap_s={cap_s}")
        self.base_s = base_s
        self.cap_s = cap_s
        self.attempt = 0
        self._rng = rng or random.Random()

    def ceiling_s(self) -> float:
        """The largest jittered delay the next call can return."""
        return min(self.cap_s, self.base_s * 2.0 ** min(self.attempt, 64))

    def next_delay(self, retry_after_s: float | None = None) -> float:
        delay = self._rng.uniform(0.0, self.ceiling_s())
        self.attempt += 1
        if retry_after_s is not None and retry_after_s > delay:
            return retry_after_s
        return delay

    def reset(self) -> None:
        self.attempt = 0
