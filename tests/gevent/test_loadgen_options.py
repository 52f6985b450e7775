"""Option parsing and validation: defaults from the adapter, one-line errors naming the option."""

from argparse import Namespace

import pytest
from locust.argument_parser import get_empty_argument_parser

from exchanges.binance import ADAPTER, RATE_LIMITS, RECV_WINDOW_DEFAULT_MS
from loadgen.options import OPTIONS, Mode, OptionError, OrderEndpoint, add_arguments, parse_settings
from loadgen.runtime import check_live_orders

HOST = "http://127.0.0.1:8123/binance"


def options(**values: str) -> Namespace:
    defaults = {flag[2:].replace("-", "_"): default for flag, default, _ in OPTIONS}
    return Namespace(**{**defaults, **values})


def test_defaults_come_from_the_adapter():
    s = parse_settings(options(), ADAPTER, HOST)
    assert s.symbols == ADAPTER.default_symbols
    assert s.streams == ADAPTER.default_streams
    assert s.mode is Mode.PROBE and s.order_endpoint is OrderEndpoint.TEST
    assert (s.order_burst, s.order_pause_s, s.weight_budget) == (5, 2.0, 0.8)
    assert (s.weight_limit, s.weight_window_s) == (RATE_LIMITS["request_weight"].limit, 60)
    assert s.weight_budget_units == pytest.approx(0.8 * RATE_LIMITS["request_weight"].limit)
    assert s.recv_window_ms == RECV_WINDOW_DEFAULT_MS
    assert s.ws_host == "ws://127.0.0.1:8123/binance"


def test_values_are_normalised():
    s = parse_settings(
        options(symbols=" btcusdt, ETHUSDT,btcusdt ", streams="trade,depth@100ms,kline_1m", mode="POLITE",
                ws_host="wss://stream.example:9443/", weight_limit="1200", weight_window_s="10",
                weight_budget="1", order_pause="0", recv_window="60000", order_endpoint="live"),
        ADAPTER, HOST,
    )
    assert s.symbols == ("BTCUSDT", "ETHUSDT")
    assert s.streams == ("trade", "depth@100ms", "kline_1m")
    assert s.mode is Mode.POLITE and s.order_endpoint is OrderEndpoint.LIVE
    assert s.ws_host == "wss://stream.example:9443"
    assert (s.weight_limit, s.weight_window_s, s.weight_budget, s.order_pause_s) == (1200, 10, 1.0, 0.0)


def test_without_a_host_the_ws_host_stays_unknown():
    assert parse_settings(options(), ADAPTER, None).ws_host == ""


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"mode": "fast"}, "--mode: expected probe|polite, got 'fast'"),
        ({"order_endpoint": "prod"}, "--order-endpoint: expected test|live, got 'prod'"),
        ({"weight_budget": "1.5"}, "--weight-budget: must be a number in (0, 1], got 1.5"),
        ({"weight_budget": "0"}, "--weight-budget: must be a number in (0, 1], got 0"),
        ({"weight_budget": "nan"}, "--weight-budget: must be a number in (0, 1], got nan"),
        ({"weight_budget": "lots"}, "--weight-budget: expected a number, got 'lots'"),
        ({"order_pause": "-1"}, "--order-pause: must be a number >= 0, got -1"),
        ({"order_pause": "inf"}, "--order-pause: must be a number >= 0, got inf"),
        ({"order_burst": "0"}, "--order-burst: must be between 1 and 1000, got 0"),
        ({"breaker": "maybe"}, "--breaker: expected on|off, got 'maybe'"),
        ({"order_burst": "2.5"}, "--order-burst: expected a whole number, got '2.5'"),
        ({"weight_limit": "0"}, "--weight-limit: must be at least 1, got 0"),
        ({"weight_window_s": "x"}, "--weight-window-s: expected a whole number, got 'x'"),
        ({"recv_window": "60001"}, "--recv-window: must be between 1 and 60000, got 60001"),
        ({"symbols": "BTC USDT"}, "--symbols: 'BTC USDT' is not a symbol"),
        ({"streams": "trade,bogus"}, "--streams: 'bogus' is not a binance stream kind"),
        ({"ws_host": "http://127.0.0.1:1/binance"}, "--ws-host: expected a ws:// or wss:// URL"),
    ],
)
def test_bad_values_give_one_line_naming_the_option(values, message):
    with pytest.raises(OptionError) as caught:
        parse_settings(options(**values), ADAPTER, HOST)
    text = str(caught.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_options_register_with_locusts_parser_and_show_in_the_web_ui():
    parser = get_empty_argument_parser()
    add_arguments(parser)
    parsed = parser.parse_args(["--mode", "polite", "--order-burst", "9", "--ws-host", "ws://h/x"])
    assert (parsed.mode, parsed.order_burst, parsed.ws_host, parsed.weight_budget) == ("polite", "9", "ws://h/x", "0.8")
    web_ui = parser.args_included_in_web_ui
    assert {"symbols", "streams", "mode", "order_endpoint", "weight_budget"} <= set(web_ui)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("http://127.0.0.1:8123/binance", True),
        ("https://testnet.binance.vision", True),
        ("https://api.binance.com", False),
        ("https://my-gateway.internal", False),
    ],
)
def test_live_orders_only_go_to_the_simulator_or_a_testnet(host, allowed):
    live = parse_settings(options(order_endpoint="live"), ADAPTER, host)
    if allowed:
        check_live_orders(ADAPTER, live, host)
    else:
        with pytest.raises(OptionError, match="--order-endpoint live refused"):
            check_live_orders(ADAPTER, live, host)
    check_live_orders(ADAPTER, parse_settings(options(), ADAPTER, host), host)  # order/test: always fine


@pytest.mark.parametrize(
    ("values", "backoff", "retry_after"),
    [
        ({}, False, False),  # probe mode keeps its pace
        ({"mode": "polite"}, True, True),
        ({"scenario": "ramp"}, False, True),  # the limit search honours a server's Retry-After, nothing more
        ({"scenario": "ramp", "backoff": "off"}, False, False),
        ({"backoff": "retry-after"}, False, True),
        ({"backoff": "on"}, True, True),
    ],
)
def test_backoff_auto_is_on_when_polite_and_retry_after_in_the_ramp(values, backoff, retry_after):
    s = parse_settings(options(**values), ADAPTER, HOST)
    assert (s.backoff, s.honour_retry_after) == (backoff, retry_after)
