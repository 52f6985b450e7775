"""`--exchange`: which of the loaded exchanges' users a test runs (a choice in the web UI's start form).

The choices are the exchanges whose locustfiles are loaded (`-f a.py,b.py` or `locustfiles/all.py` load
several). The user classes are narrowed where Locust dispatches them (the local runner or the master),
and so are those the web UI's class picker offers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING
from locust.user import User

from loadgen import state
from loadgen.gates import run_snapshot

ALL = "all"


@dataclass(slots=True)
class LoadedClasses:
    """The user classes the locustfiles loaded, before any --exchange narrowed them (None until first narrowed)."""

    loaded: list[type[User]] | None = None
    available: dict[str, type[User]] | None = None  # the class picker's choices


def choices() -> list[str]:
    names = [a.name for a in run_snapshot.exchanges()]
    return names if len(names) == 1 else [ALL, *names]


def add_arguments(parser: Any, **_: Any) -> None:
    options = choices()
    parser.add_argument("--exchange", choices=options, default=options[0],
                        help="Run the users of this exchange (of those whose locustfiles are loaded)")


def classes_for(loaded: list[type[User]], exchange: str) -> list[type[User]]:
    if exchange == ALL:
        return list(loaded)
    return [c for c in loaded if getattr(getattr(c, "adapter", None), "name", None) == exchange]


def apply(environment: Environment, exchange: str) -> str | None:
    """Narrow the user classes to `exchange`'s; the reason when that is not possible now, else None."""
    if exchange not in choices():
        return f"--exchange: {exchange!r} is not one of {', '.join(choices())}"
    runner = environment.runner
    if runner is not None and runner.state in (STATE_RUNNING, STATE_SPAWNING):
        current = {getattr(getattr(c, "adapter", None), "name", None) for c in environment.user_classes}
        return None if exchange == ALL or current == {exchange} else "stop the test before changing --exchange"
    original = state.of(environment).part(LoadedClasses, LoadedClasses)
    if original.loaded is None:
        original.loaded = list(environment.user_classes)
    loaded = original.loaded
    chosen = classes_for(loaded, exchange)
    if loaded and not chosen:
        return f"--exchange {exchange}: none of the selected user classes belongs to it"
    environment.user_classes = chosen
    if environment.available_user_classes:  # the web UI's class picker (--class-picker) chooses among these
        if original.available is None:
            original.available = dict(environment.available_user_classes)
        available = original.available
        kept = classes_for(list(available.values()), exchange)
        environment.available_user_classes = {name: c for name, c in available.items() if c in kept}
    return None
