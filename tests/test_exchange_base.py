"""The shared adapter interface: endpoint paths with placeholders, the contract every adapter fulfils."""

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


def _adapters():
    from exchanges import NAMES, get_adapter

    return [get_adapter(name) for name in NAMES]


def test_every_adapter_fills_the_required_attributes_and_methods():
    """The base class is abstract: an adapter missing a required method cannot be built at all."""
    from exchanges.base import ExchangeAdapter

    for adapter in _adapters():
        assert not getattr(type(adapter), "__abstractmethods__", None), adapter.name
        for attribute in ExchangeAdapter.__annotations__:
            assert hasattr(adapter, attribute), f"{adapter.name}: {attribute}"
        assert len(adapter.simulator_demo_keys) == len(adapter.user_key_vars), adapter.name
    with pytest.raises(TypeError, match="abstract"):
        ExchangeAdapter()  # type: ignore[abstract]


def test_an_adapter_that_opens_an_optional_group_implements_it():
    """An adapter whose gate says yes for one of its stream kinds implements that group's protocol."""
    from exchanges.base import ChecksumBooks, DiffDepthBooks, SequencedBooks

    groups = {"diff depth": (DiffDepthBooks, "is_diff_depth_kind"),
              "checksum": (ChecksumBooks, "is_checksum_book_kind"),
              "sequenced": (SequencedBooks, "is_sequenced_book_kind")}
    opened = set()
    for adapter in _adapters():
        kinds = {*adapter.default_streams, "depth", "depth@100ms", "book", "level2_batch"}
        for group, (protocol, gate) in groups.items():
            if any(getattr(adapter, gate)(kind) for kind in kinds if adapter.is_stream_kind(kind)):
                assert isinstance(adapter, protocol), f"{adapter.name}: {group}"
                opened.add(group)
            elif not (protocol is SequencedBooks and isinstance(adapter, ChecksumBooks)):  # a structural subset
                assert not isinstance(adapter, protocol), f"{adapter.name} implements {group} but never opens it"
    assert opened >= {"diff depth", "checksum"}  # groups in use, so the checks above ran for them


def test_simulator_credentials_come_from_the_adapters_data_with_sim_overrides():
    for adapter in _adapters():
        assert list(adapter.simulator_user_env()) == list(adapter.user_key_vars)
        assert adapter.simulator_keys({}) == adapter.simulator_demo_keys
        key_var, secret_var, *_ = adapter.user_key_vars
        keys = adapter.simulator_keys({f"SIM_{key_var}": "other-key", f"SIM_{secret_var}": ""})
        assert keys == ("other-key", *adapter.simulator_demo_keys[1:])  # an empty variable keeps the demo value


def test_sign_request_hands_every_part_to_the_adapters_scheme_and_keeps_secrets_out_of_reprs(monkeypatch):
    from exchanges.base import RequestToSign

    request = RequestToSign("the-key", "the-secret", {"a": "1"}, 1, None, "POST", "/p", "the-passphrase")
    assert "the-" not in repr(request)
    for adapter in _adapters():
        seen: list[RequestToSign] = []
        monkeypatch.setattr(type(adapter), "sign", lambda self, r, seen=seen: seen.append(r))
        adapter.sign_request("the-key", "the-secret", {"a": "1"}, 1, None, method="POST", path="/p",
                             passphrase="the-passphrase")
        assert seen == [request], adapter.name
