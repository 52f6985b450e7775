"""A circuit breaker per exchange and process: closed, open, half-open.

Closed: requests go out; `failure_threshold` unhealthy answers in a row open it. Open: requests are
refused without being sent, for `open_s` seconds. Then half-open: one trial request goes out (the
others are still refused); its success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from exchanges.base import FailureKind

# Answers that say the exchange is unwell or refusing us, as opposed to a bad request of our own.
UNHEALTHY_KINDS = frozenset(
    {
        FailureKind.SERVER_ERROR,
        FailureKind.TIMEOUT,
        FailureKind.CONNECTION,
        FailureKind.RATE_LIMITED,
        FailureKind.BANNED,
    }
)


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 5,
        open_s: float = 30.0,
        on_change: Callable[[BreakerState], None] = lambda state: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or open_s <= 0:
            raise ValueError(f"breaker needs failure_threshold >= 1 and open_s > 0, got {failure_threshold}, {open_s}")
        self.failure_threshold = failure_threshold
        self.open_s = open_s
        self._on_change = on_change
        self._clock = clock
        self.state = BreakerState.CLOSED
        self._failures = 0  # unhealthy answers in a row while closed
        self._opened_at = 0.0
        self._trial_out = False  # half-open: the one trial request is in flight

    def allow(self) -> bool:
        """Whether a request may go out now. In half-open state only one (the trial) is let through."""
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.open_s:
                return False
            self._change(BreakerState.HALF_OPEN)
        if self.state is BreakerState.HALF_OPEN:
            if self._trial_out:
                return False
            self._trial_out = True
        return True

    def record(self, kind: FailureKind | None) -> None:
        """The answer to a request that `allow` let through: None for a success, else its failure kind."""
        healthy = kind not in UNHEALTHY_KINDS
        if self.state is BreakerState.HALF_OPEN:
            self._trial_out = False
            self._change(BreakerState.CLOSED if healthy else BreakerState.OPEN)
            return
        if self.state is BreakerState.OPEN:
            return  # a late answer to a request sent before the breaker opened
        self._failures = 0 if healthy else self._failures + 1
        if self._failures >= self.failure_threshold:
            self._change(BreakerState.OPEN)

    def _change(self, state: BreakerState) -> None:
        self.state = state
        self._failures = 0
        if state is BreakerState.OPEN:
            self._opened_at = self._clock()
        self._on_change(state)
