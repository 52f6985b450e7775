"""Per-process pacing for polite users: a request-weight limiter and a shared Retry-After pause.

Both are shared by all users of one exchange in a process. Clock and sleep are injectable so the
logic can be tested without waiting.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import gevent

from loadgen.pacing.backoff import Backoff

Clock = Callable[[], float]
Sleep = Callable[[float], object]


class WeightLimiter:
    """Keeps the request weight sent in any `window_s`-second span at or under `budget`.

    A sliding window: it also holds for every fixed window the exchange may count in. The budget
    can be changed while running (`set_budget`), e.g. by a coordinator that splits one IP's limit
    between several load-generator processes.
    """

    def __init__(self, budget: float, window_s: float, clock: Clock = time.monotonic, sleep: Sleep = gevent.sleep):
        if window_s <= 0:
            raise ValueError(f"window_s must be more than 0, got {window_s}")
        self.window_s = window_s
        self._budget = 0.0
        self.set_budget(budget)
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[tuple[float, int]] = deque()  # (send time, weight), oldest first
        self._used = 0

    @property
    def budget(self) -> float:
        return self._budget

    def set_budget(self, budget: float) -> None:
        if budget <= 0:
            raise ValueError(f"weight budget must be more than 0, got {budget}")
        self._budget = budget

    def used(self) -> int:
        """Weight sent in the last `window_s` seconds."""
        self._expire(self._clock())
        return self._used

    def acquire(self, weight: int) -> float:
        """Wait until `weight` fits in the budget, then count it as sent. Returns the seconds waited.

        A single request heavier than the whole budget is let through once the window is empty.
        """
        started: float | None = None  # set when we first have to wait
        while True:
            now = self._clock()
            self._expire(now)
            if self._used + weight <= self._budget or not self._sent:
                self._sent.append((now, weight))
                self._used += weight
                return 0.0 if started is None else now - started
            if started is None:
                started = now
            self._sleep(max(self._sent[0][0] + self.window_s - now, 0.001))

    def _expire(self, now: float) -> None:
        horizon = now - self.window_s
        while self._sent and self._sent[0][0] <= horizon:
            self._used -= self._sent.popleft()[1]


class RetryAfterGate:
    """A pause shared by all polite users of one exchange: after a 429/418 nobody sends until it ends.

    The pause is the server's Retry-After or an exponential backoff with jitter, whichever is longer.
    Rate-limit answers that arrive during a pause (requests already in flight) extend it to their own
    Retry-After but do not escalate the backoff; a successful answer resets the backoff.
    """

    def __init__(self, backoff: Backoff, clock: Clock = time.monotonic, sleep: Sleep = gevent.sleep) -> None:
        self._backoff = backoff
        self._clock = clock
        self._sleep = sleep
        self._until = 0.0

    def hold(self, retry_after_s: float | None) -> None:
        now = self._clock()
        if now < self._until:
            self._until = max(self._until, now + (retry_after_s or 0.0))
        else:
            self._until = now + self._backoff.next_delay(retry_after_s)

    def hold_for(self, seconds: float) -> None:
        """Pause for exactly the server's wait (`--backoff retry-after`): no backoff of its own."""
        self._until = max(self._until, self._clock() + seconds)

    def clear(self) -> None:
        self._backoff.reset()

    def remaining_s(self) -> float:
        return max(0.0, self._until - self._clock())

    def wait(self) -> float:
        """Sleep until the pause is over (it may be extended meanwhile). Returns the seconds waited."""
        started = self._clock()
        if started >= self._until:
            return 0.0
        while (left := self._until - self._clock()) > 0:
            self._sleep(left)
        return self._clock() - started
