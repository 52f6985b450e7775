"""The multi-exchange failover user: ask every exchange for a price at once, take the fastest good answer.

Each exchange is a venue with its own HTTP client, its own process-wide circuit breaker (always on
here) and everything else of `ExchangeRestUser` (polite mode, backoff, metrics). A venue whose
breaker is open is skipped. The outcome of each round is a `FAILOVER price` row in Locust's stats:
its time is that of the fastest good answer; it fails when no exchange gave one. The winner's
`failover_wins` counter goes up in the exchange metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar
from urllib.parse import urlsplit

import gevent
from gevent.event import AsyncResult
from locust import User, between, task
from locust.env import Environment

from exchanges.base import ExchangeAdapter, FailureKind, Verdict
from loadgen.runtime import exchange_runtime, new_breaker
from loadgen.users.request_events import fire
from loadgen.users.rest import ExchangeRestUser, Reply

REQUEST_TYPE = "FAILOVER"
NONE_ANSWERED = Verdict(False, FailureKind.CONNECTION, message="no exchange gave a price")


@dataclass(frozen=True, slots=True)
class PriceRequest:
    """How to ask one exchange for the price of its first configured symbol."""

    endpoint: str
    params: Callable[[str], Mapping[str, str]]
    parse: Callable[[bytes], Decimal]


class VenueUser(ExchangeRestUser):
    """One exchange as seen by a failover user: never run by Locust itself, only called."""

    abstract = True


def venue_base(host: str, adapter: ExchangeAdapter, all_adapters: list[ExchangeAdapter]) -> str:
    """The exchange's REST base on the simulator given by `host` (its root, or any exchange's base in it)."""
    base = host.rstrip("/")
    path = urlsplit(base).path
    for other in all_adapters:
        if path.endswith(other.hosts.simulator_prefix):
            base = base[: -len(other.hosts.simulator_prefix)]
            break
    return base + adapter.hosts.simulator_prefix


class FailoverUser(User):
    """Subclasses set `price_requests` (exchange name -> PriceRequest) for the exchanges to span."""

    abstract = True
    wait_time = between(0.5, 1.5)
    price_requests: ClassVar[dict[str, PriceRequest]]
    adapters: ClassVar[list[ExchangeAdapter]]

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.venues: list[tuple[VenueUser, PriceRequest]] = []

    def on_start(self) -> None:
        for adapter in self.adapters:
            runtime = exchange_runtime(self.environment, adapter)
            if runtime is None:
                continue
            if runtime.breaker is None:  # failover skips exchanges whose breaker is open: breakers are always on
                runtime.breaker = new_breaker(self.environment, adapter.name, runtime.settings)
            host = venue_base(self.host or "", adapter, self.adapters)
            venue_class = type(f"{adapter.name}Venue", (VenueUser,), {"adapter": adapter, "host": host})
            venue = venue_class(self.environment)
            venue.runtime = runtime
            self.venues.append((venue, self.price_requests[adapter.name]))

    @task
    def price(self) -> None:
        """Ask every venue at once (an open breaker refuses at once, unsent); the first good answer wins."""
        started = time.perf_counter()
        first_good: AsyncResult = AsyncResult()
        asks = [gevent.spawn(self._ask, venue, request, first_good) for venue, request in self.venues]
        everyone = gevent.spawn(gevent.joinall, asks)
        everyone.link(lambda _: first_good.ready() or first_good.set(None))
        winner = first_good.get()
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if winner is None:
            fire(self.environment, REQUEST_TYPE, "price", elapsed_ms, verdict=NONE_ANSWERED)
            return
        winner.runtime.metrics.failover_win()
        fire(self.environment, REQUEST_TYPE, "price", elapsed_ms)
        everyone.join()  # the slower answers still count for their breakers before the next round

    def _ask(self, venue: VenueUser, request: PriceRequest, first_good: AsyncResult) -> None:
        symbol = venue.runtime.settings.symbols[0]
        reply: Reply = venue.request(request.endpoint, request.params(symbol), parse=request.parse)
        if reply.ok and not first_good.ready():
            first_good.set(venue)
