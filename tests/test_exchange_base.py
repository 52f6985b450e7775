"""The shared adapter interface: endpoint paths with placeholders."""

import pytest

from exchanges.base import Endpoint


def test_fill_path_substitutes_placeholders_and_leaves_the_rest():
    endpoint = Endpoint("book", "GET", "/products/{product_id}/book")
    assert endpoint.fill_path({"product_id": "BTC-USD", "level": "2"}) == ("/products/BTC-USD/book", {"level": "2"})
    assert Endpoint("ticker", "GET", "/ticker").fill_path({"a": "1"}) == ("/ticker", {"a": "1"})


def test_fill_path_quotes_values_and_names_a_missing_one():
    endpoint = Endpoint("order GET", "GET", "/orders/{order_id}")
    assert endpoint.fill_path({"order_id": "a/b c"})[0] == "/orders/a%2Fb%20c"
    with pytest.raises(ValueError, match="order_id"):
        endpoint.fill_path({})


def test_each_adapter_publishes_its_limit_in_its_own_unit_and_names_its_own_signals():
    from exchanges import binance, coinbase, kraken

    assert (binance.ADAPTER.published_limit, binance.ADAPTER.limit_unit) == (6000.0, "weight/60s")
    assert (coinbase.ADAPTER.published_limit, coinbase.ADAPTER.limit_unit) == (10.0, "requests/s")
    assert (kraken.ADAPTER.published_limit, kraken.ADAPTER.limit_unit) == (1.0, "calls/s")
    # Only Binance's rate-limit answers carry Retry-After; Kraken's come in HTTP 200 bodies; Coinbase has no bans.
    assert [a.limit_signals.retry_after for a in (binance.ADAPTER, coinbase.ADAPTER, kraken.ADAPTER)] == [
        True, False, False]
    assert "429" not in kraken.ADAPTER.limit_signals.rate_limited
    assert kraken.RATE_LIMIT_EXCEEDED in kraken.ADAPTER.limit_signals.rate_limited
    assert kraken.TEMPORARY_LOCKOUT in kraken.ADAPTER.limit_signals.banned
    assert coinbase.ADAPTER.limit_signals.banned is None
    assert binance.ADAPTER.limit_signals.banned == "HTTP 418"
