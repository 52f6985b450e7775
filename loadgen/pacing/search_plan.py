"""What the ramp's limit search and the capacity search share as a scenario plan: one search per exchange driven
by the shape's ticks until each is over or the run time ends, then a wait for the last counts, and the plateaus
written to `PREFIX_<scenario>.csv` as they go."""

from __future__ import annotations

import csv
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from locust.env import Environment
from locust.runners import MasterRunner

from loadgen.metrics import DISTRIBUTED_SETTLE_S, LOCAL_SETTLE_S


def settle_s(environment: Environment) -> int:
    """Seconds after a second's end until every process's counts for it have reached this process's table."""
    return DISTRIBUTED_SETTLE_S if isinstance(environment.runner, MasterRunner) else LOCAL_SETTLE_S


class Search(Protocol):
    exchange: str
    done: bool
    plateaus: list[Any]

    def tick(self, now: float, deadline: float) -> None: ...

    def stop(self, reason: str, now: float) -> None: ...

    def outcome(self) -> dict[str, Any]: ...


class SearchPlan:
    """Runs every exchange's search until each is over or the run time ends, then lets the last counts arrive.

    A subclass names its scenario and CSV columns, builds its searches, and says when the wait is over
    (`counts_are_in`); `on_finishing` runs on every tick once the searches have ended."""

    scenario: str
    columns: tuple[str, ...]

    def __init__(self, environment: Environment, load: Any, duration_s: float, settings: Any,
                 searches: list[Search]) -> None:
        self.environment, self.load, self.duration_s, self.settings = environment, load, duration_s, settings
        self.searches = searches
        self.started_at: float | None = None
        self.finishing_at: float | None = None

    def tick(self) -> Any:
        now = time.time()
        if self.started_at is None:
            self.started_at = now
        deadline = self.started_at + self.duration_s
        if self.finishing_at is None:
            for search in self.searches:
                search.tick(now, deadline)
            if all(s.done for s in self.searches) or now >= deadline:
                for search in self.searches:
                    if not search.done:
                        search.stop("run time over", now)
                self.finishing_at = now
        if self.finishing_at is not None:
            self.on_finishing(now)
        self.write_rows()
        if self.finishing_at is not None and self.counts_are_in(now, self.finishing_at):
            return None
        return self.load.tick()

    def on_finishing(self, now: float) -> None:
        """Called on every tick after the searches ended."""

    def counts_are_in(self, now: float, finishing_at: float) -> bool:
        raise NotImplementedError

    def outcome(self) -> dict[str, Any]:
        self.write_rows()
        return {
            "scenario": self.scenario, "users": self.load.users, "settings": asdict(self.settings),
            "exchanges": {s.exchange: s.outcome() for s in self.searches},
        }

    def write_rows(self) -> None:
        """PREFIX_<scenario>.csv: every plateau of every exchange so far, in the order they started."""
        write_plateaus(self.environment, self.scenario, [p for s in self.searches for p in s.plateaus], self.columns)


def write_plateaus(environment: Environment, name: str, plateaus: list[Any], columns: tuple[str, ...]) -> None:
    """PREFIX_<name>.csv: a search's plateaus (dataclasses with `started_at` and `exchange`) in the order they
    started, with `columns` of their fields; nothing without --csv."""
    options = environment.parsed_options
    prefix = getattr(options, "csv_prefix", None) if options is not None else None
    if prefix is None:
        return
    path = Path(f"{prefix}_{name}.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(asdict(p) for p in sorted(plateaus, key=lambda p: (p.started_at, p.exchange)))
