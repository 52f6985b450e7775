"""Named run presets: how many users, how fast they arrive, for how long, and at what total request rate.

Scenarios with `shaped` run as the `ScenarioShape` load shape (loadgen/shapes.py), which reads its
defaults from here; `default` is a plain Locust run of every user class.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    users: int
    spawn_rate: float  # users started per second
    duration_s: int  # shaped scenarios that end by themselves (ramp, spike): the longest they may take
    description: str
    target_rps: float | None = None  # total request rate of the open-model users; None: closed model
    shaped: bool = False


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
            "find the limit: the total rate rises in plateaus until the exchange answers with rate limits",
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
