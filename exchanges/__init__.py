"""Exchange adapters: one module per exchange behind the interface in `exchanges.base`.

Adding an exchange means adding a module and one line to `_MODULES`.
"""

from __future__ import annotations

import importlib

from exchanges.base import ExchangeAdapter

_MODULES = {"binance": "exchanges.binance", "coinbase": "exchanges.coinbase", "kraken": "exchanges.kraken"}

NAMES: tuple[str, ...] = tuple(_MODULES)


def get_adapter(name: str) -> ExchangeAdapter:
    """The adapter for `name`; a ValueError naming the known exchanges otherwise."""
    try:
        module = _MODULES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown exchange {name!r} (known: {', '.join(NAMES)})") from None
    return importlib.import_module(module).ADAPTER
