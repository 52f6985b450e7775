"""The simulated Bybit spot market: one `SymbolSpec` per adapter instrument and the demo account's balances.

Names, steps and minimums are the adapter's (`exchanges.bybit.INSTRUMENTS`); start prices and level sizes are the
simulation's own choices.
"""

from __future__ import annotations

from exchanges.bybit import COINS, INSTRUMENTS, Instrument
from simulator.market import SymbolSpec

START_PRICES: dict[str, tuple[float, float]] = {  # symbol -> (start price, typical level size in base units)
    "BTCUSDT": (95_000.0, 0.5),
    "ETHUSDT": (3_500.0, 5.0),
    "SOLUSDT": (180.0, 50.0),
    "XRPUSDT": (2.2, 5_000.0),
}
STARTING_BALANCES: dict[str, float] = {"USDT": 100_000.0, "BTC": 1.0, "ETH": 10.0, "SOL": 100.0, "XRP": 10_000.0}


def spec_for(instrument: Instrument) -> SymbolSpec:
    start, typical = START_PRICES[instrument.symbol]
    return SymbolSpec(
        instrument.symbol,
        instrument.base,
        instrument.quote,
        start,
        tick_size=float(instrument.tick_size),
        step_size=float(instrument.base_precision),
        price_decimals=instrument.price_decimals,
        qty_decimals=instrument.qty_decimals,
        typical_qty=typical,
    )


def symbol_specs() -> list[SymbolSpec]:
    return [spec_for(i) for i in INSTRUMENTS.values()]


def default_balances() -> dict[str, float]:
    return {coin: STARTING_BALANCES.get(coin, 0.0) for coin in COINS}
