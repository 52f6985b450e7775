"""WebSocket test helpers shared by the simulator's stream tests: serve the whole simulator app in the test's
own event loop, bound a scenario in time, and read JSON messages from a connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from aiohttp import WSMsgType, web

from simulator.app import SIMS, build_app
from simulator.config import parse_config

S = TypeVar("S")


@dataclass
class Served:
    """The simulator app listening on 127.0.0.1:`port`."""

    app: web.Application
    host: str
    port: int

    def sim(self, kind: type[S]) -> S:
        """The venue simulator of class `kind` (to look at its market and stats)."""
        return next(s for s in self.app[SIMS] if isinstance(s, kind))

    def url(self, scheme: str, path: str) -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"


@contextlib.asynccontextmanager
async def serve_simulator(config: Mapping[str, Any]) -> AsyncIterator[Served]:
    """The whole simulator app (market ticks included) configured by `config`, on a free port, in this event loop."""
    app = build_app(parse_config(config))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=3)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield Served(app, host, port)
    finally:
        await runner.cleanup()


def run(scenario: Callable[[], Awaitable[None]], timeout_s: float = 20.0) -> None:
    """Run `scenario` in a new event loop; it fails with TimeoutError after `timeout_s`."""
    async def bounded() -> None:
        await asyncio.wait_for(scenario(), timeout_s)

    asyncio.run(bounded())


async def receive_json(ws: aiohttp.ClientWebSocketResponse, timeout_s: float = 3.0) -> Any:
    """The next message, which must be a text frame, decoded."""
    msg = await ws.receive(timeout=timeout_s)
    assert msg.type is WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def receive_until(ws: aiohttp.ClientWebSocketResponse, accept: Callable[[Any], bool],
                        timeout_s: float = 3.0) -> Any:
    """The first decoded message `accept` takes, skipping the others (each must come within `timeout_s`)."""
    while True:
        message = await receive_json(ws, timeout_s)
        if accept(message):
            return message


async def frames_within(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[aiohttp.WSMessage]:
    """Every frame that arrives in the next `seconds`, whatever its type."""
    messages = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                messages.append(await ws.receive())
    return messages


async def messages_within(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[Any]:
    """Every text message that arrives in the next `seconds`, decoded; stops early at any other frame."""
    messages = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                msg = await ws.receive()
                if msg.type is not WSMsgType.TEXT:
                    break
                messages.append(json.loads(msg.data))
    return messages
