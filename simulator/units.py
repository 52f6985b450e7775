"""Exact amounts for simulated accounts: integers in units of 1e-8 of an asset.

Prices and quantities of orders are the market's ticks and lots (`SymbolSpec`); these helpers turn
them into balance units, so balances move exactly whatever the exchange.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.market import BUY, Fill, SymbolSpec

UNITS = 10**8  # balance units per asset unit


def base_units(spec: SymbolSpec, lots: int) -> int:
    return lots * round(spec.step_size * UNITS)


def quote_units(spec: SymbolSpec, ticks: int, lots: int) -> int:
    """The value of `lots` at `ticks`, in quote units (rounded down)."""
    return ticks * round(spec.tick_size * UNITS) * base_units(spec, lots) // UNITS


@dataclass(frozen=True, slots=True)
class FillMoves:
    """What a fill of a resting order moves on its account: `paid` units of `paid_asset` leave the balance (of
    which `released` come out of the order's hold), `got` units of `got_asset` come in; `value` is the fill's
    value in quote units."""

    value: int
    released: int
    paid_asset: str
    paid: int
    got_asset: str
    got: int


def resting_fill_moves(spec: SymbolSpec, side: str, held: int, fill: Fill) -> FillMoves:
    """The balance moves of `fill` for a resting order on `side` whose hold is `held` units (quote for a buy,
    base for a sell). A buy pays the fill's value, releasing as much of its hold as it covers (the order held
    at its own price and may fill better); a sell pays the quantity sold out of its hold."""
    value = quote_units(spec, fill.price, fill.qty)
    quantity = base_units(spec, fill.qty)
    if side == BUY:
        return FillMoves(value, min(held, value), spec.quote, value, spec.base, quantity)
    return FillMoves(value, quantity, spec.base, quantity, spec.quote, value)


def units_str(units: int) -> str:
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), UNITS)
    return f"{sign}{whole}.{frac:08d}"
