"""Every registered exchange side by side: each exchange's user kinds in one run.

    python -m loadgen run --exchange all          # or: make run EXCHANGE=all
    locust -f locustfiles/all.py --host http://127.0.0.1:PORT -u 30   # the simulator's root: 6 users per exchange

The exchanges are those of the registry (exchanges/__init__.py), each with the users of its own
locustfile (locustfiles/<venue>.py). With --host at the simulator's root, each exchange's users reach
its own mount (/binance, /bybit, ...), and every row their users report carries the exchange
("coinbase:time", "kraken:connect", "binance:btcusdt@trade"), so that same-named rows of different
exchanges stay apart in Locust's stats. Options such as --symbols and --streams name one exchange's
instruments, so leave them at their per-exchange defaults here.
"""

from __future__ import annotations

import importlib

from locust import User

from exchanges import NAMES, locustfile_module
from loadgen.gates.evaluation import exchange_prefix


def _venue_users() -> dict[str, type[User]]:
    """The user classes of every registered venue's locustfile, each naming its requests by its exchange.
    (A function: a module-level loop variable would be one more user class in Locust's eyes.)"""
    users: dict[str, type[User]] = {}
    for name in NAMES:
        module = importlib.import_module(locustfile_module(name))
        for attribute, value in vars(module).items():
            if (isinstance(value, type) and issubclass(value, User) and not value.abstract
                    and value.__module__ == module.__name__):
                value.stats_prefix = exchange_prefix(value.adapter.name)
                users[attribute] = value
    return dict(sorted(users.items()))


USER_CLASSES = _venue_users()
globals().update(USER_CLASSES)  # Locust runs the User classes it finds in this module's namespace
__all__ = list(USER_CLASSES)
