"""Binance's rate limits as the simulator applies them.

REQUEST_WEIGHT and RAW_REQUESTS count per client IP, ORDERS per account (API key), all in
epoch-aligned fixed windows. An IP that keeps sending while limited is banned with escalating bans.
Header names are derived once from the configured windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exchanges.base import WindowLimit
from exchanges.binance import INTERVAL_NAMES, interval_suffix, order_count_header, used_weight_header
from simulator.limits import BanTracker, FixedWindowCounter

if TYPE_CHECKING:
    from simulator.binance.config import BinanceConfig

_LIMIT_TYPES = {"request_weight": "REQUEST_WEIGHT", "raw_requests": "RAW_REQUESTS"}  # anything else: ORDERS


def interval_enum(interval_s: int) -> tuple[str, int]:
    """exchangeInfo's (interval, intervalNum) for a window: 60 -> ("MINUTE", 1), 10 -> ("SECOND", 10)."""
    suffix = interval_suffix(interval_s)
    return INTERVAL_NAMES[suffix[-1]], int(suffix[:-1])


def _per(window: WindowLimit) -> str:
    interval, num = interval_enum(window.interval_s)
    return f"{num} {interval}"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A request refused by a rate limit or a ban."""

    status: int  # 429 or 418
    code: int
    msg: str
    retry_after_s: int
    new_ban: bool = False  # this answer imposed the ban


class Limiter:
    """Binance's limits: request weight and order counts per window, and IP bans for clients that keep going."""

    def __init__(self, config: BinanceConfig) -> None:
        limits = config.rate_limits
        self.weight_limit = limits["request_weight"]
        self.raw_limit = limits["raw_requests"]
        self.weight = FixedWindowCounter(self.weight_limit.limit, self.weight_limit.interval_s)
        self.raw = FixedWindowCounter(self.raw_limit.limit, self.raw_limit.interval_s)
        self.weight_header = used_weight_header(self.weight_limit.interval_s)
        self.order_windows = [
            (FixedWindowCounter(w.limit, w.interval_s), order_count_header(w.interval_s), w)
            for name, w in limits.items()
            if name not in _LIMIT_TYPES
        ]
        self.bans = BanTracker(config.bans.first_ban_s, config.bans.max_ban_s, config.bans.limited_requests_before_ban)
        self._weight_msg = (
            f"Too much request weight used; current limit is {self.weight_limit.limit} request weight per "
            f"{_per(self.weight_limit)}. Please use WebSocket Streams for live updates to avoid polling the API."
        )
        self._raw_msg = (
            f"Too many requests; current limit is {self.raw_limit.limit} requests per {_per(self.raw_limit)}."
        )
        self.rate_limits_info = [
            {
                "rateLimitType": _LIMIT_TYPES.get(name, "ORDERS"),
                "interval": interval_enum(w.interval_s)[0],
                "intervalNum": interval_enum(w.interval_s)[1],
                "limit": w.limit,
            }
            for name, w in limits.items()
        ]

    def over_limit(self, ip: str, used_weight: int, raw_requests: int, now: float) -> Rejection:
        """The answer to a request that broke an IP limit: 429, or 418 and a ban once the IP keeps going."""
        counter, msg = (self.weight, self._weight_msg) if used_weight > self.weight.limit else (self.raw, self._raw_msg)
        reset_in = counter.reset_in(now)
        banned_until = self.bans.strike(ip, now, now + reset_in)
        if banned_until is not None:
            return self.banned(banned_until, now, new_ban=True)
        return Rejection(429, -1003, msg, math.ceil(reset_in))

    @staticmethod
    def banned(until: float, now: float, new_ban: bool = False) -> Rejection:
        msg = (
            f"Way too much request weight used; IP banned until {int(until * 1000)}. "
            "Please use WebSocket Streams for live updates to avoid bans."
        )
        return Rejection(418, -1003, msg, math.ceil(until - now), new_ban)

    def order_rejection(self, api_key: str, now: float) -> Rejection | None:
        """429 / -1015 when placing one more order would break an ORDERS window of the account."""
        for counter, _header, window in self.order_windows:
            if counter.used(api_key, now) >= counter.limit:
                msg = f"Too many new orders; current limit is {window.limit} orders per {_per(window)}."
                return Rejection(429, -1015, msg, math.ceil(counter.reset_in(now)))
        return None

    def count_order(self, api_key: str, now: float) -> None:
        for counter, _header, _window in self.order_windows:
            counter.add(api_key, 1, now)

    def order_filled(self, api_key: str, now: float) -> None:
        """An order's first fill gives one order back in every ORDERS window, never below zero
        (faqs/order_count_decrement.md)."""
        for counter, _header, _window in self.order_windows:
            if counter.used(api_key, now) > 0:
                counter.add(api_key, -1, now)

    def ws_rate_limits(self, used_weight: int, api_key: str | None, now: float) -> list[dict[str, object]]:
        """The WS API's `rateLimits`: the IP's request weight and, for order placements, the account's ORDERS counts."""
        interval, num = interval_enum(self.weight_limit.interval_s)
        limits: list[dict[str, object]] = [{"rateLimitType": "REQUEST_WEIGHT", "interval": interval, "intervalNum": num,
                                            "limit": self.weight_limit.limit, "count": used_weight}]
        if api_key is not None:
            for counter, _header, window in self.order_windows:
                interval, num = interval_enum(window.interval_s)
                limits.append({"rateLimitType": "ORDERS", "interval": interval, "intervalNum": num,
                               "limit": window.limit, "count": counter.used(api_key, now)})
        return limits

    def order_headers(self, api_key: str, now: float) -> dict[str, str]:
        return {header: str(counter.used(api_key, now)) for counter, header, _window in self.order_windows}
