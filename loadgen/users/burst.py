"""The base of order-burst users: --order-burst signed orders sent at once, then --order-pause seconds."""

from __future__ import annotations

import logging
from typing import Any

import gevent
from gevent.pool import Group
from locust import task
from locust.env import Environment
from locust.exception import StopUser

from loadgen.options import OptionError
from loadgen.runtime import check_live_orders, exchange_runtime
from loadgen.users.request_events import fire, unexpected
from loadgen.users.rest import ExchangeRestUser

logger = logging.getLogger(__name__)


class BurstUser(ExchangeRestUser):
    """Each task run is one burst: `prepare_burst` once (e.g. read the price), then `send_order` in one
    greenlet per order, all at once; the Locust response time of each order is its round trip.

    Subclasses implement `prepare_burst` and `send_order`."""

    abstract = True
    needs_credentials = True

    def __init__(self, environment: Environment) -> None:
        runtime = exchange_runtime(environment, self.adapter)
        if runtime is not None:  # the HTTP pool must let a whole burst out at once
            self.concurrency = max(type(self).concurrency, runtime.settings.order_burst)
        super().__init__(environment)
        self._orders = Group()
        self._logged: set[str] = set()

    def on_start(self) -> None:
        super().on_start()
        if self.refused:
            return
        try:
            check_live_orders(self.adapter, self.runtime.settings, self.host)
        except OptionError as e:
            self.refuse(str(e))
            return
        self.clock_offset_ms = self.measure_clock_offset()

    def on_stop(self) -> None:
        self._orders.kill(block=True, timeout=5)

    def wait_time(self) -> float:
        return self.runtime.settings.order_pause_s

    def prepare_burst(self) -> Any | None:
        """What every order of the next burst needs (symbol, price, ...); None skips this burst."""
        raise NotImplementedError

    def send_order(self, plan: Any, index: int) -> None:
        """Send order number `index` of a burst with `self.request` (which records the outcome)."""
        raise NotImplementedError

    @task
    def burst(self) -> None:
        plan = self.prepare_burst()
        if plan is None:
            return
        orders = [self._orders.spawn(self._send, plan, i) for i in range(self.runtime.settings.order_burst)]
        gevent.joinall(orders)

    def _send(self, plan: Any, index: int) -> None:
        try:
            self.send_order(plan, index)
        except StopUser:  # banned: the user is stopping (after this burst)
            return
        except Exception as e:  # our own code failed: count it, never lose it in the greenlet
            if type(e).__name__ not in self._logged:
                self._logged.add(type(e).__name__)
                logger.exception("%s: sending an order failed", self.adapter.name)
            fire(self.environment, "ORDER", self.stats_prefix + "burst", None, verdict=unexpected(e))
