"""The simulator's [kraken] configuration: tiers, public limit, nonce window, lockout, WebSocket limits."""

from __future__ import annotations

import pytest

from exchanges.kraken import TIERS
from simulator.config import ConfigError, parse_config


def test_defaults_are_kraken_published_values() -> None:
    kraken = parse_config({}).kraken
    assert kraken.rate_limits.tier == "starter" and kraken.rate_limits.tiers == TIERS
    starter = kraken.rate_limits.tiers["starter"]
    assert (starter.max_counter, starter.decay_per_s, starter.trading_threshold, starter.max_open_orders) == (
        15, 0.33, 60, 60)
    assert kraken.nonce_window == 0 and kraken.balances["ZUSD"] == 100_000


def test_a_file_changes_only_what_it_names() -> None:
    kraken = parse_config({"kraken": {
        "rate_limits": {"tier": "pro", "tiers": {"pro": {"max_counter": 30}}, "public": {"decay_per_s": 2}},
        "nonce_window": 1000, "ws": {"heartbeat_interval_s": 0.5},
    }}).kraken
    pro = kraken.rate_limits.tiers["pro"]
    assert kraken.rate_limits.tier == "pro" and pro.max_counter == 30.0 and pro.decay_per_s == 1.0
    assert kraken.rate_limits.public.decay_per_s == 2.0 and kraken.rate_limits.public.max_counter == 15.0
    assert kraken.nonce_window == 1000 and kraken.ws.heartbeat_interval_s == 0.5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rate_limits": {"tier": "gold"}}, "kraken.rate_limits.tier must be one of starter, intermediate, pro"),
        ({"rate_limits": {"tier": 2}}, "kraken.rate_limits.tier must be a string"),
        ({"rate_limits": {"tiers": {"gold": {}}}}, "unknown key 'kraken.rate_limits.tiers.gold'"),
        ({"rate_limits": {"tiers": {"pro": {"decay_per_s": 0}}}}, "kraken.rate_limits.tiers.pro.decay_per_s must be"),
        ({"rate_limits": {"public": {"max_counter": 0}}}, "kraken.rate_limits.public.max_counter must be positive"),
        ({"nonce_window": -1}, "kraken.nonce_window must not be negative"),
        ({"lockout": {"lockout_s": 0}}, "kraken.lockout.lockout_s must be positive"),
        ({"ws": {"incoming_messages_per_s": 0}}, "kraken.ws.incoming_messages_per_s must be positive"),
        ({"faults": {"error_rate": 2}}, "kraken.faults.error_rate must be between 0 and 1"),
        ({"balances": {"BTC": 1}}, "unknown key 'kraken.balances.BTC'"),
    ],
)
def test_bad_values_are_rejected_with_the_key_named(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_config({"kraken": data})
