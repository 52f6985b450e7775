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
