"""OKX's REST limits as the simulator applies them: one fixed window per endpoint (OKX publishes "N requests per
2 seconds"; it does not say how it counts them: the simulator's windows are aligned to the epoch), counted per
client IP (and instrument type), per user ID, or per user ID and instrument ID, as each endpoint's rule says; the
batch endpoints count their orders. A request over its
endpoint's limit is answered 50011 with HTTP 429 and not counted. New orders also count against the sub-account's
limit across instruments (50061, HTTP 200)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from exchanges.okx import IP, IP_INSTRUMENT, USER
from simulator.limits import FixedWindowCounter

if TYPE_CHECKING:
    from simulator.okx.config import OkxConfig


class Limiter:
    def __init__(self, config: OkxConfig) -> None:
        self.rules = {name: limit.rule for name, limit in config.endpoint_limits.items()}
        self.windows = {name: FixedWindowCounter(limit.limit, limit.interval_s)
                        for name, limit in config.endpoint_limits.items()}
        orders = config.sub_account_orders
        self.sub_account = FixedWindowCounter(orders.limit, orders.interval_s)

    def key(self, endpoint: str, ip: str, user: str, instrument: str) -> str:
        """What a request to `endpoint` is counted against."""
        rule = self.rules.get(endpoint, IP)
        if rule == IP:
            return ip
        if rule == IP_INSTRUMENT:
            return f"{ip} {instrument}"
        return user if rule == USER else f"{user} {instrument}"

    def admit(self, endpoint: str, key: str, now: float, amount: int = 1) -> bool:
        """Count a request (`amount`: the orders of a batch) against its endpoint's window; False (nothing counted)
        when it would go over."""
        window = self.windows.get(endpoint)
        if window is None:
            return True
        if window.used(key, now) + amount > window.limit:
            return False
        window.add(key, amount, now)
        return True

    def admit_order(self, user: str, now: float) -> bool:
        if self.sub_account.used(user, now) >= self.sub_account.limit:
            return False
        self.sub_account.add(user, 1, now)
        return True
