"""The ramp scenario: one limit search per exchange of the run (see loadgen/pacing/limit_search.py for the rules).

Each exchange's open-model users are paced by a target rate of their own, so every exchange of a run is
searched at once. A plateau is judged on that exchange's seconds of the metrics table:

- a rate-limit answer (429, 418, the exchange's own code) in its seconds makes it `rate_limited` at once;
- a probe with none over its whole length is `clean` once its seconds have all arrived; climb and drain
  steps without one are `short` (too short to call a rate sustainable);
- a clean plateau whose generator fell short of the target (below 95%, or skipped starts) is `not_reached`,
  and ends that exchange's search.

How long a probe must be depends on how the exchange counts (its adapter's `limit_kind`):

- fixed window (Binance, Bybit, OKX): a probe is one whole window of the exchange (`--weight-window-s`, default the
  adapter's), aligned to the epoch as the exchange aligns it; any rate that fits that window's total is
  sustainable. A limited window stops the plateau: the users honour Retry-After (the window's end) and the
  next probe starts with the next window. The limit's capacity is what the window took before it refused.
- token bucket, decaying counter (Coinbase, Kraken): a probe starts from an empty bucket (after a limited
  plateau, or after a drain) and lasts long enough that a rate 2.4% over the limit would have been refused
  twice over; its capacity is what the bucket let through per second while it refused.

Results: `PREFIX_ramp.csv` (one row per plateau, every exchange) and `PREFIX_scenario.json`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import gevent
from locust.env import Environment

from exchanges.base import ExchangeAdapter, LimitKind
from loadgen.metrics import SecondStats, metrics_hub
from loadgen.options import OptionError, parse_settings
from loadgen.pacing.cluster_budget import cluster_of
from loadgen.pacing.limit_search import Done, Role, Rules, Step, Trial, bracket, next_step
from loadgen.pacing.search_plan import SearchPlan, settle_s

logger = logging.getLogger(__name__)

REACHED_SHARE = 0.95  # a plateau whose paced starts stay below this share of its target was not reached
CLIMB_STEP_S = 3.0  # buckets and counters: seconds per climb step
CLIMB_STEPS_PER_WINDOW = 6  # fixed windows: climb steps per window (the window's total shows the limit)
MAX_DRAIN_S = 30.0  # a drain that draws no rate-limit answer by then ends anyway
# Buckets and counters: a limited plateau goes on after its first refusal, for at least MEASURE_S whole seconds and
# until MEASURE_UNITS were let through (at most MAX_MEASURE_S): what the bucket lets through then is its rate.
MEASURE_S, MEASURE_UNITS, MAX_MEASURE_S = 2, 15, 10
DECIDE_LEAD_S = 1.5  # fixed windows: the next window's rate is chosen this long before it starts
NOISE_SIGMAS = 2.0  # fixed windows: probe this many standard deviations of a window's weight below the capacity
MAX_MARGIN = 0.3

CLEAN, RATE_LIMITED, SHORT, NOT_REACHED, INCOMPLETE = "clean", "rate_limited", "short", "not_reached", "incomplete"
COLUMNS = ("exchange", "index", "role", "target_rps", "started_at", "ended_at", "verdict", "achieved_rps",
           "requests", "weight_per_request", "rate_limited", "first_limited_at", "capacity_rps", "capacity_units",
           "late_starts", "skipped_starts")


@dataclass(slots=True)
class Plateau:
    exchange: str
    index: int
    role: str
    target_rps: float
    started_at: float  # wall-clock seconds the rate took effect (a window's start for fixed-window probes)
    ended_at: float | None = None
    verdict: str = ""
    achieved_rps: float | None = None
    requests: int = 0
    weight_per_request: float | None = None
    rate_limited: int = 0  # rate-limit and ban answers in its seconds
    first_limited_at: int | None = None  # the first second with one
    capacity_rps: float | None = None  # limited plateaus: the limit's capacity it measured, in req/s ...
    capacity_units: float | None = None  # ... and in the limit's own units (a fixed window's per window, else per s)
    late_starts: int = 0
    skipped_starts: int = 0

    @property
    def limited(self) -> bool:
        return self.first_limited_at is not None


@dataclass(frozen=True, slots=True)
class RampSettings:
    start_rps: float | None  # None: from each exchange's published limit
    max_rps: float
    min_probe_s: float

    @classmethod
    def parse(cls, options: Any) -> RampSettings:
        start = str(getattr(options, "ramp_start_rps", "") or "").strip()
        return cls(
            start_rps=_positive(options, "ramp_start_rps") if start else None,
            max_rps=_positive(options, "ramp_max_rps"),
            min_probe_s=_positive(options, "ramp_plateau_s", low=2.0),
        )


def _positive(options: Any, dest: str, low: float = 0.0) -> float:
    text = str(getattr(options, dest, "") or "").strip()
    flag = "--" + dest.replace("_", "-")
    try:
        value = float(text)
    except ValueError:
        raise OptionError(f"{flag}: expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= low:
        raise OptionError(f"{flag}: must be a number above {low:g}, got {text}")
    return value


class ExchangeSearch:
    """One exchange's search: its plateaus, judged on its seconds, and the rate its paced users get."""

    def __init__(self, environment: Environment, adapter: ExchangeAdapter, settings: RampSettings) -> None:
        self.environment = environment
        self.exchange = adapter.name
        limits = parse_settings(environment.parsed_options, adapter, adapter.base_on(environment.host))
        self.fixed_window = adapter.limit_kind is LimitKind.FIXED_WINDOW
        self.weight_units = adapter.limit_unit.startswith("weight")
        self.window_s = limits.weight_window_s
        # The published limit as a request rate, one unit of weight taken as one request.
        published_rps = adapter.published_rate_per_s() or limits.weight_limit / limits.weight_window_s
        self.rules = Rules(settings.start_rps or published_rps, settings.max_rps, drains=not self.fixed_window)
        self.min_probe_s = settings.min_probe_s
        self.settle_s = settle_s(environment)
        self.plateaus: list[Plateau] = []
        self.stop_reason = ""
        self._switch: gevent.Greenlet | None = None  # a rate change scheduled for a window's start

    @property
    def done(self) -> bool:
        return bool(self.stop_reason)

    # -- moving on

    def tick(self, now: float, deadline: float) -> None:
        self.judge(now)
        if self.done:
            return
        short = next((p for p in self.plateaus if p.verdict == NOT_REACHED), None)
        if short is not None:
            self.stop(f"the load generator could not reach {short.target_rps:.4g} req/s "
                      f"({short.achieved_rps or 0:.1f} achieved): add users (-u) or workers", now)
            return
        current = self.plateaus[-1] if self.plateaus else None
        if current is not None and not self._ends(current, now):
            return
        if current is not None and current.limited and self.fixed_window:
            self._set_rate(0.0)  # nothing more into a window that is already full ...
            if now < math.ceil(now / self.window_s) * self.window_s - DECIDE_LEAD_S:
                return  # ... and the next window's probe is chosen just before it starts, on all that is known
        step = next_step(self.trials(), self.rules, self._margin())
        if isinstance(step, Done):
            self.stop(step.reason, now)
            return
        start = self._start_time(step, now)
        if start + self._length_s(step) + self.settle_s + 1 > deadline:
            self.stop(f"the time budget ended before a {step.role} at {step.rate:.4g} req/s could be judged", now)
            return
        self._begin(step, start, now)

    def _ends(self, plateau: Plateau, now: float) -> bool:
        """Whether `plateau` is over (its end time is set then)."""
        if plateau.ended_at is not None:
            return True
        if plateau.limited:
            table = metrics_hub(self.environment).table
            if self.fixed_window or self._measured_through(plateau, table, self._settled_through(now)) is not None:
                plateau.ended_at = now
        elif plateau.role == Role.PROBE and self.fixed_window:
            end = plateau.started_at + self.window_s
            if now >= end - DECIDE_LEAD_S:
                plateau.ended_at = end
        elif plateau.role == Role.PROBE:
            first, last = int(plateau.started_at) + 1, self._settled_through(now)
            if last - first + 1 >= self.probe_s(plateau.target_rps):
                plateau.ended_at = now
        elif now - plateau.started_at >= (MAX_DRAIN_S if plateau.role == Role.DRAIN else self.climb_step_s):
            plateau.ended_at = now
        if plateau.ended_at is not None:
            self.judge(now)
        return plateau.ended_at is not None

    @property
    def climb_step_s(self) -> float:
        return max(CLIMB_STEP_S, self.window_s / CLIMB_STEPS_PER_WINDOW) if self.fixed_window else CLIMB_STEP_S

    def probe_s(self, rate: float) -> float:
        """Whole seconds a probe must hold clean: a fixed window's length; for buckets and counters enough that a
        rate `margin` over the limit would have been refused twice over, starting from an empty bucket."""
        if self.fixed_window:
            return self.window_s
        return max(self.min_probe_s, math.ceil(2.0 / (self.rules.margin * rate)))

    def _length_s(self, step: Step) -> float:
        if step.role == Role.PROBE:
            return self.probe_s(step.rate) + (0 if self.fixed_window else 1)
        return self.climb_step_s if step.role == Role.CLIMB else 2.0

    def _start_time(self, step: Step, now: float) -> float:
        if self.fixed_window and step.role == Role.PROBE:
            return math.ceil(now / self.window_s) * self.window_s
        return now

    def _begin(self, step: Step, start: float, now: float) -> None:
        previous = self.plateaus[-1] if self.plateaus else None
        plateau = Plateau(self.exchange, len(self.plateaus) + 1, str(step.role), step.rate, start)
        self.plateaus.append(plateau)
        logger.info("ramp: %s %s %d at %.4g req/s%s", self.exchange, step.role, plateau.index, step.rate,
                    f" from {time.strftime('%H:%M:%S', time.localtime(start))}" if start > now + 0.05 else "")
        if start <= now + 0.05:
            self._set_rate(step.rate)
            return
        if previous is None or previous.limited:
            self._set_rate(0.0)
        self._switch = gevent.spawn_later(start - now, self._set_rate, step.rate)

    def _set_rate(self, rps: float) -> None:
        cluster_of(self.environment).set_exchange_rps(self.exchange, rps)

    def stop(self, reason: str, now: float) -> None:
        """No more plateaus; a fixed window's probe already under way still fills its window."""
        self.stop_reason = reason
        if self._switch is not None:
            self._switch.kill(block=False)
        current = self.plateaus[-1] if self.plateaus else None
        if current is not None and current.ended_at is not None and current.started_at <= now < current.ended_at:
            self._switch = gevent.spawn_later(current.ended_at - now, self._set_rate, 0.0)
        else:
            for plateau in self.plateaus:
                if plateau.ended_at is None or plateau.ended_at > now:
                    plateau.ended_at = max(now, plateau.started_at)
            self._set_rate(0.0)
        logger.info("ramp: %s: %s", self.exchange, reason)

    @property
    def last_end(self) -> float:
        return max((p.ended_at or p.started_at for p in self.plateaus), default=0.0)

    # -- judging

    def _settled_through(self, now: float) -> int:
        """The last whole second whose counts have all arrived."""
        return int(now) - 1 - self.settle_s

    def judge(self, now: float) -> None:
        table = metrics_hub(self.environment).table
        settled = self._settled_through(now)
        for plateau in self.plateaus:
            if plateau.verdict in (CLEAN, SHORT, NOT_REACHED, INCOMPLETE) or plateau.started_at > now:
                continue
            first, last = self._limit_seconds(plateau, now)
            hit = next((s.second for s in table.seconds_of(self.exchange, first, last) if s.rate_limited + s.banned),
                       None)
            if hit is not None and not plateau.limited:
                plateau.first_limited_at = hit
                plateau.verdict = RATE_LIMITED
            self._count(plateau, table, now)
            if plateau.limited:
                if plateau.capacity_rps is None:
                    self._measure_capacity(plateau, table, settled)
                continue
            if plateau.ended_at is not None and last <= settled:
                plateau.verdict = self._unlimited_verdict(plateau)

    def _limit_seconds(self, plateau: Plateau, now: float) -> tuple[int, int]:
        """The seconds whose rate-limit answers count against `plateau`: a fixed window's probe, its window;
        otherwise the seconds from the one it started in (a probe: the one after, which the plateau before may
        still have drained into) to the one before the plateau after it started (so far: the current one)."""
        if self.fixed_window and plateau.role == Role.PROBE:
            return int(plateau.started_at), int(plateau.started_at) + self.window_s - 1
        first = int(plateau.started_at) + (1 if plateau.role == Role.PROBE else 0)
        # A limited plateau ends after its first refusal was seen: the second it ended in is still its own.
        last = int(now) if plateau.ended_at is None else int(plateau.ended_at) - (0 if plateau.limited else 1)
        return first, max(first, last)

    def _rate_seconds(self, plateau: Plateau, now: float) -> tuple[int, int]:
        """The whole seconds its achieved rate is taken over."""
        if self.fixed_window and plateau.role == Role.PROBE:
            return int(plateau.started_at), int(plateau.started_at) + self.window_s - 1
        end = plateau.ended_at if plateau.ended_at is not None else now
        first = int(plateau.started_at) + 1
        return first, max(first, int(end) - 1)

    def _count(self, plateau: Plateau, table: Any, now: float) -> None:
        first, last = self._rate_seconds(plateau, now)
        last = min(last, int(now))
        counts: SecondStats = table.span(first, last, self.exchange)
        plateau.achieved_rps = round(counts.paced_starts / max(1, last - first + 1), 3)
        plateau.requests = counts.requests
        plateau.weight_per_request = round(counts.weight_requested / counts.requests, 3) if counts.requests else None
        plateau.late_starts, plateau.skipped_starts = counts.late_starts, counts.skipped_starts
        answers = table.span(*self._limit_seconds(plateau, now), self.exchange)
        plateau.rate_limited = answers.rate_limited + answers.banned

    def _unlimited_verdict(self, plateau: Plateau) -> str:
        reached = (plateau.achieved_rps or 0) >= REACHED_SHARE * plateau.target_rps and not plateau.skipped_starts
        if not reached:
            return NOT_REACHED
        return CLEAN if plateau.role == Role.PROBE else SHORT

    def _measure_capacity(self, plateau: Plateau, table: Any, settled: int) -> None:
        """The limit's capacity, once the seconds it is measured on have arrived: what a fixed window took before
        it refused, or what a bucket let through per second while it refused, in the units the limit counts (the
        adapter's `limit_cost`); as a request rate, at the units per request of the exchange's mix."""
        hit = plateau.first_limited_at
        assert hit is not None
        if self.fixed_window:
            first, last, seconds_s = hit - hit % self.window_s, hit, self.window_s
            if last > settled:
                return
        else:
            measured = self._measured_through(plateau, table, settled)
            if measured is None:
                return
            first, last, seconds_s = hit + 1, measured, measured - hit
        per_request = self._units_per_request(table)
        if not per_request:
            return
        accepted = sum(self._accepted_units(s, per_request) for s in table.seconds_of(self.exchange, first, last))
        if accepted > 0:
            plateau.capacity_units = round(accepted if self.fixed_window else accepted / seconds_s, 4)
            plateau.capacity_rps = round(accepted / (seconds_s * per_request), 4)

    def _accepted_units(self, second: SecondStats, per_request: float) -> float:
        refused = second.rate_limited + second.banned
        return second.limit_units - refused * (per_request if self.weight_units else 1)

    def _measured_through(self, plateau: Plateau, table: Any, settled: int) -> int | None:
        """Buckets and counters: the last second of a limited plateau's measurement, once it has arrived."""
        hit = plateau.first_limited_at
        assert hit is not None
        per_request = self._units_per_request(table) or 1.0
        accepted = 0.0
        for second in range(hit + 1, hit + MAX_MEASURE_S + 1):
            if second > settled:
                return None
            accepted += sum(self._accepted_units(s, per_request)
                            for s in table.seconds_of(self.exchange, second, second))
            if second - hit >= MEASURE_S and accepted >= MEASURE_UNITS:
                return second
        return hit + MAX_MEASURE_S

    def _exchange_seconds(self, table: Any) -> list[SecondStats]:
        if not self.plateaus:
            return []
        return table.seconds_of(self.exchange, int(self.plateaus[0].started_at), int(time.time()))

    def _units_per_request(self, table: Any) -> float | None:
        """What the exchange's requests drew on its limit, per request, so far."""
        seconds = self._exchange_seconds(table)
        requests = sum(s.requests for s in seconds)
        return sum(s.limit_units for s in seconds) / requests if requests else None

    def _margin(self) -> float | None:
        """Fixed windows: room below the capacity for the request mix. A window's total at a request rate varies
        with the mix, and the units per request that turned the capacity into that rate were themselves measured
        on a sample of it: two standard deviations of both together, from the per-request spread seen so far."""
        if not self.fixed_window:
            return None
        table = metrics_hub(self.environment).table
        capacity = next((p.capacity_rps for p in reversed(self.plateaus) if p.capacity_rps), None)
        per_request = self._units_per_request(table)
        if capacity is None or not per_request:
            return None
        seconds = [s for s in self._exchange_seconds(table) if s.requests]
        sampled = sum(s.requests for s in seconds)
        variance = sum((s.limit_units - s.requests * per_request) ** 2 for s in seconds) / sampled
        relative = variance / per_request**2  # of one request's units
        noise = NOISE_SIGMAS * math.sqrt(relative / (capacity * self.window_s) + relative / sampled)
        return min(MAX_MARGIN, max(self.rules.margin, noise))

    def trials(self) -> list[Trial]:
        """The plateaus the search goes by: every judged one, and a fixed window's probe that has ended with no
        rate-limit answer so far (its last seconds may still show one; then the search is corrected)."""
        trials = []
        for plateau in self.plateaus:
            provisional = plateau.ended_at is not None and not plateau.verdict
            if plateau.verdict in (CLEAN, SHORT, RATE_LIMITED) or provisional:
                trials.append(Trial(Role(plateau.role), plateau.target_rps, plateau.limited, plateau.capacity_rps))
        return trials

    # -- results

    def outcome(self) -> dict[str, Any]:
        b = bracket(self.trials())
        clean = [p for p in self.plateaus if p.verdict == CLEAN and (b.hi is None or p.target_rps < b.hi)]
        best = max(clean, key=lambda p: p.target_rps) if clean else None
        return {
            "limit_kind": "fixed_window" if self.fixed_window else "bucket",
            "window_s": self.window_s if self.fixed_window else None,
            "start_rps": self.rules.start_rps,
            "stop_reason": self.stop_reason or "run time over",
            "highest_clean_rps": best.target_rps if best else None,
            "highest_clean_achieved_rps": best.achieved_rps if best else None,
            "lowest_limited_rps": b.hi,
            "plateaus": [asdict(p) for p in self.plateaus],
        }


class RampPlan(SearchPlan):
    """The ramp: every exchange's limit search; after them, each last plateau is judged once its counts are in."""

    scenario = "ramp"
    columns = COLUMNS

    def __init__(self, environment: Environment, load: Any, duration_s: float, settings: RampSettings) -> None:
        adapters = {c.adapter.name: c.adapter for c in load.classes if getattr(c, "adapter", None) is not None}
        super().__init__(environment, load, duration_s, settings,
                         [ExchangeSearch(environment, a, settings) for a in adapters.values()])

    def on_finishing(self, now: float) -> None:
        for search in self.searches:
            search.judge(now)

    def counts_are_in(self, now: float, finishing_at: float) -> bool:
        settled = all(p.verdict for s in self.searches for p in s.plateaus)
        last_counts = max((s.last_end + s.settle_s + 2 for s in self.searches), default=now)
        return settled or now >= max(finishing_at, last_counts)

    def outcome(self) -> dict[str, Any]:
        now = time.time()
        for search in self.searches:
            search.judge(now)
            for plateau in search.plateaus:
                plateau.verdict = plateau.verdict or INCOMPLETE  # the run ended before its counts all arrived
        return super().outcome()
