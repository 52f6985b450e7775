"""Order sizing against an exchange's filters: the smallest order must pass its minimum-value check at
the price actually sent (rounded down to the tick)."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from exchanges.base import SymbolRules

prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("200000"), places=6, allow_nan=False)
filters = st.sampled_from([
    SymbolRules(Decimal("0.01"), Decimal("0.00000001"), Decimal("0.00000001"), Decimal("1")),  # BTC-USD-like
    SymbolRules(Decimal("0.0001"), Decimal("0.1"), Decimal("0.1"), Decimal("1")),  # a cheap coin, 1 USD minimum
    SymbolRules(Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"), Decimal("5")),  # Binance-like NOTIONAL 5
])


@given(price=prices, rules=filters)
def test_the_smallest_order_meets_the_minimum_value_at_the_price_sent(price, rules):
    sent_price = Decimal(rules.price_text(price))
    qty = Decimal(rules.smallest_quantity_text(price))
    assert qty >= rules.min_qty and qty % rules.step_size == 0
    if sent_price > 0:
        assert qty * sent_price >= rules.min_notional


def test_a_price_just_above_a_tick_no_longer_undersizes_the_order():
    rules = SymbolRules(Decimal("0.01"), Decimal("0.01"), Decimal("0.01"), Decimal("1"))
    price = Decimal("9.999")  # sent as 9.99
    qty = Decimal(rules.smallest_quantity_text(price))
    assert qty * Decimal(rules.price_text(price)) >= 1
