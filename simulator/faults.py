"""Injected faults: gateway errors, added latency and connection resets, decided per request by a seeded RNG;
and, for tests and diagnostics, CPU burnt in every request to saturate the simulator itself.

Faults act in front of the exchange, like a load balancer would: a faulted request uses no rate
limit and carries no exchange headers. `FaultInjector.wrap` returns the handler unchanged when no
HTTP fault is configured, so the normal path pays nothing. WebSocket drops are decided by the
WebSocket server with `rng` and `config.ws_drop_per_min`.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING

from aiohttp import web

from simulator.stats import ExchangeStats

if TYPE_CHECKING:
    from simulator.common_config import FaultsConfig

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a TCP RST


class FaultInjector:
    def __init__(self, config: FaultsConfig, stats: ExchangeStats) -> None:
        self.config = config
        self.stats = stats
        self.rng = random.Random(config.seed)

    def reset_now(self) -> bool:
        """Whether to reset this request's connection (counted)."""
        if self.config.reset_rate > 0 and self.rng.random() < self.config.reset_rate:
            self.stats.faults["reset"] += 1
            return True
        return False

    def delay_s(self) -> float:
        """The latency to add to this request, in seconds (counted when positive)."""
        delay_ms = self.config.latency_ms
        if self.config.latency_jitter_ms > 0:
            delay_ms += self.rng.uniform(0.0, self.config.latency_jitter_ms)
        if delay_ms > 0:
            self.stats.faults["latency"] += 1
        return delay_ms / 1000.0

    def error_status(self) -> int | None:
        """A gateway error status to answer this request with, or None (counted)."""
        if self.config.error_rate > 0 and self.rng.random() < self.config.error_rate:
            self.stats.faults["http_5xx"] += 1
            return self.rng.choice(self.config.error_statuses)
        return None

    def wrap(self, handler: Handler, endpoint: str) -> Handler:
        """`handler` with the configured HTTP faults in front of it (unchanged when there are none)."""
        if not self.config.http_active:
            return handler

        async def faulty(request: web.Request) -> web.StreamResponse:
            if self.config.cpu_burn_ms > 0:
                self.stats.faults["cpu_burn"] += 1
                burn_cpu(self.config.cpu_burn_ms / 1000.0)
            if self.reset_now():
                self.stats.requests_total += 1
                self.stats.by_endpoint[endpoint] += 1
                reset_connection(request)
                return web.Response()  # never sent: aiohttp drops writes to the closed transport quietly
            delay = self.delay_s()
            if delay > 0:
                await asyncio.sleep(delay)
            status = self.error_status()
            if status is not None:
                self.stats.record(endpoint, status)
                return gateway_error(status)
            return await handler(request)

        return faulty


def burn_cpu(seconds: float) -> None:
    """Keep this thread busy until it has used `seconds` of CPU time, blocking the event loop meanwhile."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def reset_connection(request: web.Request) -> None:
    """Drop the client's TCP connection with a reset, without answering."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()


def gateway_error(status: int) -> web.Response:
    """An HTML error page like the one a load balancer answers with."""
    title = f"{status} {HTTPStatus(status).phrase}"
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    return web.Response(status=status, text=body, content_type="text/html")


def chance_within(per_min: float, elapsed_s: float) -> float:
    """The chance that a fault expected `per_min` times a minute (per connection) happens within `elapsed_s`."""
    return 1.0 - math.exp(-per_min / 60.0 * elapsed_s) if per_min > 0 else 0.0
