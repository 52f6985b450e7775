"""The capacity scenario: per exchange, plateaus of request rate, each `--capacity-step` times the last, until the
exchange stops keeping up; then the run ends.

Each exchange's open-model users are paced by a target rate of their own (as in the ramp), so every exchange of a
run is searched at once. A plateau is judged on that exchange's settled seconds of the metrics table, its first
second left out (the rate changed in it):

- `rate_limited`: a rate-limit or ban answer came: a limit, not the capacity, is the first bottleneck, and that
  exchange's search ends;
- `saturated`: its successful answers per second stayed below REACHED_SHARE of the target rate: answers came too
  slowly (every user was waiting on one, so starts were skipped) or the exchange refused them (5xx, timeouts);
- `clean`: otherwise.

A saturated plateau is held until it has MEASURE_ANSWERS successful answers (at most MAX_PLATEAU_S), so that what it
served per second, the capacity's measure, is known within a few percent. The search ends when two saturated
plateaus in a row served the same rate (within SAME_SHARE) while the target grew: more load, no more throughput.
The capacity is what those two served per second, over their seconds together.

Results: `PREFIX_capacity.csv` (one row per plateau, every exchange) and `PREFIX_scenario.json`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from locust.env import Environment

from loadgen.metrics import metrics_hub
from loadgen.options import OptionError, number_option
from loadgen.pacing.cluster_budget import cluster_of
from loadgen.pacing.search_plan import SearchPlan, settle_s

logger = logging.getLogger(__name__)

REACHED_SHARE = 0.95  # a plateau that served less than this share of its target rate is saturated
MEASURE_ANSWERS = 600  # a saturated plateau is held until it served this many answers ...
MAX_PLATEAU_S = 30  # ... or this many seconds
SAME_SHARE = 0.10  # two saturated plateaus whose served rates differ by less than this share served the same

CLEAN, SATURATED, RATE_LIMITED = "clean", "saturated", "rate_limited"
COLUMNS = ("exchange", "index", "target_rps", "started_at", "ended_at", "first_second", "last_second", "verdict",
           "requests", "ok_answers", "served_rps", "overload_answers", "rate_limited", "late_starts",
           "skipped_starts")


@dataclass(frozen=True, slots=True)
class CapacitySettings:
    start_rps: float
    max_rps: float
    step: float
    plateau_s: int

    @classmethod
    def parse(cls, options: Any) -> CapacitySettings:
        start = number_option(options, "capacity_start_rps", 0.0, above=True)
        settings = cls(start, number_option(options, "capacity_max_rps", 0.0, above=True),
                       number_option(options, "capacity_step", 1.0, above=True),
                       int(number_option(options, "capacity_plateau_s", 1, integer=True)))
        if settings.max_rps < start:
            raise OptionError(f"--capacity-max-rps: must be at least --capacity-start-rps ({start:g}), "
                              f"got {settings.max_rps:g}")
        return settings


@dataclass(slots=True)
class Plateau:
    exchange: str
    index: int
    target_rps: float
    started_at: float  # wall-clock seconds
    ended_at: float | None = None
    first_second: int = 0  # the whole seconds it was judged on
    last_second: int = 0
    verdict: str = ""
    requests: int = 0
    ok_answers: int = 0
    served_rps: float | None = None  # successful answers per second
    overload_answers: int = 0  # 5xx and timeouts
    rate_limited: int = 0  # rate-limit and ban answers
    late_starts: int = 0
    skipped_starts: int = 0

    @property
    def seconds(self) -> int:
        return self.last_second - self.first_second + 1


class CapacitySearch:
    """One exchange's plateaus, judged on its seconds, and the rate its paced users get."""

    def __init__(self, environment: Environment, exchange: str, settings: CapacitySettings) -> None:
        self.environment, self.exchange, self.settings = environment, exchange, settings
        self.settle_s = settle_s(environment)
        self.plateaus: list[Plateau] = []
        self.stop_reason = ""
        self.capacity_rps: float | None = None  # once two saturated plateaus served the same

    @property
    def done(self) -> bool:
        return bool(self.stop_reason)

    def tick(self, now: float, deadline: float) -> None:
        if self.done:
            return
        current = self.plateaus[-1] if self.plateaus else None
        if current is None:
            self._begin(self.settings.start_rps, now, deadline)
            return
        current.first_second = int(current.started_at) + 1
        current.last_second = int(now) - 1 - self.settle_s
        if current.last_second < current.first_second:
            return
        self._count(current)
        if current.rate_limited:
            self._end(current, RATE_LIMITED, now)
            self.stop(f"a rate limit answered at {current.target_rps:.4g} req/s, before the exchange's capacity "
                      "was reached: the rate limit is the first bottleneck", now)
            return
        if current.seconds < self.settings.plateau_s:
            return
        served = current.served_rps or 0.0
        if served >= REACHED_SHARE * current.target_rps:
            self._end(current, CLEAN, now)
            self._climb(current, now, deadline)
            return
        if current.ok_answers < MEASURE_ANSWERS and current.seconds < MAX_PLATEAU_S:
            return  # saturated: held until what it served is measured well
        self._end(current, SATURATED, now)
        previous = self.plateaus[-2] if len(self.plateaus) > 1 else None
        if previous is not None and previous.verdict == SATURATED and served < (1 + SAME_SHARE) * (
                previous.served_rps or 0.0):
            self.capacity_rps = capacity = self._served_by(self.plateaus[-2:])
            self.stop(f"served ≈{capacity:.4g} req/s at both {previous.target_rps:.4g} and "
                      f"{current.target_rps:.4g} req/s offered: the capacity was reached", now)
            return
        self._climb(current, now, deadline)

    def _climb(self, current: Plateau, now: float, deadline: float) -> None:
        if current.target_rps >= self.settings.max_rps:
            self.stop(f"reached --capacity-max-rps ({self.settings.max_rps:g} req/s) without "
                      f"{'a second saturated plateau' if current.verdict == SATURATED else 'saturating'}", now)
            return
        self._begin(min(current.target_rps * self.settings.step, self.settings.max_rps), now, deadline)

    def _begin(self, rate: float, now: float, deadline: float) -> None:
        if now + self.settings.plateau_s + self.settle_s + 2 > deadline:
            self.stop(f"the time budget ended before a plateau at {rate:.4g} req/s could be judged", now)
            return
        plateau = Plateau(self.exchange, len(self.plateaus) + 1, round(rate, 4), now)
        self.plateaus.append(plateau)
        logger.info("capacity: %s plateau %d at %.4g req/s", self.exchange, plateau.index, rate)
        cluster_of(self.environment).set_exchange_rps(self.exchange, rate)

    def _end(self, plateau: Plateau, verdict: str, now: float) -> None:
        plateau.verdict, plateau.ended_at = verdict, now

    def _count(self, plateau: Plateau) -> None:
        counts = metrics_hub(self.environment).table.span(plateau.first_second, plateau.last_second, self.exchange)
        plateau.requests, plateau.ok_answers = counts.requests, counts.ok_answers
        plateau.served_rps = round(counts.ok_answers / plateau.seconds, 3)
        plateau.overload_answers = counts.overload_answers
        plateau.rate_limited = counts.rate_limited + counts.banned
        plateau.late_starts, plateau.skipped_starts = counts.late_starts, counts.skipped_starts

    def stop(self, reason: str, now: float) -> None:
        self.stop_reason = reason
        current = self.plateaus[-1] if self.plateaus else None
        if current is not None and current.ended_at is None:
            current.ended_at = now  # judged on what had arrived; no verdict
        cluster_of(self.environment).set_exchange_rps(self.exchange, 0.0)
        logger.info("capacity: %s: %s", self.exchange, reason)

    @staticmethod
    def _served_by(plateaus: list[Plateau]) -> float:
        """What `plateaus` served per second, over their seconds together."""
        return round(sum(p.ok_answers for p in plateaus) / sum(p.seconds for p in plateaus), 2)

    def outcome(self) -> dict[str, Any]:
        clean = [p for p in self.plateaus if p.verdict == CLEAN]
        return {
            "stop_reason": self.stop_reason or "run time over",
            "start_rps": self.settings.start_rps,
            "capacity_rps": self.capacity_rps,
            "highest_clean_rps": max((p.target_rps for p in clean), default=None),
            "first_saturated_rps": next((p.target_rps for p in self.plateaus if p.verdict == SATURATED), None),
            "rate_limited_at_rps": next((p.target_rps for p in self.plateaus if p.verdict == RATE_LIMITED), None),
            "plateaus": [asdict(p) for p in self.plateaus],
        }


class CapacityPlan(SearchPlan):
    """The capacity search: every exchange's plateaus; after them, one settle time for the last counts."""

    scenario = "capacity"
    columns = COLUMNS

    def __init__(self, environment: Environment, load: Any, duration_s: float, settings: CapacitySettings) -> None:
        exchanges = dict.fromkeys(c.adapter.name for c in load.classes if getattr(c, "adapter", None) is not None)
        super().__init__(environment, load, duration_s, settings,
                         [CapacitySearch(environment, name, settings) for name in exchanges])

    def counts_are_in(self, now: float, finishing_at: float) -> bool:
        return now >= finishing_at + settle_s(self.environment) + 1
