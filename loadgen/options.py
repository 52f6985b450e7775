"""The exchange users' command-line options (also editable in Locust's web UI) and their validation.

Every option is taken as text and checked by `parse_settings`, so a bad value gives one line
naming the option, whether it came from the command line, a config file or the web UI. An empty
value means "the adapter's default" (symbols, streams, limits, receive window) or, for
`--ws-host`, "derived from --host".
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from locust import events

from exchanges.base import ExchangeAdapter

WEIGHT_LIMIT_KEY = "request_weight"  # the adapter's RATE_LIMITS entry polite users stay under
MAX_ORDER_BURST = 1000
SYMBOL_PATTERN = re.compile(r"[A-Za-z0-9._/-]{1,32}")


class Mode(enum.StrEnum):
    PROBE = "probe"  # keep the configured pace whatever the exchange answers
    POLITE = "polite"  # honour Retry-After and stay under the weight budget


class OrderEndpoint(enum.StrEnum):
    TEST = "test"  # validated by the exchange, never reaches the matching engine
    LIVE = "live"  # real orders: only against the simulator or a testnet


class OptionError(ValueError):
    """A bad option value; the message is one line naming the option."""


@dataclass(frozen=True, slots=True)
class LoadSettings:
    symbols: tuple[str, ...]
    streams: tuple[str, ...]  # stream kinds, e.g. "trade", "depth@100ms"
    mode: Mode
    ws_host: str  # "" until the REST host is known
    order_burst: int
    order_pause_s: float
    order_endpoint: OrderEndpoint
    weight_budget: float  # fraction of the weight limit polite users stay under
    weight_limit: int
    weight_window_s: int
    recv_window_ms: int | None

    @property
    def weight_budget_units(self) -> float:
        return self.weight_budget * self.weight_limit


# (flag, default, help). Defaults are text, as typed on a command line.
OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--symbols", "", "Comma-separated symbols (default: the exchange's defaults)"),
    ("--streams", "", "Comma-separated stream kinds, e.g. trade,bookTicker,depth@100ms (default: the exchange's)"),
    ("--mode", "probe", "probe: keep the pace whatever the answers; polite: honour Retry-After, stay under budget"),
    ("--ws-host", "", "WebSocket base URL (default: --host with a ws scheme, right for the simulator)"),
    ("--order-burst", "5", "Orders sent at once by a burst trader"),
    ("--order-pause", "2", "Seconds between a burst trader's bursts"),
    ("--order-endpoint", "test", "test: the order-test endpoint; live: real orders (simulator or testnet only)"),
    ("--weight-budget", "0.8", "Fraction of the request-weight limit polite users stay under"),
    ("--weight-limit", "", "Request-weight limit per window (default: the exchange's published limit)"),
    ("--weight-window-s", "", "Length of the request-weight window in seconds (default: the exchange's)"),
    ("--recv-window", "", "Validity window of signed requests in ms (default: the exchange's)"),
)

_registered = False


def register() -> None:
    """Add the options to Locust's parser (once per process; call at locustfile import)."""
    global _registered
    if not _registered:
        events.init_command_line_parser.add_listener(add_arguments)
        _registered = True


def add_arguments(parser: Any, **_: Any) -> None:
    # Directly on the parser: Locust shows only those (not argument groups' options) in the web UI.
    for flag, default, help_text in OPTIONS:
        parser.add_argument(flag, type=str, default=default, help=help_text, include_in_web_ui=True)


def parse_settings(options: Any, adapter: ExchangeAdapter, host: str | None) -> LoadSettings:
    """Validate the options for `adapter`; `host` is the REST base (for the default --ws-host)."""
    limit_default = adapter.rate_limits.get(WEIGHT_LIMIT_KEY) if getattr(adapter, "rate_limits", None) else None
    symbols = _list(_text(options, "symbols")) or adapter.default_symbols
    streams = _list(_text(options, "streams")) or adapter.default_streams
    return LoadSettings(
        symbols=tuple(_symbol(s) for s in _unique(symbols)),
        streams=tuple(_stream(adapter, s) for s in _unique(streams)),
        mode=_choice(options, "mode", Mode),
        ws_host=_ws_host(_text(options, "ws_host"), adapter, host),
        order_burst=_int(options, "order_burst", None, 1, MAX_ORDER_BURST),
        order_pause_s=_float(options, "order_pause", 0.0, math.inf, low_open=False),
        order_endpoint=_choice(options, "order_endpoint", OrderEndpoint),
        weight_budget=_float(options, "weight_budget", 0.0, 1.0, low_open=True),
        weight_limit=_int(options, "weight_limit", limit_default.limit if limit_default else None, 1, None),
        weight_window_s=_int(options, "weight_window_s", limit_default.interval_s if limit_default else None, 1, None),
        recv_window_ms=_recv_window(options, adapter),
    )


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _text(options: Any, dest: str) -> str:
    value = getattr(options, dest, None)
    return "" if value is None else str(value).strip()


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _unique(items: Any) -> list[str]:
    return list(dict.fromkeys(items))


def _symbol(text: str) -> str:
    if not SYMBOL_PATTERN.fullmatch(text):
        raise OptionError(f"--symbols: {text!r} is not a symbol (letters, digits and . _ / - only)")
    return text.upper()


def _stream(adapter: ExchangeAdapter, kind: str) -> str:
    if not adapter.is_stream_kind(kind):
        raise OptionError(f"--streams: {kind!r} is not a {adapter.name} stream kind")
    return kind


E = TypeVar("E", bound=enum.StrEnum)


def _choice(options: Any, dest: str, choices: type[E]) -> E:
    text = _text(options, dest).lower()
    try:
        return choices(text)
    except ValueError:
        allowed = "|".join(c.value for c in choices)
        raise OptionError(f"{_flag(dest)}: expected {allowed}, got {text!r}") from None


def _int(options: Any, dest: str, default: int | None, low: int, high: int | None) -> int:
    text = _text(options, dest)
    if not text:
        if default is None:
            raise OptionError(f"{_flag(dest)}: a value is required (the exchange has no default)")
        return default
    try:
        value = int(text)
    except ValueError:
        raise OptionError(f"{_flag(dest)}: expected a whole number, got {text!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise OptionError(f"{_flag(dest)}: must be {bounds}, got {value}")
    return value


def _float(options: Any, dest: str, low: float, high: float, low_open: bool) -> float:
    text = _text(options, dest)
    try:
        value = float(text)
    except ValueError:
        raise OptionError(f"{_flag(dest)}: expected a number, got {text!r}") from None
    above_low = value > low if low_open else value >= low
    if not (math.isfinite(value) and above_low and value <= high):
        bounds = f"{'(' if low_open else '['}{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise OptionError(f"{_flag(dest)}: must be a number {'in ' if math.isfinite(high) else ''}{bounds}, got {text}")
    return value


def _ws_host(text: str, adapter: ExchangeAdapter, host: str | None) -> str:
    if not text:
        return adapter.ws_base_for(host) if host else ""
    if not re.fullmatch(r"wss?://[^\s/]+(/\S*)?", text):
        raise OptionError(f"--ws-host: expected a ws:// or wss:// URL, got {text!r}")
    return text.rstrip("/")


def _recv_window(options: Any, adapter: ExchangeAdapter) -> int | None:
    if not _text(options, "recv_window") and adapter.recv_window_default_ms is None:
        return None
    return _int(options, "recv_window", adapter.recv_window_default_ms, 1, adapter.recv_window_max_ms)
