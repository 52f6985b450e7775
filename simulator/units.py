"""Exact amounts for simulated accounts: integers in units of 1e-8 of an asset.

Prices and quantities of orders are the market's ticks and lots (`SymbolSpec`); these helpers turn
them into balance units, so balances move exactly whatever the exchange.
"""

from __future__ import annotations

from simulator.market import SymbolSpec

UNITS = 10**8  # balance units per asset unit


def base_units(spec: SymbolSpec, lots: int) -> int:
    return lots * round(spec.step_size * UNITS)


def quote_units(spec: SymbolSpec, ticks: int, lots: int) -> int:
    """The value of `lots` at `ticks`, in quote units (rounded down)."""
    return ticks * round(spec.tick_size * UNITS) * base_units(spec, lots) // UNITS


def units_str(units: int) -> str:
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), UNITS)
    return f"{sign}{whole}.{frac:08d}"
