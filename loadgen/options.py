"""The exchange users' command-line options (also editable in Locust's web UI) and their validation.

Every option is taken as text and checked by `parse_settings`, so a bad value gives one line
naming the option, whether it came from the command line, a config file or the web UI. An empty
value means "the adapter's default" (symbols, streams, limits, receive window) or, for
`--ws-host`, "derived from --host".
"""

from __future__ import annotations

import argparse
import enum
import math
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from locust import events

from exchanges.base import ExchangeAdapter
from loadgen.pacing.scenarios import SCENARIOS

WEIGHT_LIMIT_KEY = "request_weight"  # the adapter's RATE_LIMITS entry polite users stay under
MAX_ORDER_BURST = 1000
SYMBOL_PATTERN = re.compile(r"[A-Za-z0-9._/-]{1,32}")


class Mode(enum.StrEnum):
    PROBE = "probe"  # keep the configured pace whatever the exchange answers
    POLITE = "polite"  # honour Retry-After and stay under the weight budget


class OrderEndpoint(enum.StrEnum):
    TEST = "test"  # validated by the exchange, never reaches the matching engine
    LIVE = "live"  # real orders: only against the simulator or a testnet


class BanAction(enum.StrEnum):
    STOP_USER = "stop-user"  # the banned user stops; the others go on
    STOP_RUN = "stop-run"  # the whole run stops


class Switch(enum.StrEnum):
    AUTO = "auto"
    ON = "on"
    OFF = "off"


class BackoffChoice(enum.StrEnum):
    AUTO = "auto"  # on in polite mode, retry-after in scenarios that search a limit (ramp), else off
    ON = "on"  # the server's Retry-After or an exponential backoff with jitter, whichever is longer
    OFF = "off"
    RETRY_AFTER = "retry-after"  # the server's Retry-After when it gives one, nothing of its own


ORDER_EVENT_TIMEOUT_S = 5.0


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
    backoff: bool  # pause every user of the exchange on 429 (Retry-After or exponential backoff with jitter)
    honour_retry_after: bool  # ... or at least for the server's Retry-After (--backoff retry-after)
    backoff_base_s: float
    backoff_cap_s: float
    on_ban: BanAction  # what a user with backoff does on a ban (418) instead of waiting it out
    breaker: bool
    breaker_failures: int  # unhealthy answers in a row that open the breaker
    breaker_open_s: float  # how long it stays open before a trial request
    order_event_timeout_s: float = ORDER_EVENT_TIMEOUT_S  # acknowledged, no order event by then: a lost event

    @property
    def weight_budget_units(self) -> float:
        return self.weight_budget * self.weight_limit


@dataclass(frozen=True, slots=True)
class PacingSettings:
    """Open-model pacing, the same for every exchange of a run."""

    target_rps: float | None  # the cluster-wide target given with --target-rps; None: not given
    late_after_s: float  # a paced start this much after its intended time counts as late
    max_lag_s: float  # scheduled starts further behind than this are skipped


# (flag, default, help). Defaults are text, as typed on a command line.
OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--symbols", "", "Comma-separated symbols (default: the exchange's defaults)"),
    ("--streams", "", "Comma-separated stream kinds, e.g. trade,bookTicker,depth@100ms (default: the exchange's)"),
    ("--mode", "probe", "probe: keep the pace whatever the answers; polite: honour Retry-After, stay under budget"),
    ("--ws-host", "", "WebSocket base URL (default: --host with a ws scheme, right for the simulator)"),
    ("--order-burst", "5", "Orders sent at once by a burst trader"),
    ("--order-pause", "2", "Seconds between a burst trader's bursts"),
    ("--order-event-timeout", "5", "Seconds a WebSocket trader waits for an order's answer and first order event; "
     "an acknowledged order with no event by then counts as lost_order_event"),
    ("--order-endpoint", "test", "test: the order-test endpoint; live: real orders (simulator or testnet only)"),
    ("--weight-budget", "0.8", "Fraction of the request-weight limit polite users stay under"),
    ("--weight-limit", "", "Request-weight limit per window (default: the exchange's published limit)"),
    ("--weight-window-s", "", "Length of the request-weight window in seconds (default: the exchange's)"),
    ("--recv-window", "", "Validity window of signed requests in ms (default: the exchange's)"),
    ("--target-rps", "", "Open model: total request rate of paced users across all users and workers "
     "(default: the scenario's; none: users keep their own wait times)"),
    ("--late-start-ms", "50", "A paced request starting this many ms after its intended time counts as a late start"),
    ("--max-start-lag-s", "1", "Scheduled starts further behind than this are skipped (counted, never sent)"),
    ("--backoff", "auto", "On a rate-limit or ban answer (429/418, Kraken's HTTP-200 errors) pause all users of the "
     "exchange: its Retry-After where it sends one, else exponential backoff with jitter (on); only a Retry-After "
     "(retry-after); or not (off). auto: on in polite mode, retry-after in the ramp scenario, else off"),
    ("--backoff-base-s", "1", "First backoff ceiling in seconds; it doubles per rate-limit answer in a row"),
    ("--backoff-cap-s", "60", "Largest backoff in seconds (a server's longer Retry-After still wins)"),
    ("--on-ban", "stop-user", "With backoff on, a ban (Binance 418, Kraken's lockout) stops the user (stop-user) or "
     "the run (stop-run)"),
    ("--breaker", "off", "A circuit breaker per exchange refuses requests while the exchange is failing"),
    ("--breaker-failures", "5", "Unhealthy answers in a row (5xx, timeouts, resets, 429/418) that open the breaker"),
    ("--breaker-open-s", "30", "Seconds the breaker stays open before it lets one trial request through"),
)

# Options with a fixed set of values: a dropdown in the web UI, checked by argparse on the command line.
CHOICES: dict[str, type[enum.StrEnum]] = {
    "--mode": Mode, "--order-endpoint": OrderEndpoint, "--backoff": BackoffChoice, "--on-ban": BanAction,
}
# On/off options: a checkbox in the web UI (a boolean default); `--breaker on|off` on the command line.
SWITCHES = frozenset({"--breaker"})
# Rarely changed: on the command line (and in config files) only, so the web UI's form shows the core options.
NOT_IN_WEB_UI = frozenset({
    "--order-event-timeout", "--weight-window-s", "--recv-window", "--late-start-ms", "--max-start-lag-s",
    "--backoff-base-s", "--backoff-cap-s", "--breaker-failures", "--breaker-open-s",
})

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
        shown = flag not in NOT_IN_WEB_UI
        if flag in SWITCHES:
            parser.add_argument(flag, type=switch_argument, default=on_off(default), metavar="on|off",
                                help=help_text, include_in_web_ui=shown)
        elif flag in CHOICES:
            parser.add_argument(flag, type=str.lower, choices=[c.value for c in CHOICES[flag]], default=default,
                                help=help_text, include_in_web_ui=shown)
        else:
            parser.add_argument(flag, type=str, default=default, help=help_text, include_in_web_ui=shown)
    parser.add_argument(
        "--allow-production", action="store_true", default=False, include_in_web_ui=False,
        help="Against an exchange's production host, allow probe mode, budgets above its published limits and "
        "order-sending users (refused there by default)",
    )


def on_off(value: str | bool) -> bool:
    """An on/off option's value: a bool (the web UI's checkbox) or on|off (auto: off) as text."""
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text not in {c.value for c in Switch}:
        raise ValueError(f"expected on|off, got {text!r}")
    return text == Switch.ON


def switch_argument(text: str) -> bool:
    try:
        return on_off(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def number_option(options: Any, dest: str, low: float, *, integer: bool = False, above: bool = False) -> float:
    """A scenario's number option: at least `low` (above it, with `above`); OptionError in one line otherwise."""
    text = str(getattr(options, dest, "") or "").strip()
    flag = "--" + dest.replace("_", "-")
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise OptionError(f"{flag}: expected {'a whole number' if integer else 'a number'}, got {text!r}") from None
    if not math.isfinite(value) or value < low or (above and value == low):
        raise OptionError(f"{flag}: must be {'a number above' if above else 'at least'} {low:g}, got {text}")
    return value


def parse_settings(options: Any, adapter: ExchangeAdapter, host: str | None) -> LoadSettings:
    """Validate the options for `adapter`; `host` is the REST base (for the default --ws-host)."""
    limit_default = adapter.rate_limits.get(WEIGHT_LIMIT_KEY) if getattr(adapter, "rate_limits", None) else None
    symbols = _list(_text(options, "symbols")) or adapter.default_symbols
    streams = _list(_text(options, "streams")) or adapter.default_streams
    mode = _choice(options, "mode", Mode)
    backoff = _backoff(options, mode)
    base_s = _float(options, "backoff_base_s", 0.0, math.inf, low_open=True)
    cap_s = _float(options, "backoff_cap_s", 0.0, math.inf, low_open=True)
    if cap_s < base_s:
        raise OptionError(f"--backoff-cap-s: must be at least --backoff-base-s ({base_s:g}), got {cap_s:g}")
    return LoadSettings(
        symbols=tuple(_symbol(s) for s in _unique(symbols)),
        streams=tuple(_stream(adapter, s) for s in _unique(streams)),
        mode=mode,
        ws_host=_ws_host(_text(options, "ws_host"), adapter, host),
        order_burst=_int(options, "order_burst", None, 1, MAX_ORDER_BURST),
        order_pause_s=_float(options, "order_pause", 0.0, math.inf, low_open=False),
        order_event_timeout_s=(_float(options, "order_event_timeout", 0.0, math.inf, low_open=True)
                               if _text(options, "order_event_timeout") else ORDER_EVENT_TIMEOUT_S),
        order_endpoint=_choice(options, "order_endpoint", OrderEndpoint),
        weight_budget=_float(options, "weight_budget", 0.0, 1.0, low_open=True),
        weight_limit=_int(options, "weight_limit", limit_default.limit if limit_default else None, 1, None),
        weight_window_s=_int(options, "weight_window_s", limit_default.interval_s if limit_default else None, 1, None),
        recv_window_ms=_recv_window(options, adapter),
        backoff=backoff is BackoffChoice.ON,
        honour_retry_after=backoff in (BackoffChoice.ON, BackoffChoice.RETRY_AFTER),
        backoff_base_s=base_s,
        backoff_cap_s=cap_s,
        on_ban=_choice(options, "on_ban", BanAction),
        breaker=_switch(options, "breaker"),
        breaker_failures=_int(options, "breaker_failures", None, 1, None),
        breaker_open_s=_float(options, "breaker_open_s", 0.0, math.inf, low_open=True),
    )


def parse_pacing(options: Any) -> PacingSettings:
    target = _text(options, "target_rps")
    return PacingSettings(
        target_rps=_float(options, "target_rps", 0.0, math.inf, low_open=True) if target else None,
        late_after_s=_float(options, "late_start_ms", 0.0, math.inf, low_open=False) / 1000.0,
        max_lag_s=_float(options, "max_start_lag_s", 0.0, math.inf, low_open=True),
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


def _switch(options: Any, dest: str) -> bool:
    value = getattr(options, dest, None)
    try:
        return on_off(value if isinstance(value, bool) else _text(options, dest))
    except ValueError as exc:
        raise OptionError(f"{_flag(dest)}: {exc}") from None


def _backoff(options: Any, mode: Mode) -> BackoffChoice:
    choice = _choice(options, "backoff", BackoffChoice)
    if choice is not BackoffChoice.AUTO:
        return choice
    if mode is Mode.POLITE:
        return BackoffChoice.ON
    scenario = SCENARIOS.get(_text(options, "scenario"))
    return BackoffChoice.RETRY_AFTER if scenario is not None and scenario.searches_limit else BackoffChoice.OFF


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
