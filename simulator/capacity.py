"""The venue's capacity: its REST gateway, and optionally its order entry, as FIFO single-server queues.

Each queue is one server working in virtual time, O(1) per request and without worker tasks: `free_at`
is when it finishes the work it has admitted, and the finish times of the admitted requests (a deque)
tell how many are in the system. A request arriving at `t` starts at `max(t, free_at)`, takes a service
time drawn from a seeded exponential with mean `1/rate`, and is handed to the venue's pipeline at its
finish time; the wait is computed from those virtual times, never from when a sleep returned, so a
saturated queue serves exactly `rate` requests a second on average. With Poisson arrivals at `λ` this is
the M/M/1 queue (mean time in system `1/(μ - λ)`), bounded by `queue`: a request that finds `queue`
requests waiting is refused at once with the venue's busy answer (`refuse`), and one whose wait would
exceed `timeout_s` is answered 504 by the gateway after `timeout_s`, without taking the server's time.
Refused and timed-out requests never reach the venue's pipeline, so they use no rate limit.

With no capacity configured, `Capacity.wrap` returns the handler unchanged: the request path pays nothing.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from simulator.faults import gateway_error
from simulator.stats import ExchangeStats

if TYPE_CHECKING:
    from simulator.common_config import CapacityConfig

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Refuse = Callable[[str], web.StreamResponse]  # the venue's busy answer for an endpoint (it records it in the stats)
Sleep = Callable[[float], Awaitable[Any]]

REST, ORDERS = "rest", "orders"  # the queues' names in the stats
REFUSED = -1.0  # `ServiceQueue.admit`: the queue is full
TIMED_OUT = -2.0  # `ServiceQueue.admit`: the wait would exceed the timeout


class ServiceQueue:
    """One FIFO server with exponential service times (mean `1/rate` s) and at most `queue` requests waiting."""

    __slots__ = ("finishes", "free_at", "max_waiting", "name", "queue", "rate", "refused", "rng", "served",
                 "timed_out", "timeout_s", "wait_s_total")

    def __init__(self, name: str, rate: float, queue: int, timeout_s: float, seed: str) -> None:
        self.name = name
        self.rate = rate
        self.queue = queue
        self.timeout_s = timeout_s
        self.rng = random.Random(seed)
        self.free_at = 0.0  # when the server finishes the work admitted so far
        self.finishes: deque[float] = deque()  # finish times of the admitted requests not finished yet, in order
        self.served = 0  # requests handed to the venue after their wait and service
        self.refused = 0
        self.timed_out = 0
        self.max_waiting = 0  # the most requests ever waiting (the one in service not counted)
        self.wait_s_total = 0.0  # time served requests spent waiting, before their service began

    def admit(self, now: float) -> tuple[float, float]:
        """A request arriving at `now`: (seconds until its service ends, seconds of that spent waiting), or
        (REFUSED, 0) when `queue` requests are already waiting, or (TIMED_OUT, 0) when it would wait too long."""
        finishes = self.finishes
        while finishes and finishes[0] <= now:
            finishes.popleft()
        in_system = len(finishes)  # the first is in service, the others wait
        if in_system > self.queue:
            return REFUSED, 0.0
        start = self.free_at if self.free_at > now else now
        wait = start - now
        if self.timeout_s and wait > self.timeout_s:
            return TIMED_OUT, 0.0
        finish = start + self.rng.expovariate(self.rate)
        self.free_at = finish
        finishes.append(finish)
        if in_system > self.max_waiting:  # the new request waits behind all of them
            self.max_waiting = in_system
        return finish - now, wait

    def wait_s(self, now: float) -> float:
        """How long a request arriving at `now` would wait before its service begins."""
        return self.free_at - now if self.free_at > now else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "requests_per_s": self.rate,
            "queue": self.queue,
            "timeout_ms": self.timeout_s * 1000,
            "served": self.served,
            "refused": self.refused,
            "timed_out": self.timed_out,
            "max_waiting": self.max_waiting,
            "wait_ms_total": round(self.wait_s_total * 1000, 3),
            "wait_ms_mean": round(self.wait_s_total * 1000 / self.served, 3) if self.served else 0.0,
        }


class Capacity:
    """A venue's queues, from its `[<venue>.capacity]` table; they show in the stats under "capacity".

    `clock` is monotonic seconds (the event loop's own clock by default), `sleep` waits in it; tests pass fakes.
    """

    def __init__(self, config: CapacityConfig, stats: ExchangeStats, clock: Callable[[], float] = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.config = config
        self.stats = stats
        self.clock = clock
        self.sleep = sleep
        timeout_s = config.timeout_ms / 1000
        self.rest = (ServiceQueue(REST, config.requests_per_s, config.queue, timeout_s, f"{config.seed}:{REST}")
                     if config.requests_per_s > 0 else None)
        self.orders = (ServiceQueue(ORDERS, config.orders_per_s, config.queue, timeout_s, f"{config.seed}:{ORDERS}")
                       if config.orders_per_s > 0 else None)
        for queue in (self.rest, self.orders):
            if queue is not None:
                stats.capacity[queue.name] = queue

    def queue_for(self, order: bool) -> ServiceQueue | None:
        """The queue an endpoint waits in: order entry's own when there is one, else the REST gateway's."""
        if order and self.orders is not None:
            return self.orders
        return self.rest

    @property
    def publish_delay(self) -> Callable[[], float] | None:
        """How late the venue publishes a market-data event now (the REST gateway's current wait: the engine is
        busy); None without a REST capacity."""
        rest, clock = self.rest, self.clock
        if rest is None:
            return None
        return lambda: rest.wait_s(clock())

    def wrap(self, handler: Handler, name: str, refuse: Refuse, *, order: bool = False) -> Handler:
        """`handler` behind its queue (unchanged when it has none). `name` is the endpoint's stats name."""
        queue = self.queue_for(order)
        if queue is None:
            return handler
        clock, sleep, stats, timeout_s = self.clock, self.sleep, self.stats, queue.timeout_s

        async def queued(request: web.Request) -> web.StreamResponse:
            delay, wait = queue.admit(clock())
            if delay == REFUSED:
                queue.refused += 1
                return refuse(name)
            if delay == TIMED_OUT:
                await sleep(timeout_s)
                queue.timed_out += 1
                stats.record(name, 504)
                return gateway_error(504)
            await sleep(delay)
            queue.served += 1
            queue.wait_s_total += wait
            return await handler(request)

        return queued
