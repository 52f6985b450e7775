"""Named run presets: how many users, how fast they arrive, and for how long."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    users: int
    spawn_rate: float  # users started per second
    duration_s: int
    description: str


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
    )
}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})") from None
