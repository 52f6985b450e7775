"""The runner's shaped scenarios as one Locust `LoadTestShape`: `--scenario NAME` picks the plan.

- light, medium, heavy, stress: a constant total request rate (`--target-rps`, default the preset's)
  from `-u` open-model users for `-t` (defaults from loadgen/pacing/scenarios.py).
- ramp: a search per exchange for the highest request rate its limit sustains (loadgen/pacing/ramp.py), within
  the run time `-t`.
- capacity: per exchange, plateaus of request rate growing until the exchange stops keeping up
  (loadgen/pacing/capacity_search.py), within the run time `-t`.
- spike: `-u` users each send one request at the same moment, then a pause drawn from
  `--spike-pause-min-s`..`--spike-pause-max-s`, `--spike-cycles` times, within the run time `-t` when one
  is given (pauses are shortened to fit; a plan that cannot fit is refused at start with exit code 2).

Load it beside an exchange's locustfile: `locust -f locustfiles/binance.py,locustfiles/scenario_shape.py
--scenario ramp`. Results besides Locust's: `PREFIX_scenario.json` (the plan and its outcome),
`PREFIX_ramp.csv` and `PREFIX_capacity.csv` (one row per plateau) and `PREFIX_bursts.csv` (one row per burst).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from locust import LoadTestShape, User, events
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.util.timespan import parse_timespan

from loadgen import state
from loadgen.ending import run_end
from loadgen.gates.locust_hooks import EXIT_USAGE
from loadgen.metrics import SecondStats, metrics_hub
from loadgen.options import OptionError, number_option, parse_pacing
from loadgen.pacing.capacity_search import CapacityPlan, CapacitySettings
from loadgen.pacing.cluster_budget import cluster_of
from loadgen.pacing.ramp import RampPlan, RampSettings
from loadgen.pacing.scenarios import (
    BURST_ANSWER_S,
    BURST_LEAD_S,
    SCENARIO_OPTIONS,
    SCENARIOS,
    SPIKE_SETTLE_S,
    Scenario,
    spike_fit_error,
)
from loadgen.pacing.spike import bursts_of
from loadgen.runtime import end_run

logger = logging.getLogger(__name__)

Tick = tuple[int, float, list[type[User]]] | None


@events.init_command_line_parser.add_listener
def add_arguments(parser: Any, **_: Any) -> None:
    for flag, default, help_text in SCENARIO_OPTIONS:
        if flag == "--scenario":  # a dropdown in the web UI; the tuning options are for the command line only
            parser.add_argument(flag, type=str, choices=list(SCENARIOS), default=default, help=help_text,
                                include_in_web_ui=True)
        else:
            parser.add_argument(flag, type=str, default=default, help=help_text, include_in_web_ui=False)


@dataclass(frozen=True, slots=True)
class CommonOptions:
    """-u, -r and -t as given (None: not given), read at init, before Locust fills in its headless defaults."""

    users: int | None
    spawn_rate: float | None
    run_time_s: float | None


@events.init.add_listener
def _remember_common_options(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    run_time = getattr(options, "run_time", None)
    if isinstance(run_time, str):
        run_time = parse_timespan(run_time)
    given = state.of(environment).set(
        CommonOptions(getattr(options, "num_users", None), getattr(options, "spawn_rate", None), run_time)
    )
    if getattr(options, "headless", False) and not isinstance(environment.runner, WorkerRunner):
        _refuse_a_spike_that_cannot_fit(options, given)


def _refuse_a_spike_that_cannot_fit(options: Any, given: CommonOptions) -> None:
    """A spike whose bursts cannot fit into the run time -t, even with the shortest pauses: one line, exit 2,
    before any load (the web UI instead fits what it can: its run time may change per test)."""
    scenario = SCENARIOS.get(str(getattr(options, "scenario", "") or "").strip())
    if scenario is None or scenario.name != "spike" or given.run_time_s is None:
        return
    try:
        settings = SpikeSettings.parse(options)
    except OptionError:
        return  # the plan says what is wrong with them, at its start
    users = given.users or scenario.users
    error = spike_fit_error(users, given.spawn_rate or min(scenario.spawn_rate, users), settings.cycles,
                            settings.pause_min_s, given.run_time_s, "-t/--run-time")
    if error:
        logger.error("%s", error)
        sys.exit(EXIT_USAGE)


class Plan(Protocol):
    def tick(self) -> Tick: ...

    def outcome(self) -> dict[str, Any]: ...


class ScenarioShape(LoadTestShape):
    """Runs the plan of `--scenario`; its results are written when Locust quits."""

    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self.plan: Plan | None = None

    def tick(self) -> Tick:
        environment = self.runner.environment
        if self.plan is None:
            try:
                self.plan = build_plan(environment)
            except OptionError as e:
                end_run(environment, str(e), failed=True)
                return None
            events_ = environment.events
            events_.quitting.add_listener(lambda **_: self.write_outcome(environment))
        return self.plan.tick()

    def write_outcome(self, environment: Environment) -> None:
        run_end.settle(environment)
        write_json(environment, "scenario", self.plan_outcome())

    def plan_outcome(self) -> dict[str, Any]:
        return self.plan.outcome() if self.plan is not None else {}


# -- building a plan from the options -------------------------------------------------------------


def build_plan(environment: Environment) -> Plan:
    options = environment.parsed_options
    name = str(getattr(options, "scenario", "") or "").strip()
    scenario = SCENARIOS.get(name)
    if scenario is None or not scenario.shaped:
        shaped = ", ".join(s.name for s in SCENARIOS.values() if s.shaped)
        raise OptionError(f"--scenario: the load shape runs one of {shaped}, got {name!r} (the default scenario "
                          "is Locust's own -u/-r: pick the Default shape, or leave out locustfiles/scenario_shape.py)")
    classes = [c for c in environment.user_classes if getattr(c, "open_model", False)]
    if not classes:
        raise OptionError(f"scenario {name}: no open-model user class among the chosen users (e.g. a REST poller)")
    given = state.of(environment).get(CommonOptions) or CommonOptions(None, None, None)
    users = given.users or scenario.users
    load = Load(users, given.spawn_rate or min(scenario.spawn_rate, users), classes)
    duration_s = given.run_time_s or scenario.duration_s
    if name == "ramp":
        return RampPlan(environment, load, duration_s, RampSettings.parse(options))
    if name == "capacity":
        return CapacityPlan(environment, load, duration_s, CapacitySettings.parse(options))
    if name == "spike":
        return SpikePlan(environment, load, SpikeSettings.parse(options), given.run_time_s)
    target = parse_pacing(options).target_rps or scenario.target_rps
    return ConstantRatePlan(environment, scenario, load, duration_s, target or 0.0)


@dataclass(frozen=True, slots=True)
class Load:
    users: int
    spawn_rate: float
    classes: list[type[User]]

    def tick(self) -> Tick:
        return self.users, self.spawn_rate, self.classes


def _steady(environment: Environment, first_second: int, last_second: int) -> tuple[SecondStats, int]:
    """Counts over whole seconds first..last (at least one), and how many seconds that is."""
    last_second = max(first_second, last_second)
    return metrics_hub(environment).table.span(first_second, last_second), last_second - first_second + 1


# -- light, medium, heavy, stress ---------------------------------------------------------------


class ConstantRatePlan:
    def __init__(self, environment: Environment, scenario: Scenario, load: Load, duration_s: float, rps: float):
        self.environment, self.scenario, self.load, self.duration_s, self.rps = (
            environment, scenario, load, duration_s, rps
        )
        self.started_at: float | None = None
        self.ended_at: float | None = None

    def tick(self) -> Tick:
        now = time.time()
        if self.started_at is None:
            self.started_at = now
            cluster_of(self.environment).set_target_rps(self.rps)
            logger.info("scenario %s: %d users, %g req/s in total", self.scenario.name, self.load.users, self.rps)
        if now - self.started_at >= self.duration_s:
            self.ended_at = now
            return None
        return self.load.tick()

    def outcome(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scenario": self.scenario.name, "users": self.load.users, "target_rps": self.rps,
            "duration_s": self.duration_s,
        }
        if self.started_at is not None:  # the steady part: whole seconds after the first two, before the last
            first, last = int(self.started_at) + 2, int(self.ended_at or time.time()) - 1
            counts, seconds = _steady(self.environment, first, last)
            out["steady"] = {
                "first_second": first, "seconds": seconds, "achieved_rps": counts.paced_starts / seconds,
                "late_starts": counts.late_starts, "skipped_starts": counts.skipped_starts,
            }
        return out


# -- spike ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpikeSettings:
    cycles: int
    pause_min_s: float
    pause_max_s: float
    timeout_s: float

    @classmethod
    def parse(cls, options: Any) -> SpikeSettings:
        low, high = number_option(options, "spike_pause_min_s", 0.0), number_option(options, "spike_pause_max_s", 0.0)
        if high < low:
            raise OptionError(f"--spike-pause-max-s: must be at least --spike-pause-min-s ({low:g}), got {high:g}")
        return cls(int(number_option(options, "spike_cycles", 1, integer=True)), low, high,
                   number_option(options, "spike_timeout_s", 0.1))


BURST_COLUMNS = ("cycle", "started_at", "size", "sent", "succeeded", "rate_limited", "failed", "duration_ms",
                 "pause_after_s")


@dataclass(slots=True)
class SpikePlan:
    """Spawns the users, holds their requests (target rate 0), then lets one request per user go at once.

    With a run time (`run_time_s`) the bursts fit into it: each pause is drawn no longer than leaves room
    for the bursts still to come (each given BURST_LEAD_S + BURST_ANSWER_S, and the shortest pause between
    them), and the plan ends when the run time does, whatever it has not done yet (said in the outcome)."""

    environment: Environment
    load: Load
    settings: SpikeSettings
    run_time_s: float | None = None
    rng: random.Random = field(default_factory=random.Random)
    cycle: int = 0
    fired_at: float = 0.0
    next_at: float | None = None  # when the next burst fires; None until every user is up
    rows: list[dict[str, Any]] = field(default_factory=list)
    started_at: float | None = None
    stop_reason: str = ""

    @property
    def deadline(self) -> float | None:
        if self.run_time_s is None or self.started_at is None:
            return None
        return self.started_at + self.run_time_s

    def tick(self) -> Tick:
        now = time.time()
        if self.started_at is None:
            self.started_at = now
        deadline = self.deadline if self.deadline is not None else math.inf
        bursts = bursts_of(self.environment)
        if self.cycle == 0 and self.next_at is None:
            cluster_of(self.environment).set_target_rps(0.0)  # paced users wait for bursts
            if self.environment.runner.user_count >= self.load.users:
                self.next_at = now + SPIKE_SETTLE_S
        if self.cycle and not self._recorded(self.cycle):
            result = bursts.result(self.cycle)
            if result is None and now < min(self.fired_at + self.settings.timeout_s + 5.0, deadline):
                return self.load.tick()
            self._record(result or bursts.so_far(self.cycle), now)
        if self.cycle >= self.settings.cycles:
            return None
        if now >= deadline:
            self.stop_reason = f"run time over after {self.cycle} of {self.settings.cycles} bursts"
            logger.warning("spike: %s", self.stop_reason)
            return None
        if self.next_at is not None and now >= self.next_at:
            self.cycle += 1
            self.fired_at = now + BURST_LEAD_S
            timeout_s = min(self.settings.timeout_s, max(0.1, deadline - self.fired_at))
            bursts.fire(self.cycle, self.fired_at, timeout_s)
            self.next_at = None
        return self.load.tick()

    def _recorded(self, cycle: int) -> bool:
        return bool(self.rows) and self.rows[-1]["cycle"] == cycle

    def _pause(self, now: float) -> float:
        """A random pause, no longer than leaves room for the bursts still to come before the deadline."""
        low, high = self.settings.pause_min_s, self.settings.pause_max_s
        deadline = self.deadline
        if deadline is not None:
            to_come = self.settings.cycles - self.cycle
            room = deadline - now - to_come * (BURST_LEAD_S + BURST_ANSWER_S) - (to_come - 1) * low
            high = max(low, min(high, room))
        return self.rng.uniform(low, high)

    def _record(self, tally: Any, now: float) -> None:
        pause = self._pause(now)
        duration = tally.duration_ms
        row = {
            "cycle": tally.cycle, "started_at": round(self.fired_at, 3), "size": tally.size, "sent": tally.sent,
            "succeeded": tally.succeeded, "rate_limited": tally.rate_limited, "failed": tally.failed,
            "duration_ms": None if duration is None else round(duration, 1),
            "pause_after_s": round(pause, 2) if tally.cycle < self.settings.cycles else None,
        }
        self.rows.append(row)
        logger.info("spike: burst %(cycle)d: %(sent)d sent, %(succeeded)d ok, %(rate_limited)d rate-limited, "
                    "%(failed)d failed, %(duration_ms)s ms", row)
        self.next_at = now + pause
        prefix = csv_prefix(self.environment)
        if prefix is not None:
            path = Path(f"{prefix}_bursts.csv")
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=BURST_COLUMNS)
                writer.writeheader()
                writer.writerows(self.rows)

    def outcome(self) -> dict[str, Any]:
        return {
            "scenario": "spike", "users": self.load.users, "settings": asdict(self.settings),
            "run_time_s": self.run_time_s, "stop_reason": self.stop_reason or f"{len(self.rows)} bursts done",
            "bursts": self.rows,
        }


# -- files ----------------------------------------------------------------------------------------


def csv_prefix(environment: Environment) -> str | None:
    options = environment.parsed_options
    return getattr(options, "csv_prefix", None) if options is not None else None


def write_json(environment: Environment, suffix: str, data: dict[str, Any]) -> None:
    prefix = csv_prefix(environment)
    if prefix is None or not data:
        return
    path = Path(f"{prefix}_{suffix}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
