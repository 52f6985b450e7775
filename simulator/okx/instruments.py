"""The simulated OKX market: one `SymbolSpec` per adapter instrument, the demo account's starting balances, and
how OKX prints prices and sizes (plain decimals without trailing zeros, e.g. `41006.8`, `0.6`).

Instrument ids, tick and lot sizes are the adapter's (`exchanges.okx.INSTRUMENTS`); start prices and level sizes
are the simulation's own choices.
"""

from __future__ import annotations

from decimal import Decimal

from exchanges.okx import INSTRUMENTS, Instrument
from simulator.market import SymbolSpec

START: dict[str, tuple[float, float]] = {  # instId -> (start price, a typical book level in base units)
    "BTC-USDT": (95_000.0, 0.5),
    "ETH-USDT": (3_500.0, 5.0),
    "SOL-USDT": (180.0, 50.0),
    "DOGE-USDT": (0.2, 50_000.0),
    "ETH-BTC": (0.0368, 5.0),
}
STARTING_BALANCES: dict[str, float] = {"USDT": 100_000.0, "BTC": 1.0, "ETH": 10.0, "SOL": 100.0, "DOGE": 200_000.0}


def decimals(step: str) -> int:
    return max(0, -Decimal(step).normalize().as_tuple().exponent)  # type: ignore[operator]


def spec_for(inst: Instrument) -> SymbolSpec:
    price, typical = START[inst.inst_id]
    return SymbolSpec(inst.inst_id, inst.base, inst.quote, price, tick_size=float(inst.tick_sz),
                      step_size=float(inst.lot_sz), price_decimals=decimals(inst.tick_sz),
                      qty_decimals=decimals(inst.lot_sz), typical_qty=typical)


def symbol_specs() -> list[SymbolSpec]:
    return [spec_for(inst) for inst in INSTRUMENTS.values()]


def default_balances() -> dict[str, float]:
    currencies = {c for inst in INSTRUMENTS.values() for c in (inst.base, inst.quote)}
    return {c: STARTING_BALANCES.get(c, 0.0) for c in sorted(currencies)}


def plain(text: str) -> str:
    """A fixed-point number without trailing zeros: `95000.10` -> `95000.1`, `7.000` -> `7`."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def price_text(spec: SymbolSpec, ticks: int) -> str:
    return plain(spec.price_str(ticks))


def size_text(spec: SymbolSpec, lots: int) -> str:
    return plain(spec.qty_str(lots))


def value_text(value: float, places: int = 8) -> str:
    return plain(f"{value:.{places}f}")
