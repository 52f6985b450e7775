"""The production guard: what could get a user's IP banned, or place orders, on a real exchange is refused
before any load starts, unless --allow-production. No request is sent in these tests."""

from argparse import Namespace
from types import SimpleNamespace

import pytest

from exchanges.binance import ADAPTER, RATE_LIMITS
from loadgen.options import OPTIONS, OptionError, parse_settings
from loadgen.runtime import check_production
from locustfiles.binance import BinanceBurstTrader, BinanceRestPoller, BinanceWsSubscriber

PRODUCTION = ADAPTER.hosts.production_rest[0]
LIMIT = RATE_LIMITS["request_weight"]


def options(**values: object) -> Namespace:
    defaults = {flag[2:].replace("-", "_"): default for flag, default, _ in OPTIONS}
    return Namespace(**{**defaults, "allow_production": False, **values})


def check(host: str, user_classes: list[type], **values: object) -> None:
    opts = options(**values)
    environment = SimpleNamespace(parsed_options=opts, user_classes=user_classes)
    check_production(environment, ADAPTER, parse_settings(opts, ADAPTER, host), host)


def test_polite_market_data_within_the_published_limit_is_allowed():
    check(PRODUCTION, [BinanceRestPoller, BinanceWsSubscriber], mode="polite")


def test_order_sending_users_are_refused():
    with pytest.raises(OptionError, match=r"order-sending users \(BinanceBurstTrader\)"):
        check(PRODUCTION, [BinanceRestPoller, BinanceBurstTrader], mode="polite")


def test_probe_mode_is_refused():
    with pytest.raises(OptionError, match="--mode probe keeps its pace past the published limits"):
        check(PRODUCTION, [BinanceRestPoller], mode="probe")


def test_a_budget_above_the_published_limit_is_refused():
    with pytest.raises(OptionError, match="above its published limit"):
        check(PRODUCTION, [BinanceRestPoller], mode="polite", weight_limit=str(LIMIT.limit * 2), weight_budget="1")


def test_the_production_websocket_host_counts_too():
    with pytest.raises(OptionError, match="production"):
        check("https://my-proxy.example", [BinanceRestPoller], mode="probe", ws_host=ADAPTER.hosts.production_ws[0])


@pytest.mark.parametrize("host", [ADAPTER.hosts.testnet_rest[0], "http://127.0.0.1:8123/binance"])
def test_testnet_and_simulator_need_no_flag(host):
    check(host, [BinanceRestPoller, BinanceBurstTrader], mode="probe")


def test_the_flag_lifts_the_guard():
    check(PRODUCTION, [BinanceRestPoller, BinanceBurstTrader], mode="probe", allow_production=True)
