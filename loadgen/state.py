"""What the suite keeps per Locust `Environment`, on the environment itself, as Locust keeps `environment.stats`.

`of(environment)` is the environment's one `SuiteState`, created here on first use and set as
`environment.exchange_stress`. The modules that own a piece of state (the metrics hub, the cluster budget,
the runtimes, the run window, ...) create it there the first time they ask for it, keyed by its class:

    hub = state.of(environment).part(MetricsHub, lambda: MetricsHub(environment))

Keying by class keeps this module free of imports of those modules, so that imports point one way. The state
lives and dies with its environment: a new `Environment` (a new test process, a unit test) starts empty.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

ATTRIBUTE = "exchange_stress"  # the Environment attribute that holds the SuiteState

T = TypeVar("T")


class SuiteState:
    """The suite's per-environment state: one object per class of part, and the hooks installed once."""

    __slots__ = ("_installed", "_parts")

    def __init__(self) -> None:
        self._parts: dict[type, Any] = {}
        self._installed: set[str] = set()

    def part(self, kind: type[T], make: Callable[[], T]) -> T:
        """The environment's `kind`, made with `make()` the first time it is asked for."""
        if kind not in self._parts:
            self._parts[kind] = make()
        return self._parts[kind]

    def get(self, kind: type[T]) -> T | None:
        """The environment's `kind` if one was made or set, else None."""
        return self._parts.get(kind)

    def set(self, value: T) -> T:
        """Make `value` the environment's part of its class (replacing any earlier one)."""
        self._parts[type(value)] = value
        return value

    def first_install(self, hook: str) -> bool:
        """True the first time `hook` is named for this environment, False after: for hooks installed once."""
        if hook in self._installed:
            return False
        self._installed.add(hook)
        return True


def of(environment: Any) -> SuiteState:
    """The environment's SuiteState (a Locust `Environment`; created on first use)."""
    state = getattr(environment, ATTRIBUTE, None)
    if state is None:
        state = SuiteState()
        setattr(environment, ATTRIBUTE, state)
    return state
