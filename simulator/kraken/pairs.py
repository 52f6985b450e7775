"""The simulated Kraken market: one `SymbolSpec` per adapter pair and the demo account's starting balances.

Names, precisions and minimums are Kraken's (from `exchanges.kraken`); start prices and level sizes
are the simulation's own choices. A spec's `symbol` is the pair's REST id (`XXBTZUSD`), its base
and quote Kraken's asset ids (`XXBT`, `ZUSD`).
"""

from __future__ import annotations

from dataclasses import dataclass

from exchanges.kraken import ASSETS, PAIRS, Pair
from simulator.market import SymbolSpec


@dataclass(frozen=True, slots=True)
class PairParams:
    start_price: float
    typical_qty: float  # a typical book level, in base units


PAIR_PARAMS: dict[str, PairParams] = {
    "XXBTZUSD": PairParams(95_000.0, 0.5),
    "XETHZUSD": PairParams(3_500.0, 5.0),
    "SOLUSD": PairParams(180.0, 50.0),
    "XDGUSD": PairParams(0.2, 50_000.0),
    "XETHXXBT": PairParams(0.0368, 5.0),
}

STARTING_BALANCES: dict[str, float] = {"ZUSD": 100_000.0, "XXBT": 1.0, "XETH": 10.0, "SOL": 100.0, "XXDG": 200_000.0}


def spec_for(pair: Pair) -> SymbolSpec:
    params = PAIR_PARAMS[pair.id]
    return SymbolSpec(
        pair.id,
        pair.base,
        pair.quote,
        params.start_price,
        tick_size=10.0**-pair.pair_decimals,
        step_size=10.0**-pair.lot_decimals,
        price_decimals=pair.pair_decimals,
        qty_decimals=pair.lot_decimals,
        typical_qty=params.typical_qty,
    )


def symbol_specs() -> list[SymbolSpec]:
    return [spec_for(pair) for pair in PAIRS.values()]


def default_balances() -> dict[str, float]:
    """The demo account's starting balances, by Kraken asset id (every asset the pairs use)."""
    return {asset: STARTING_BALANCES.get(asset, 0.0) for asset in ASSETS}
