"""The balance moves of a resting order's fill (simulator/units.py), shared by every venue's account."""

from __future__ import annotations

from simulator.market import BUY, SELL, Fill, SymbolSpec
from simulator.units import UNITS, resting_fill_moves

SPEC = SymbolSpec("BTCUSDT", "BTC", "USDT", 95_000, 0.01, 0.00001, typical_qty=0.5)


def test_a_buy_pays_the_fills_value_out_of_its_hold_and_gets_the_base() -> None:
    fill = Fill(price=9_500_000, qty=100, trade_id=1, maker_ref=None)  # 0.001 BTC at 95,000.00
    moves = resting_fill_moves(SPEC, BUY, held=200 * UNITS, fill=fill)
    assert (moves.paid_asset, moves.paid, moves.got_asset, moves.got) == ("USDT", 95 * UNITS, "BTC", UNITS // 1000)
    assert moves.released == moves.value == 95 * UNITS
    # held at a worse price than it filled: only what the fill is worth leaves the hold, never more than held
    assert resting_fill_moves(SPEC, BUY, held=90 * UNITS, fill=fill).released == 90 * UNITS


def test_a_sell_pays_the_quantity_out_of_its_hold_and_gets_the_value() -> None:
    moves = resting_fill_moves(SPEC, SELL, held=UNITS, fill=Fill(price=9_500_000, qty=100, trade_id=2, maker_ref=None))
    assert (moves.paid_asset, moves.paid, moves.released) == ("BTC", UNITS // 1000, UNITS // 1000)
    assert (moves.got_asset, moves.got, moves.value) == ("USDT", 95 * UNITS, 95 * UNITS)
