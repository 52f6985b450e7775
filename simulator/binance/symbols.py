"""The simulated Binance market: one `SymbolSpec` per adapter symbol and the demo account's starting balances.

Tick and step sizes follow Binance's live filters for these pairs; start prices and level sizes
are the simulation's own choices.
"""

from __future__ import annotations

from dataclasses import dataclass

from exchanges.binance import SYMBOLS
from simulator.market import SymbolSpec

QUOTE_ASSET = "USDT"
QUOTE_BALANCE = 100_000.0
MIN_NOTIONAL = 5.0  # NOTIONAL filter of Binance's USDT pairs
MAX_QTY = 9_000_000.0  # LOT_SIZE maxQty (one value for every pair)
MAX_PRICE = 1_000_000.0  # PRICE_FILTER maxPrice
MAX_NUM_ORDERS = 200  # open orders per symbol and account (MAX_NUM_ORDERS filter)


@dataclass(frozen=True, slots=True)
class PairParams:
    start_price: float
    tick_size: float
    step_size: float
    typical_qty: float  # a typical book level, in base units
    base_balance: float  # the demo account's starting balance of the base asset


PAIRS: dict[str, PairParams] = {
    "BTCUSDT": PairParams(95_000.0, 0.01, 0.00001, 0.5, 1.0),
    "ETHUSDT": PairParams(3_500.0, 0.01, 0.0001, 5.0, 10.0),
    "BNBUSDT": PairParams(650.0, 0.01, 0.001, 20.0, 50.0),
    "ADAUSDT": PairParams(0.7, 0.0001, 0.1, 20_000.0, 50_000.0),
    "DOGEUSDT": PairParams(0.2, 0.00001, 1.0, 50_000.0, 200_000.0),
}


def symbol_specs() -> list[SymbolSpec]:
    """A spec for every symbol the adapter lists (all quoted in USDT)."""
    specs = []
    for symbol in SYMBOLS:
        pair = PAIRS[symbol]
        base = symbol.removesuffix(QUOTE_ASSET)
        specs.append(
            SymbolSpec(symbol, base, QUOTE_ASSET, pair.start_price, pair.tick_size, pair.step_size,
                       typical_qty=pair.typical_qty)
        )
    return specs


def default_balances() -> dict[str, float]:
    balances = {QUOTE_ASSET: QUOTE_BALANCE}
    for symbol in SYMBOLS:
        balances[symbol.removesuffix(QUOTE_ASSET)] = PAIRS[symbol].base_balance
    return balances
