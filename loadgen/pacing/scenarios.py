"""Named run presets: how many users, how fast they arrive, for how long, and at what total request rate.

Scenarios with `shaped` run as the `ScenarioShape` load shape (loadgen/pacing/shapes.py), which reads its
defaults and options from here; `default` is a plain Locust run of every user class. Nothing here
imports Locust, so the runner can check a plan before it starts anything.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

# The shape's Locust options: (flag, default, help). Defaults are text, as typed on a command line.
SCENARIO_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--scenario", "default", "A preset by name: default is Locust's own users and spawn rate, the others run as "
     "the load shape of locustfiles/scenario_shape.py"),
    ("--ramp-start-rps", "", "ramp: each exchange's first plateau in req/s (default: its published limit, "
     "one unit of weight taken as one request)"),
    ("--ramp-max-rps", "2000", "ramp: the highest rate tried per exchange"),
    ("--ramp-plateau-s", "5", "ramp: the shortest probe plateau, buckets and counters (fixed windows probe whole "
     "windows)"),
    ("--capacity-start-rps", "20", "capacity: each exchange's first plateau in req/s"),
    ("--capacity-max-rps", "5000", "capacity: the highest rate tried per exchange"),
    ("--capacity-step", "1.5", "capacity: each plateau's rate is the last one's times this"),
    ("--capacity-plateau-s", "5", "capacity: the shortest plateau in seconds (saturated ones are held longer)"),
    ("--spike-cycles", "5", "spike: number of bursts"),
    ("--spike-pause-min-s", "5", "spike: shortest pause after a burst"),
    ("--spike-pause-max-s", "15", "spike: longest pause after a burst"),
    ("--spike-timeout-s", "30", "spike: longest wait for a burst's answers"),
)
SHAPE_CLASS_NAME = "ScenarioShape"  # the shape class of loadgen/pacing/shapes.py, as Locust's class picker names it
BURST_LEAD_S = 0.5  # bursts are announced this long before they start, so every worker starts together
BURST_ANSWER_S = 1.0  # the time each burst is given for its answers when bursts are fitted into a run time
SPIKE_SETTLE_S = 1.0  # after every user is up, the first burst is announced this much later


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    users: int
    spawn_rate: float  # users started per second
    duration_s: int  # shaped scenarios that end by themselves (ramp, capacity, spike): the longest they may take
    description: str
    target_rps: float | None = None  # total request rate of the open-model users; None: closed model
    shaped: bool = False
    # Searches each exchange's limit: its users honour a server's Retry-After by default (--backoff auto),
    # because a probe that gets banned learns nothing for minutes.
    searches_limit: bool = False


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "default",
            users=12,
            spawn_rate=4,
            duration_s=60,
            description="all three user kinds (REST pollers, burst traders, WebSocket subscribers) at a moderate pace",
        ),
        Scenario("light", 10, 10, 60, "REST pollers at 5 req/s in total (open model)", 5, shaped=True),
        Scenario("medium", 50, 50, 120, "REST pollers at 50 req/s in total (open model)", 50, shaped=True),
        Scenario("heavy", 100, 100, 300, "REST pollers at 200 req/s in total (open model)", 200, shaped=True),
        Scenario("stress", 500, 500, 60, "REST pollers at 500 req/s in total (open model)", 500, shaped=True),
        Scenario(
            "ramp", 100, 100, 600,
            "find the limit: a search per exchange, in plateaus of request rate, for the highest rate its limit "
            "sustains",
            shaped=True, searches_limit=True,
        ),
        Scenario(
            "capacity", 200, 200, 600,
            "find the capacity: per exchange, plateaus of request rate growing by 1.5x until the exchange stops "
            "keeping up (answers slow down or are refused), ended once more load brings no more throughput",
            shaped=True,
        ),
        Scenario(
            "spike", 100, 100, 600,
            "bursts: every user sends one request at once, then a random 5-15 s pause, 5 times",
            shaped=True,
        ),
    )
}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})") from None


def spike_min_s(users: int, spawn_rate: float, cycles: int, pause_min_s: float) -> float:
    """The shortest a spike plan can take: spawning, then each burst with its lead and answer time, and the
    shortest pause between bursts."""
    return (users / spawn_rate + SPIKE_SETTLE_S + cycles * (BURST_LEAD_S + BURST_ANSWER_S)
            + (cycles - 1) * pause_min_s)


def spike_fit_error(users: int, spawn_rate: float, cycles: int, pause_min_s: float, run_time_s: float,
                    flag: str) -> str | None:
    """One line saying why a spike plan cannot fit into `run_time_s` (given with `flag`), or None when it can."""
    needed = spike_min_s(users, spawn_rate, cycles, pause_min_s)
    if needed <= run_time_s:
        return None
    return (f"spike: {cycles} bursts of {users} users with pauses of at least {pause_min_s:g} s take at least "
            f"{math.ceil(needed)} s, more than the run time {run_time_s:g} s ({flag}): give a longer run time, "
            "fewer --spike-cycles or a shorter --spike-pause-min-s")


def spike_fit_error_in_args(users: int, spawn_rate: float, run_time_s: float, locust_args: list[str]) -> str | None:
    """`spike_fit_error` for the spike options among Locust command-line arguments (their defaults otherwise);
    None too when they are not numbers (the plan itself refuses those)."""
    parser = argparse.ArgumentParser(add_help=False)
    for flag, default, _ in SCENARIO_OPTIONS:
        if flag.startswith("--spike-"):
            parser.add_argument(flag, default=default)
    known, _ = parser.parse_known_args(locust_args)
    try:
        cycles, pause_min_s = int(known.spike_cycles), float(known.spike_pause_min_s)
    except ValueError:
        return None
    if cycles < 1 or not math.isfinite(pause_min_s) or pause_min_s < 0:
        return None
    return spike_fit_error(users, spawn_rate, cycles, pause_min_s, run_time_s, "--duration")
