"""The configuration every venue shares: `ConfigError`, the `[<venue>.faults]` and `[<venue>.capacity]` sections,
and the checks each venue's config runs on them (`simulator/<venue>/config.py` holds the venue's own section)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from http import HTTPStatus
from typing import Any


class ConfigError(ValueError):
    """A problem with the configuration, described in one line."""


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


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def check_tick(venue: str, tick_ms: int) -> None:
    require(tick_ms >= 1, f"{venue}.tick_ms must be at least 1")


def check_positive(where: str, section: Any) -> None:
    """Every field of the dataclass `section` (e.g. `<venue>.ws`) must be above 0."""
    for item in fields(section):
        require(getattr(section, item.name) > 0, f"{where}.{item.name} must be positive")


def check_faults(venue: str, faults: FaultsConfig) -> None:
    require(faults.error_rate <= 1, f"{venue}.faults.error_rate must be between 0 and 1")
    require(faults.reset_rate <= 1, f"{venue}.faults.reset_rate must be between 0 and 1")
    for status in faults.error_statuses:
        require(status in _SERVER_ERRORS, f"{venue}.faults.error_statuses must be HTTP 5xx statuses, got {status}")


def check_capacity(venue: str, capacity: CapacityConfig) -> None:
    queued = capacity.requests_per_s > 0 or capacity.orders_per_s > 0
    require(capacity.timeout_ms == 0 or queued,
            f"{venue}.capacity.timeout_ms needs requests_per_s or orders_per_s (no queue to time out in)")


_SERVER_ERRORS = frozenset(s.value for s in HTTPStatus if 500 <= s.value <= 599)
