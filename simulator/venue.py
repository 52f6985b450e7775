"""What a venue package (`simulator/<venue>/`) gives the simulator: one `Venue` entry, its `VENUE` (`simulator.venues`).

The entry names the venue's simulator class (its routes, market, limits and accounts), the dataclass of its
config section (`[<name>]` in the TOML file) and the checks that section needs beyond types and signs.
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

    def mount(self, app: web.Application) -> None: ...


@dataclass(frozen=True)
class Venue:
    sim: type[SimulatedExchange]  # the simulator class: `sim(config_section, clock)`; its `name` names the section
    config: type  # the config section's dataclass; every field has a default
    check: Callable[[Any], None]  # raises ConfigError on values that types and signs cannot rule out

    @property
    def name(self) -> str:
        return self.sim.name

    def build(self, section: Any, clock: Clock) -> SimulatedExchange:
        return self.sim(section, clock)  # type: ignore[call-arg]  # a Protocol has no constructor signature
