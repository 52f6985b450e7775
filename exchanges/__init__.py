"""Exchange adapters, one module per exchange behind the interface in `exchanges.base`, and the registry of venues.

A venue lives in four places, each named after it: exchanges/<venue>.py (its adapter, `ADAPTER`),
simulator/<venue>/ (its simulated exchange), locustfiles/<venue>.py (its Locust users) and its line in
`NAMES` below. Everything else (locustfiles/all.py, locustfiles/failover.py, the runner, the docs' tests) reads
this registry; tests/test_venue_seam.py checks that nothing else names a venue. See docs/adding-an-exchange.md.
"""

from __future__ import annotations

import importlib

from exchanges.base import ExchangeAdapter

NAMES: tuple[str, ...] = (  # the registry: one line per venue
    "binance",
    "bybit",
    "coinbase",
    "kraken",
    "okx",
)


def adapter_module(name: str) -> str:
    """The module holding a venue's adapter (as `ADAPTER`): exchanges/<venue>.py."""
    return f"exchanges.{name}"


def locustfile_module(name: str) -> str:
    """The module holding a venue's Locust users: locustfiles/<venue>.py."""
    return f"locustfiles.{name}"


def locustfile_path(name: str) -> str:
    """A venue's locustfile relative to the repository root, as `locust -f` takes it: locustfiles/<venue>.py."""
    return locustfile_module(name).replace(".", "/") + ".py"


def get_adapter(name: str) -> ExchangeAdapter:
    """The adapter for `name`; a ValueError naming the known exchanges otherwise."""
    if name.lower() not in NAMES:
        raise ValueError(f"unknown exchange {name!r} (known: {', '.join(NAMES)})")
    return importlib.import_module(adapter_module(name.lower())).ADAPTER
