"""The simulator's configuration: a TOML file read into typed, validated dataclasses.

Every value has a default (each exchange's from its adapter in `exchanges/`); a file only names what it changes.
Unknown keys, wrong types and out-of-range values raise `ConfigError` with a one-line message
that names the offending key.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from http import HTTPStatus
from typing import Any

from exchanges.base import WindowLimit
from exchanges.binance import FIRST_BAN_S, MAX_BAN_S, RATE_LIMITS, WS_LIMITS, WsLimits
from exchanges.coinbase import TOKEN_BUCKETS, TokenBucketLimit
from exchanges.coinbase import WS_LIMITS as COINBASE_WS_LIMITS
from exchanges.coinbase import WsLimits as CoinbaseWsLimits
from exchanges.kraken import DEFAULT_TIER, LOCKOUT, PUBLIC_LIMIT, TIERS, CounterLimit, Lockout, TierLimits
from exchanges.kraken import WS_LIMITS as KRAKEN_WS_LIMITS
from exchanges.kraken import WsLimits as KrakenWsLimits
from simulator.binance.symbols import default_balances
from simulator.coinbase.products import default_balances as coinbase_default_balances
from simulator.kraken.pairs import default_balances as kraken_default_balances


class ConfigError(ValueError):
    """A problem with the configuration, described in one line."""


@dataclass(frozen=True, slots=True)
class BanConfig:
    first_ban_s: int = FIRST_BAN_S  # the first IP ban; each new ban doubles it
    max_ban_s: int = MAX_BAN_S
    # Requests a client may send while rate-limited (each answered 429) before the next one bans its IP (418).
    limited_requests_before_ban: int = 10


@dataclass(frozen=True, slots=True)
class FaultsConfig:
    error_rate: float = 0.0  # share of requests answered by the "gateway" with one of error_statuses
    error_statuses: tuple[int, ...] = (502, 503, 504)
    latency_ms: float = 0.0  # added to every request ...
    latency_jitter_ms: float = 0.0  # ... plus a uniform random 0..latency_jitter_ms
    reset_rate: float = 0.0  # share of requests whose connection is reset without an answer
    ws_drop_per_min: float = 0.0  # expected abnormal WebSocket closes per connection and minute
    ws_stall_per_min: float = 0.0  # expected stalls per connection and minute: open, but silent from then on
    # Test/diagnostic: CPU time every request burns in the event loop, to saturate the simulator on purpose.
    cpu_burn_ms: float = 0.0
    seed: int = 42

    @property
    def http_active(self) -> bool:
        """Whether any HTTP fault is configured (if not, requests take no fault path at all)."""
        return (self.error_rate > 0 or self.latency_ms > 0 or self.latency_jitter_ms > 0 or self.reset_rate > 0
                or self.cpu_burn_ms > 0)


@dataclass(frozen=True, slots=True)
class CapacityConfig:
    """The venue's capacity (`simulator.capacity`): one FIFO server per queue; 0 rates mean unlimited."""

    requests_per_s: float = 0.0  # service rate of the REST gateway (0: unlimited, no queue at all)
    queue: int = 200  # requests waiting (beyond the one in service) before new ones are refused (venue's busy answer)
    timeout_ms: float = 0.0  # a request that would wait longer is answered 504 after this long (0: no timeout)
    orders_per_s: float = 0.0  # service rate of a separate order queue (0: orders share the REST gateway's)
    # A WebSocket consumer whose oldest unsent event is older than this is disconnected (0: off).
    ws_backlog_s: float = 0.0
    seed: int = 42  # seeds the service times


@dataclass(frozen=True, slots=True)
class BinanceConfig:
    seed: int = 42  # the market's random walk
    tick_ms: int = 100  # one market step (trades, book changes) every tick_ms
    rate_limits: Mapping[str, WindowLimit] = field(default_factory=lambda: dict(RATE_LIMITS))
    bans: BanConfig = BanConfig()
    ws: WsLimits = WS_LIMITS
    faults: FaultsConfig = FaultsConfig()
    capacity: CapacityConfig = CapacityConfig()
    balances: Mapping[str, float] = field(default_factory=default_balances)  # the demo account's start


@dataclass(frozen=True, slots=True)
class CoinbaseConfig:
    seed: int = 43  # the market's random walk
    tick_ms: int = 100  # one market step (trades, book changes, feed messages) every tick_ms
    # Token buckets: "public" per IP, "private" per profile, "fills" (private /fills) per profile.
    rate_limits: Mapping[str, TokenBucketLimit] = field(default_factory=lambda: dict(TOKEN_BUCKETS))
    ws: CoinbaseWsLimits = COINBASE_WS_LIMITS
    faults: FaultsConfig = FaultsConfig()
    capacity: CapacityConfig = CapacityConfig()
    balances: Mapping[str, float] = field(default_factory=coinbase_default_balances)  # the demo profile's start


@dataclass(frozen=True, slots=True)
class KrakenRateLimits:
    tier: str = DEFAULT_TIER  # which of `tiers` the demo account has
    # Per tier: the REST call counter per API key, the trading counter per key and pair, open orders per pair.
    tiers: Mapping[str, TierLimits] = field(default_factory=lambda: dict(TIERS))
    public: CounterLimit = PUBLIC_LIMIT  # public calls per IP (Trades, OHLC: per IP and pair)


@dataclass(frozen=True, slots=True)
class KrakenConfig:
    seed: int = 44  # the market's random walk
    tick_ms: int = 100  # one market step (trades, book changes, stream messages) every tick_ms
    rate_limits: KrakenRateLimits = KrakenRateLimits()
    # How far below the highest nonce seen a new nonce is still accepted (Kraken's per-key setting; 0: none).
    nonce_window: int = 0
    lockout: Lockout = LOCKOUT
    ws: KrakenWsLimits = KRAKEN_WS_LIMITS
    faults: FaultsConfig = FaultsConfig()
    capacity: CapacityConfig = CapacityConfig()
    balances: Mapping[str, float] = field(default_factory=kraken_default_balances)  # the demo account's start


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    binance: BinanceConfig = BinanceConfig()
    coinbase: CoinbaseConfig = CoinbaseConfig()
    kraken: KrakenConfig = KrakenConfig()


def load_config(path: str | None) -> SimulatorConfig:
    """Read `path` (None: all defaults). Raises ConfigError with a one-line reason."""
    if path is None:
        return SimulatorConfig()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read the file: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}") from None
    return parse_config(data)


def parse_config(data: Mapping[str, Any]) -> SimulatorConfig:
    config = _merge(SimulatorConfig(), data, "")
    _check(config)
    return config


def _merge(default: Any, table: Any, where: str) -> Any:
    """`default` (a dataclass) with the values of `table` converted to the types of its fields."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    names = {f.name for f in fields(default)}
    changes = {}
    for key, value in table.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            raise ConfigError(f"unknown key '{path}'")
        changes[key] = _convert(getattr(default, key), value, path)
    return replace(default, **changes)


def _convert(default: Any, value: Any, where: str) -> Any:
    """`value` as the type of `default`; numbers must not be negative."""
    if is_dataclass(default):
        return _merge(default, value, where)
    if isinstance(default, Mapping):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table")
        merged = dict(default)
        for key, item in value.items():
            if key not in default:
                raise ConfigError(f"unknown key '{where}.{key}' (known: {', '.join(default)})")
            merged[key] = _convert(default[key], item, f"{where}.{key}")
        return merged
    if isinstance(default, tuple):
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{where} must be a non-empty array")
        return tuple(_convert(default[0], item, f"{where}[{i}]") for i, item in enumerate(value))
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        value = float(value)
    if value < 0:
        raise ConfigError(f"{where} must not be negative, got {value!r}")
    return value


def _check(config: SimulatorConfig) -> None:
    """Rules that span values or go beyond 'not negative'."""
    binance = config.binance
    _require(binance.tick_ms >= 1, "binance.tick_ms must be at least 1")
    for name, window in binance.rate_limits.items():
        _require(window.interval_s >= 1, f"binance.rate_limits.{name}.interval_s must be at least 1")
    _require(binance.bans.first_ban_s >= 1, "binance.bans.first_ban_s must be at least 1")
    _require(binance.bans.max_ban_s >= binance.bans.first_ban_s, "binance.bans.max_ban_s must be >= first_ban_s")
    _check_faults("binance", binance.faults)
    _check_capacity("binance", binance.capacity)
    for item in fields(binance.ws):
        _require(getattr(binance.ws, item.name) > 0, f"binance.ws.{item.name} must be positive")
    coinbase = config.coinbase
    _require(coinbase.tick_ms >= 1, "coinbase.tick_ms must be at least 1")
    for name, bucket in coinbase.rate_limits.items():
        _require(bucket.rate_per_s > 0, f"coinbase.rate_limits.{name}.rate_per_s must be positive")
        _require(bucket.burst >= 1, f"coinbase.rate_limits.{name}.burst must be at least 1")
    _check_faults("coinbase", coinbase.faults)
    _check_capacity("coinbase", coinbase.capacity)
    for item in fields(coinbase.ws):
        _require(getattr(coinbase.ws, item.name) > 0, f"coinbase.ws.{item.name} must be positive")
    _check_kraken(config.kraken)


def _check_kraken(kraken: KrakenConfig) -> None:
    _require(kraken.tick_ms >= 1, "kraken.tick_ms must be at least 1")
    limits = kraken.rate_limits
    _require(limits.tier in limits.tiers,
             f"kraken.rate_limits.tier must be one of {', '.join(limits.tiers)}, got {limits.tier!r}")
    for name, tier in limits.tiers.items():
        for item in fields(tier):
            _require(getattr(tier, item.name) > 0, f"kraken.rate_limits.tiers.{name}.{item.name} must be positive")
    for item in fields(limits.public):
        _require(getattr(limits.public, item.name) > 0, f"kraken.rate_limits.public.{item.name} must be positive")
    for item in fields(kraken.lockout):
        _require(getattr(kraken.lockout, item.name) > 0, f"kraken.lockout.{item.name} must be positive")
    _check_faults("kraken", kraken.faults)
    _check_capacity("kraken", kraken.capacity)
    for item in fields(kraken.ws):
        _require(getattr(kraken.ws, item.name) > 0, f"kraken.ws.{item.name} must be positive")


def _check_faults(exchange: str, faults: FaultsConfig) -> None:
    _require(faults.error_rate <= 1, f"{exchange}.faults.error_rate must be between 0 and 1")
    _require(faults.reset_rate <= 1, f"{exchange}.faults.reset_rate must be between 0 and 1")
    for status in faults.error_statuses:
        _require(status in _SERVER_ERRORS, f"{exchange}.faults.error_statuses must be HTTP 5xx statuses, got {status}")


def _check_capacity(exchange: str, capacity: CapacityConfig) -> None:
    queued = capacity.requests_per_s > 0 or capacity.orders_per_s > 0
    _require(capacity.timeout_ms == 0 or queued,
             f"{exchange}.capacity.timeout_ms needs requests_per_s or orders_per_s (no queue to time out in)")


_SERVER_ERRORS = frozenset(s.value for s in HTTPStatus if 500 <= s.value <= 599)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
