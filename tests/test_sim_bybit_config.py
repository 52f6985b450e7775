"""The `[bybit]` section: every limit configurable, bad values refused in one line."""

from __future__ import annotations

import pytest

from exchanges.bybit import IP_LIMIT, UID_LIMITS_PER_S
from simulator.config import ConfigError, parse_config


def test_defaults_are_the_adapters_and_every_limit_is_configurable() -> None:
    default = parse_config({}).bybit
    assert default.ip_limit == IP_LIMIT and dict(default.uid_limits_per_s) == UID_LIMITS_PER_S
    config = parse_config({"bybit": {"ip_limit": {"requests": 100, "ban_s": 2.0},
                                     "uid_limits_per_s": {"order/create": 5}, "ws": {"idle_timeout_s": 30.0}}}).bybit
    assert (config.ip_limit.requests, config.ip_limit.window_s, config.ip_limit.ban_s) == (100, 5, 2.0)
    assert config.uid_limits_per_s["order/create"] == 5 and config.uid_limits_per_s["order/cancel"] == 20
    assert config.ws.idle_timeout_s == 30.0


@pytest.mark.parametrize(("section", "message"), [
    ({"ip_limit": {"requests": 0}}, "bybit.ip_limit.requests must be at least 1"),
    ({"ip_limit": {"window_s": -5}}, "bybit.ip_limit.window_s must not be negative, got -5"),
    ({"uid_limits_per_s": {"order/create": 0}}, "bybit.uid_limits_per_s.order/create must be at least 1"),
    ({"uid_limits_per_s": {"order/amend": 10}}, "unknown key 'bybit.uid_limits_per_s.order/amend'"),
    ({"ws": {"max_args_per_request": 0}}, "bybit.ws.max_args_per_request must be positive"),
    ({"ip_limit": {"requests": "600"}}, "bybit.ip_limit.requests must be an integer, got '600'"),
])
def test_bad_values_are_refused_in_one_line(section, message) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"bybit": section})
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)
