"""What a venue package (`simulator/<venue>/`) gives the simulator: one `Venue` entry, its `VENUE` (`simulator.venues`).

The entry names the venue's simulator class (its market, limits and accounts), the dataclass of its config
section (`[<name>]` in the TOML file), the checks that section needs beyond types and signs, and the function that
adds the venue's routes to the application.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from simulator.stats import ExchangeStats

Clock = Callable[[], float]


class SimulatedExchange(Protocol):
    name: str
    prefix: str
    stats: ExchangeStats

    @property
    def tick_ms(self) -> int: ...

    def tick(self) -> int: ...


@dataclass(frozen=True)
class Venue:
    sim: type[SimulatedExchange]  # the simulator class: `sim(config_section, clock)`; its `name` names the section
    config: type  # the config section's dataclass; every field has a default
    check: Callable[[Any], None]  # raises ConfigError on values that types and signs cannot rule out
    mount: Callable[[web.Application, Any], None]  # `mount(app, sim)`: adds the REST and WebSocket routes of `sim`

    @property
    def name(self) -> str:
        return self.sim.name

    def build(self, section: Any, clock: Clock) -> SimulatedExchange:
        return self.sim(section, clock)  # type: ignore[call-arg]  # a Protocol has no constructor signature
