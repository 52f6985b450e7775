"""Bybit's limits as the simulator applies them.

- The HTTP IP limit: `ip_limit.requests` per `ip_limit.window_s` per client IP over every endpoint (windows aligned
  to the epoch; Bybit does not say how its 5 s window is aligned). The request over it is answered HTTP 403 and the
  IP is banned for `ip_limit.ban_s`: every request in the ban is answered 403 too, and none counts on the window.
- The API rate limit: per UID and endpoint, `uid_limits_per_s[endpoint]` requests per second (windows of one
  second aligned to the epoch; Bybit's is a rolling second). Over it: retCode 10006 with HTTP 200. Its usage is
  reported in `X-Bapi-Limit`, `X-Bapi-Limit-Status` and `X-Bapi-Limit-Reset-Timestamp`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from simulator.limits import FixedWindowCounter

if TYPE_CHECKING:
    from simulator.bybit.config import BybitConfig


class Limiter:
    def __init__(self, config: BybitConfig) -> None:
        ip = config.ip_limit
        self.ip_window = FixedWindowCounter(ip.requests, ip.window_s)
        self.ban_s = ip.ban_s
        self._banned_until: dict[str, float] = {}
        self.uid_limits = dict(config.uid_limits_per_s)
        self._uid_windows = {name: FixedWindowCounter(limit, 1) for name, limit in self.uid_limits.items()}

    def banned(self, ip: str, now: float) -> bool:
        until = self._banned_until.get(ip)
        if until is None:
            return False
        if until <= now:
            del self._banned_until[ip]
            return False
        return True

    def admit_ip(self, ip: str, now: float) -> bool:
        """Count one request from `ip`; False when it is banned or this request goes over (which bans it)."""
        if self.banned(ip, now):
            return False
        if self.ip_window.add(ip, 1, now) > self.ip_window.limit:
            self._banned_until[ip] = now + self.ban_s
            return False
        return True

    def admit_uid(self, uid: str, endpoint: str, now: float) -> tuple[bool, dict[str, str]]:
        """Count one request of `uid` to `endpoint`: whether it is within the limit, and the limit headers."""
        window = self._uid_windows.get(endpoint)
        if window is None:
            return True, {}
        used = window.add(uid, 1, now)
        allowed = used <= window.limit
        reset_ms = math.ceil((now + window.reset_in(now)) * 1000) if not allowed else int(now * 1000)
        headers = {
            "X-Bapi-Limit": str(window.limit),
            "X-Bapi-Limit-Status": str(max(0, window.limit - used)),
            "X-Bapi-Limit-Reset-Timestamp": str(reset_ms),
        }
        return allowed, headers
