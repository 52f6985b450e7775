"""The runner's shaped scenarios as one Locust `LoadTestShape`: `--scenario NAME` picks the plan.

- light, medium, heavy, stress: a constant total request rate (`--target-rps`, default the preset's)
  from `-u` open-model users for `-t` (defaults from loadgen/scenarios.py).
- ramp: the total rate rises from `--ramp-start-rps` by `--ramp-step-rps` every `--ramp-plateau-s`
  until a plateau draws rate-limit answers; the highest clean plateau is the result. With
  `--adaptive` the rate drops to `--ramp-backoff` of a rate-limited plateau and climbs again.
- spike: `-u` users each send one request at the same moment, then a pause drawn from
  `--spike-pause-min-s`..`--spike-pause-max-s`, `--spike-cycles` times.

Load it beside an exchange's locustfile: `locust -f locustfiles/binance.py,locustfiles/scenario_shape.py
--scenario ramp`. Results besides Locust's: `PREFIX_scenario.json` (the plan and its outcome),
`PREFIX_ramp.csv` (one row per plateau) and `PREFIX_bursts.csv` (one row per burst).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import random
import time
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from locust import LoadTestShape, User, events
from locust.env import Environment
from locust.runners import MasterRunner
from locust.util.timespan import parse_timespan

from loadgen import run_end
from loadgen.cluster import cluster_of
from loadgen.metrics import DISTRIBUTED_SETTLE_S, LOCAL_SETTLE_S, SecondStats, metrics_hub
from loadgen.options import OptionError, parse_pacing
from loadgen.runtime import abort_run
from loadgen.scenarios import SCENARIOS, Scenario
from loadgen.spike import bursts_of

logger = logging.getLogger(__name__)

REACHED_SHARE = 0.95  # a plateau whose paced starts stay below this share of its target was not reached
BURST_LEAD_S = 0.5  # bursts are announced this long before they start, so every worker starts together

SCENARIO_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--scenario", "", "Shaped scenario: light|medium|heavy|stress|ramp|spike (with locustfiles/scenario_shape.py)"),
    ("--ramp-start-rps", "10", "ramp: total request rate of the first plateau"),
    ("--ramp-step-rps", "10", "ramp: how much each plateau adds"),
    ("--ramp-plateau-s", "10", "ramp: seconds per plateau (at least the exchange's limit window for a sustained rate)"),
    ("--ramp-max-rps", "2000", "ramp: the highest rate tried"),
    ("--ramp-backoff", "0.5", "adaptive ramp: the rate after a rate-limited plateau, as a share of its rate"),
    ("--spike-cycles", "5", "spike: number of bursts"),
    ("--spike-pause-min-s", "5", "spike: shortest pause after a burst"),
    ("--spike-pause-max-s", "15", "spike: longest pause after a burst"),
    ("--spike-timeout-s", "30", "spike: longest wait for a burst's answers"),
)

Tick = tuple[int, float, list[type[User]]] | None


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any, **_: Any) -> None:
    for flag, default, help_text in SCENARIO_OPTIONS:
        parser.add_argument(flag, type=str, default=default, help=help_text, include_in_web_ui=True)
    parser.add_argument(
        "--adaptive", action="store_true", default=False, include_in_web_ui=True,
        help="ramp: back off on rate limits and probe upward again, for the whole run time",
    )


@dataclass(frozen=True, slots=True)
class CommonOptions:
    """-u, -r and -t as given (None: not given), read at init, before Locust fills in its headless defaults."""

    users: int | None
    spawn_rate: float | None
    run_time_s: float | None


_GIVEN: weakref.WeakKeyDictionary[Environment, CommonOptions] = weakref.WeakKeyDictionary()


@events.init.add_listener
def _remember_common_options(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    run_time = getattr(options, "run_time", None)
    if isinstance(run_time, str):
        run_time = parse_timespan(run_time)
    _GIVEN[environment] = CommonOptions(
        getattr(options, "num_users", None), getattr(options, "spawn_rate", None), run_time
    )


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
                abort_run(environment, str(e))
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
        raise OptionError(f"--scenario: expected one of {shaped}, got {name!r}")
    classes = [c for c in environment.user_classes if getattr(c, "open_model", False)]
    if not classes:
        raise OptionError(f"scenario {name}: no open-model user class among the chosen users (e.g. a REST poller)")
    given = _GIVEN.get(environment, CommonOptions(None, None, None))
    users = given.users or scenario.users
    load = Load(users, given.spawn_rate or min(scenario.spawn_rate, users), classes)
    duration_s = given.run_time_s or scenario.duration_s
    if name == "ramp":
        return RampPlan(environment, load, duration_s, RampSettings.parse(options))
    if name == "spike":
        return SpikePlan(environment, load, SpikeSettings.parse(options))
    target = parse_pacing(options).target_rps or scenario.target_rps
    return ConstantRatePlan(environment, scenario, load, duration_s, target or 0.0)


def _number(options: Any, dest: str, low: float, integer: bool = False) -> float:
    text = str(getattr(options, dest, "") or "").strip()
    flag = "--" + dest.replace("_", "-")
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise OptionError(f"{flag}: expected {'a whole number' if integer else 'a number'}, got {text!r}") from None
    if not math.isfinite(value) or value < low:
        raise OptionError(f"{flag}: must be at least {low:g}, got {text}")
    return value


@dataclass(frozen=True, slots=True)
class Load:
    users: int
    spawn_rate: float
    classes: list[type[User]]

    def tick(self) -> Tick:
        return self.users, self.spawn_rate, self.classes


def _settle_s(environment: Environment) -> int:
    """Seconds until every process's counts for a second have reached this process's metrics table."""
    return (DISTRIBUTED_SETTLE_S if isinstance(environment.runner, MasterRunner) else LOCAL_SETTLE_S) + 1


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


# -- ramp -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RampSettings:
    start_rps: float
    step_rps: float
    plateau_s: float
    max_rps: float
    adaptive: bool
    backoff: float

    @classmethod
    def parse(cls, options: Any) -> RampSettings:
        backoff = _number(options, "ramp_backoff", 0.0)
        if not 0 < backoff < 1:
            raise OptionError(f"--ramp-backoff: must be between 0 and 1, got {backoff:g}")
        return cls(
            start_rps=_number(options, "ramp_start_rps", 0.001),
            step_rps=_number(options, "ramp_step_rps", 0.001),
            plateau_s=_number(options, "ramp_plateau_s", 1.0),
            max_rps=_number(options, "ramp_max_rps", 0.001),
            adaptive=bool(getattr(options, "adaptive", False)),
            backoff=backoff,
        )


@dataclass(slots=True)
class Plateau:
    index: int
    target_rps: float
    started_at: float  # wall-clock seconds
    ended_at: float | None = None
    verdict: str = ""  # "clean", "rate_limited" or "not_reached" once judged
    achieved_rps: float | None = None
    rate_limited: int = 0  # 429 and 418 answers
    late_starts: int = 0
    skipped_starts: int = 0

    @property
    def seconds(self) -> tuple[int, int]:
        """The whole seconds the plateau is judged on: after its first, before its last."""
        end = self.ended_at if self.ended_at is not None else time.time()
        return int(self.started_at) + 1, int(end) - 1


class RampPlan:
    """Raises the total rate in plateaus; judges each plateau on its own seconds of the metrics table."""

    def __init__(self, environment: Environment, load: Load, duration_s: float, settings: RampSettings) -> None:
        self.environment, self.load, self.duration_s, self.settings = environment, load, duration_s, settings
        self.plateaus: list[Plateau] = []
        self.started_at: float | None = None
        self.stop_reason = ""
        self.csv_rows_written = 0

    def tick(self) -> Tick:
        now = time.time()
        if self.started_at is None:
            self.started_at = now
            self._begin(self.settings.start_rps, now)
        self._judge(now)
        current = self.plateaus[-1]
        if not self.stop_reason and now - self.started_at >= self.duration_s:
            self.stop_reason = "run time over"
        if not self.stop_reason and now - current.started_at >= self.settings.plateau_s:
            following = current.target_rps + self.settings.step_rps
            if following > self.settings.max_rps:
                if not self.settings.adaptive:
                    self.stop_reason = f"reached --ramp-max-rps {self.settings.max_rps:g} without rate limits"
                following = current.target_rps
            if not self.stop_reason:
                self._begin(following, now)
        if self.stop_reason:
            return self._finish(now)
        return self.load.tick()

    def _begin(self, rps: float, now: float) -> None:
        if self.plateaus:
            self.plateaus[-1].ended_at = now
        self.plateaus.append(Plateau(len(self.plateaus) + 1, rps, now))
        cluster_of(self.environment).set_target_rps(rps)
        logger.info("ramp: plateau %d at %g req/s", len(self.plateaus), rps)

    def _judge(self, now: float) -> None:
        """Rate limits in any plateau's seconds make it rate_limited at once; an ended plateau whose seconds
        have all arrived is judged clean or not reached."""
        settle_s = _settle_s(self.environment)
        for plateau in self.plateaus:
            if plateau.verdict:
                continue
            first, last = plateau.seconds
            counts, seconds = _steady(self.environment, first, last)
            plateau.rate_limited = counts.rate_limited + counts.banned
            plateau.late_starts, plateau.skipped_starts = counts.late_starts, counts.skipped_starts
            plateau.achieved_rps = counts.paced_starts / seconds
            if plateau.rate_limited:
                plateau.verdict = "rate_limited"
                self._on_rate_limited(plateau, now)
            elif plateau.ended_at is not None and now >= last + 1 + settle_s:
                reached = plateau.achieved_rps >= REACHED_SHARE * plateau.target_rps and not plateau.skipped_starts
                plateau.verdict = "clean" if reached else "not_reached"
                if not reached and not self.stop_reason:
                    self.stop_reason = (
                        f"the load generator could not reach {plateau.target_rps:g} req/s "
                        f"({plateau.achieved_rps:.1f} achieved): add users (-u) or workers"
                    )
        self._write_rows()

    def _on_rate_limited(self, plateau: Plateau, now: float) -> None:
        if self.stop_reason:
            return
        if not self.settings.adaptive:
            self.stop_reason = f"rate limits at {plateau.target_rps:g} req/s"
            return
        current = self.plateaus[-1]
        if current is plateau or current.target_rps >= plateau.target_rps:
            lower = max(self.settings.start_rps, plateau.target_rps * self.settings.backoff)
            logger.info("ramp: rate limits at %g req/s; backing off to %g", plateau.target_rps, lower)
            self._begin(lower, now)

    def _finish(self, now: float) -> Tick:
        current = self.plateaus[-1]
        if current.ended_at is None:
            current.ended_at = now
            cluster_of(self.environment).set_target_rps(0.0)  # no more load while the last counts arrive
        if current.verdict or now >= current.seconds[1] + 1 + _settle_s(self.environment):
            if not current.verdict:
                self._judge(now)
            self._write_rows(final=True)
            return None
        return self.load.tick()  # let the last plateau's counts arrive before it is judged

    def highest_clean(self) -> Plateau | None:
        clean = [p for p in self.plateaus if p.verdict == "clean"]
        return max(clean, key=lambda p: p.target_rps) if clean else None

    def _write_rows(self, final: bool = False) -> None:
        judged = [p for p in self.plateaus if p.verdict or final]
        prefix = csv_prefix(self.environment)
        if prefix is None or (not final and len(judged) == self.csv_rows_written):
            return
        path = Path(f"{prefix}_ramp.csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(asdict(self.plateaus[0])))
            writer.writeheader()
            writer.writerows(asdict(p) for p in judged)
        self.csv_rows_written = len(judged)

    def outcome(self) -> dict[str, Any]:
        for plateau in self.plateaus:
            plateau.verdict = plateau.verdict or "incomplete"  # the run ended before its counts all arrived
        self._write_rows(final=True)
        best = self.highest_clean()
        if best is not None:
            logger.info("ramp: highest clean plateau %g req/s (%s)", best.target_rps, self.stop_reason)
        return {
            "scenario": "ramp", "users": self.load.users, "settings": asdict(self.settings),
            "stop_reason": self.stop_reason or "run time over",
            "highest_clean_rps": best.target_rps if best is not None else None,
            "plateaus": [asdict(p) for p in self.plateaus],
        }


# -- spike ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpikeSettings:
    cycles: int
    pause_min_s: float
    pause_max_s: float
    timeout_s: float

    @classmethod
    def parse(cls, options: Any) -> SpikeSettings:
        low, high = _number(options, "spike_pause_min_s", 0.0), _number(options, "spike_pause_max_s", 0.0)
        if high < low:
            raise OptionError(f"--spike-pause-max-s: must be at least --spike-pause-min-s ({low:g}), got {high:g}")
        return cls(int(_number(options, "spike_cycles", 1, integer=True)), low, high,
                   _number(options, "spike_timeout_s", 0.1))


BURST_COLUMNS = ("cycle", "started_at", "size", "sent", "succeeded", "rate_limited", "failed", "duration_ms",
                 "pause_after_s")


@dataclass(slots=True)
class SpikePlan:
    """Spawns the users, holds their requests (target rate 0), then lets one request per user go at once."""

    environment: Environment
    load: Load
    settings: SpikeSettings
    rng: random.Random = field(default_factory=random.Random)
    cycle: int = 0
    fired_at: float = 0.0
    next_at: float | None = None  # when the next burst fires; None until every user is up
    rows: list[dict[str, Any]] = field(default_factory=list)

    def tick(self) -> Tick:
        now = time.time()
        bursts = bursts_of(self.environment)
        if self.cycle == 0 and self.next_at is None:
            cluster_of(self.environment).set_target_rps(0.0)  # paced users wait for bursts
            if self.environment.runner.user_count >= self.load.users:
                self.next_at = now + 1.0
        if self.cycle and not self._recorded(self.cycle):
            result = bursts.result(self.cycle)
            if result is None and now - self.fired_at < self.settings.timeout_s + 5.0:
                return self.load.tick()
            self._record(result or bursts.so_far(self.cycle), now)
        if self.cycle >= self.settings.cycles:
            return None
        if self.next_at is not None and now >= self.next_at:
            self.cycle += 1
            self.fired_at = now + BURST_LEAD_S
            bursts.fire(self.cycle, self.fired_at, self.settings.timeout_s)
            self.next_at = None
        return self.load.tick()

    def _recorded(self, cycle: int) -> bool:
        return bool(self.rows) and self.rows[-1]["cycle"] == cycle

    def _record(self, tally: Any, now: float) -> None:
        pause = self.rng.uniform(self.settings.pause_min_s, self.settings.pause_max_s)
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
        return {"scenario": "spike", "users": self.load.users, "settings": asdict(self.settings), "bursts": self.rows}


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
