"""The limit search of the ramp scenario as pure logic: given the plateaus judged so far, the rate to try next.

The search keeps a bracket: the highest rate held clean for a whole probe (`lo`) and the lowest rate that
drew a rate-limit answer (`hi`). It climbs (x2) until something is limited, goes down when it is, then
splits the bracket until `hi <= lo * (1 + tolerance)`. Where a limited plateau measured the limit's
capacity (what it let through while throttled, or what a fixed window took before it refused), the split
is made just below and just above that capacity instead of in the middle, so that two probes usually
close the bracket.

Roles of a plateau:
- climb: a short step up, judged only for rate limits (too short to call a rate sustainable);
- probe: long enough to call its rate sustainable when no rate-limit answer came;
- drain: for buckets and counters, a short burst above the bracket until the first rate-limit answer,
  so that the next probe starts from an empty bucket and its burst cannot hide a rate above the limit.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

TOLERANCE = 0.05  # the bracket is closed when its two ends are within this share of each other
CLIMB_FACTOR = 2.0
DESCEND_FACTOR = 0.5  # going down without a measured capacity to aim at
MIN_RPS = 0.01  # below this there is nothing left to probe
_EPS = 1e-6  # relative: rates that differ by less are the same rate


class Role(enum.StrEnum):
    CLIMB = "climb"
    PROBE = "probe"
    DRAIN = "drain"


@dataclass(frozen=True, slots=True)
class Trial:
    """A judged plateau: its role, total rate (req/s), whether it drew rate-limit answers, and the limit's
    capacity in req/s it measured (limited plateaus only, when measurable)."""

    role: Role
    rate: float
    limited: bool
    capacity: float | None = None


@dataclass(frozen=True, slots=True)
class Rules:
    start_rps: float
    max_rps: float
    drains: bool  # buckets and counters: a probe above a clean plateau first drains the limit
    tolerance: float = TOLERANCE

    @property
    def margin(self) -> float:
        """How far below and above a measured capacity the two probes go: together within the tolerance."""
        return self.tolerance / (2.0 + self.tolerance)


@dataclass(frozen=True, slots=True)
class Step:
    role: Role
    rate: float


@dataclass(frozen=True, slots=True)
class Done:
    reason: str


@dataclass(frozen=True, slots=True)
class Bracket:
    lo: float | None  # the highest clean probe below `hi`
    hi: float | None  # the lowest rate-limited plateau

    def closed(self, tolerance: float) -> bool:
        return self.lo is not None and self.hi is not None and self.hi <= self.lo * (1 + tolerance) * (1 + _EPS)


def bracket(trials: Sequence[Trial]) -> Bracket:
    """Clean probes at or above a limited rate are contradicted (a later, drained or whole-window judgement
    found less) and do not count."""
    limited = [t.rate for t in trials if t.limited]
    hi = min(limited) if limited else None
    clean = [t.rate for t in trials if t.role is Role.PROBE and not t.limited and (hi is None or t.rate < hi)]
    return Bracket(max(clean) if clean else None, hi)


def capacity_hint(trials: Sequence[Trial], b: Bracket) -> float | None:
    """The latest measured capacity, when it is above the clean side of the bracket (a capacity at or below a rate
    held clean is a measurement to distrust)."""
    for trial in reversed(trials):
        if trial.limited and trial.capacity is not None:
            c = trial.capacity
            return c if b.lo is None or c > b.lo * (1 + _EPS) else None
    return None


def next_step(trials: Sequence[Trial], rules: Rules, margin: float | None = None) -> Step | Done:
    """The next plateau, or why the search is over. `margin` overrides `rules.margin` (a fixed window whose
    request mix varies a lot needs more room below its capacity)."""
    if not trials:
        return Step(Role.CLIMB, min(rules.start_rps, rules.max_rps))
    b = bracket(trials)
    if b.hi is None:
        top = max(t.rate for t in trials)
        if top >= rules.max_rps * (1 - _EPS):
            return Done(f"no rate limit up to {rules.max_rps:g} req/s (--ramp-max-rps)")
        return Step(Role.CLIMB, min(top * CLIMB_FACTOR, rules.max_rps))
    if b.closed(rules.tolerance):
        return Done(f"limit found between {b.lo:.4g} (clean) and {b.hi:.4g} req/s (rate-limited)")
    rate = probe_rate(b, capacity_hint(trials, b), rules.margin if margin is None else margin, rules.tolerance / 5)
    if rate < MIN_RPS:
        return Done(f"rate-limited even at {b.hi:.4g} req/s")
    last = trials[-1]
    if rules.drains and not last.limited and last.role is not Role.DRAIN:
        return Step(Role.DRAIN, drain_rate(trials, b))
    return Step(Role.PROBE, rate)


def probe_rate(b: Bracket, capacity: float | None, margin: float, min_step: float = 0.0) -> float:
    """Just below a measured capacity, then just above it; else the middle of the bracket (or half of the
    lowest limited rate while nothing is clean). A capacity above the lowest limited rate is taken as that
    rate: the limited plateau is the firmer evidence. A probe within `min_step` (relative) of an end of the
    bracket would learn next to nothing and is not tried."""
    assert b.hi is not None
    lo, hi = b.lo, b.hi
    if capacity is not None:
        aim = min(capacity, hi)
        below, above = aim * (1 - margin), aim * (1 + margin)
        if (lo is None or below > lo * (1 + min_step + _EPS)) and below < hi * (1 - _EPS):
            return below
        if above < hi * (1 - min_step - _EPS) and (lo is None or above > lo * (1 + _EPS)):
            return above
    if lo is None:
        return hi * DESCEND_FACTOR
    return (lo + hi) / 2


def drain_rate(trials: Sequence[Trial], b: Bracket) -> float:
    """Twice the lowest limited rate, but no more than the highest rate already sent (so it is reachable)."""
    assert b.hi is not None
    top = max(t.rate for t in trials)
    return max(b.hi, min(2 * b.hi, top))
