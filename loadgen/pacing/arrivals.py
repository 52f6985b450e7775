"""Open-model pacing: request starts on a fixed schedule at a target rate, however long the answers take.

One `ArrivalPacer` per process hands out start times to every paced user. The rate is this process's
part of the cluster-wide target (see `loadgen.pacing.cluster_budget`). Clock and waiting are injectable so the
schedule can be tested without waiting.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from gevent.event import Event
from gevent.lock import Semaphore

Clock = Callable[[], float]
WaitForChange = Callable[[Event, float | None], bool]  # (event, timeout) -> whether the event was set


def _wait(event: Event, timeout: float | None) -> bool:
    return bool(event.wait(timeout))


class PacerClosed(Exception):
    """The test is stopping: no more starts (users waiting for one stop instead of sending late)."""


@dataclass(frozen=True, slots=True)
class Start:
    """One paced start: when the schedule meant it to happen and how much later it did."""

    intended_at: float  # wall-clock seconds
    lag_s: float  # 0 or more
    skipped: int  # earlier scheduled starts dropped just before this one
    burst: int | None = None  # the burst this start belongs to (see `ArrivalPacer.grant`)


class ArrivalPacer:
    """Start times `1/rate` apart, shared by all paced users of a process.

    Users queue for the next start: the first in the queue sleeps until it, the others wait behind.
    A user that comes back after its start time goes at once, late. Scheduled starts more than
    `max_lag_s` in the past are skipped (counted, never sent), so a generator that fell behind does
    not catch up in a burst. `set_rate` takes effect at the next start; rate 0 pauses; None turns
    pacing off (users fall back to their own wait times). `grant` lets a number of starts go at once,
    before any scheduled one (a burst). `pause_for` holds the schedule (the exchange said Retry-After):
    it resumes at the pause's end at the same rate, and the starts it passed over are neither late nor
    skipped, so users held during the pause do not send together when it ends.
    """

    def __init__(
        self,
        max_lag_s: float = 1.0,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        wait_for_change: WaitForChange = _wait,
    ) -> None:
        self.max_lag_s = max_lag_s
        self._clock = clock
        # Intended starts are stamped in wall-clock time from one offset, taken once: reading both clocks
        # for every start would put a busy machine's scheduling delay between the two reads into the stamps.
        self._wall_offset = wall_clock() - clock()
        self._wait = wait_for_change
        self._queue = Semaphore()
        self._changed = Event()
        self._rate: float | None = None
        self._last: float | None = None  # the last start handed out, on `clock`
        self._paused_until = -math.inf  # on `clock`: no start before this
        self._closed = False
        self._grants: deque[tuple[float, int]] = deque()  # (granted at, burst) of starts to hand out at once

    @property
    def rate(self) -> float | None:
        return self._rate

    @property
    def active(self) -> bool:
        return self._rate is not None

    def set_rate(self, rate: float | None) -> None:
        if rate is not None and (not math.isfinite(rate) or rate < 0):
            raise ValueError(f"rate must be a number >= 0 or None, got {rate}")
        if rate == self._rate:
            return
        if not self._rate:
            self._last = None  # starting or resuming: the first start is now, nothing was missed
        self._rate = rate
        changed, self._changed = self._changed, Event()
        changed.set()  # the user sleeping for the next start recomputes it

    def restart(self) -> None:
        """Forget the schedule, any pause and any grants (a new test): the next start is immediate."""
        self._last = None
        self._paused_until = -math.inf
        self._closed = False
        self._grants.clear()

    def close(self) -> None:
        """The test is stopping: users waiting for a start, and any that ask for one, get `PacerClosed`, so that
        a stopping test does not wait for starts that a paused schedule would never give."""
        self._closed = True
        changed, self._changed = self._changed, Event()
        changed.set()

    def pause_for(self, seconds: float) -> None:
        """No scheduled start for `seconds` from now (a longer pause already set stands)."""
        until = self._clock() + seconds
        if until > self._paused_until:
            self._paused_until = until
            changed, self._changed = self._changed, Event()
            changed.set()  # the user sleeping for the next start recomputes it

    def grant(self, count: int, burst: int) -> None:
        """Let `count` starts go at once, tagged with `burst`, whatever the rate."""
        now = self._clock()
        self._grants.extend((now, burst) for _ in range(count))
        changed, self._changed = self._changed, Event()
        changed.set()

    def withdraw(self, burst: int) -> int:
        """Take back the starts of `burst` nobody took (too few users were free). Returns how many."""
        left = len(self._grants)
        self._grants = deque(g for g in self._grants if g[1] != burst)
        return left - len(self._grants)

    def start(self) -> Start:
        """Wait for the next scheduled start and take it (PacerClosed once the test is stopping)."""
        skipped = 0
        with self._queue:
            while True:
                if self._closed:
                    raise PacerClosed()
                if self._grants:
                    granted_at, burst = self._grants.popleft()
                    lag = max(0.0, self._clock() - granted_at)
                    return Start(self._clock() - lag + self._wall_offset, lag, skipped, burst)
                rate, changed = self._rate, self._changed
                if not rate:  # paused, or pacing turned off while queued: wait for a rate
                    if rate is None:
                        return Start(self._clock() + self._wall_offset, 0.0, skipped)
                    self._wait(changed, None)
                    continue
                interval = 1.0 / rate
                now = self._clock()
                slot = now if self._last is None else self._last + interval
                slot = max(slot, self._paused_until)  # a pause moves the schedule; nothing was missed
                if now - slot > self.max_lag_s:
                    missed = math.ceil((now - slot - self.max_lag_s) / interval)
                    skipped += missed
                    slot += missed * interval
                if slot > now and self._wait(changed, slot - now):
                    continue  # the rate changed meanwhile: recompute from the last start
                self._last = slot
                break
        now = self._clock()
        lag = max(0.0, now - slot)
        return Start(slot + self._wall_offset, lag, skipped)
