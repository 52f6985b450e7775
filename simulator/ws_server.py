"""The skeleton every simulated venue's WebSocket server shares; each venue subclasses it with its protocol.

One connection goes through the same steps at every venue:

1. admission (`admit`): the venue's connection limits, answered with its own HTTP refusal before the upgrade;
2. the upgrade (`websocket_response`, or `not_an_upgrade` for a plain HTTP request);
3. `connect` builds the venue's `Connection`, `on_open` greets it (a status message, URL streams, a deadline);
4. the receive loop: every frame the venue counts (`counted_types`) goes through its incoming-rate check
   (`within_rate`, `refuse_rate`), text goes to `on_text`, ping and pong frames to `on_control_frame`;
5. `forget`: `on_forget` drops the venue's subscriptions, then the connection is no longer counted open.

Besides, one housekeeping loop every `housekeeping_period()` seconds injects the faults `ws_drop_per_min`
(cut without a close frame, the client sees 1006) and `ws_stall_per_min` (open, but silent from then on) and
gives every other live connection to `on_housekeep` (pings, heartbeats, lifetimes, timeouts). Server
shutdown sends each open connection the venue's `farewell`, then closes it with 1001 "Server shutdown".

Counters in `sim.stats.ws` kept here: connections_open/_total, messages_sent (by `send_text`),
disconnects_msg_rate; injected faults count in `sim.stats.faults["ws_drop"]` and `["ws_stall"]`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from simulator.faults import chance_within
from simulator.market import SymbolMarket, TickResult
from simulator.ws_fanout import CLOSE_HANDSHAKE_TIMEOUT_S, FanOut, Peer, text_frame

if TYPE_CHECKING:
    from simulator.exchange import ExchangeSim

_ENDED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)
TEXT_TYPES = frozenset((WSMsgType.TEXT, WSMsgType.BINARY))

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def dumps(payload: object) -> str:
    """Compact JSON, as the venues send it."""
    return json.dumps(payload, separators=(",", ":"))


class Connection(Peer):
    """One client connection: its address, when it opened, and its incoming-message window."""

    __slots__ = ("ip", "messages_in_window", "opened_at", "window_start")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport, ip: str, now: float) -> None:
        super().__init__(ws, transport)
        self.ip = ip
        self.opened_at = now  # event-loop time
        self.window_start = now
        self.messages_in_window = 0

    def count_incoming(self, now: float, per_second: int) -> bool:
        """Count one incoming message; False when this second's count goes over `per_second`."""
        if now - self.window_start >= 1.0:
            self.window_start = now
            self.messages_in_window = 0
        self.messages_in_window += 1
        return self.messages_in_window <= per_second


C = TypeVar("C", bound=Connection)


class WsServer(Generic[C]):
    """All WebSocket connections of one simulated venue. Subclasses fill in the hooks below."""

    # Frame types that count against the incoming-message rate and reach the handlers; others are ignored.
    counted_types: ClassVar[frozenset[WSMsgType]] = TEXT_TYPES
    max_message_bytes: ClassVar[int] = 64 * 1024  # the largest frame a client may send

    def __init__(self, sim: ExchangeSim) -> None:
        self.sim = sim
        self.stats = sim.stats
        self.fanout = FanOut(sim.stats.ws, publish_delay_s=sim.capacity.publish_delay,
                             backlog_limit_s=sim.config.capacity.ws_backlog_s)
        self.connections: dict[C, None] = {}
        self._housekeeping: asyncio.Task[None] | None = None

    # --- hooks ------------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, Handler]]:
        """(path, handler) of every GET route the server answers."""
        raise NotImplementedError

    def admit(self, request: web.Request, opening: Any) -> web.StreamResponse | None:
        """The refusal of a connection attempt over the venue's limits; None to let it in."""
        return None

    def websocket_response(self) -> web.WebSocketResponse:
        """The upgraded connection: aiohttp answers protocol pings, frames up to `max_message_bytes` come in."""
        return web.WebSocketResponse(autoping=True, compress=False, max_msg_size=self.max_message_bytes,
                                     timeout=CLOSE_HANDSHAKE_TIMEOUT_S)

    def not_an_upgrade(self) -> web.StreamResponse:
        """The answer to a plain HTTP request on a WebSocket route."""
        return web.Response(status=400, text="Expected a WebSocket upgrade.")

    def connect(self, ws: web.WebSocketResponse, transport: asyncio.Transport, request: web.Request,
                opening: Any) -> C:
        raise NotImplementedError

    def on_open(self, conn: C, opening: Any) -> None:
        """Right after the upgrade, before the first frame is read."""

    def within_rate(self, conn: C) -> bool:
        """Count one incoming message; False when it goes over the venue's rate."""
        return True

    def refuse_rate(self, conn: C) -> None:
        """Answer a connection that sent too many messages (typically: close it with 1008)."""

    def on_text(self, conn: C, text: str) -> None:
        raise NotImplementedError

    def on_control_frame(self, conn: C, msg: WSMessage) -> None:
        """A ping or pong frame, when `counted_types` lets them through."""

    def on_forget(self, conn: C) -> None:
        """The connection has ended: drop its subscriptions and timers."""

    def on_tick(self, sym: SymbolMarket, result: TickResult) -> None:
        """Market listener: publish this tick's messages of one symbol."""

    def on_start(self) -> None:
        """At application startup, before the market listener and housekeeping start."""

    def housekeeping_period(self) -> float:
        return 0.25

    def on_housekeep(self, conn: C, now: float) -> None:
        """Per live connection (not closing, not stalled, not hit by a fault) at every housekeeping pass."""

    def farewell(self, conn: C) -> None:
        """What an open connection gets at server shutdown before its close frame."""

    # --- lifecycle ------------------------------------------------------------------------------

    def mount(self, app: web.Application, key: web.AppKey[Any]) -> None:
        """Answer the server's routes on `app` (as `app[key]`) and hook it into the app's lifecycle."""
        app[key] = self
        for path, handler in self.routes():
            app.router.add_get(path, handler, allow_head=False)
        app.on_startup.append(self.start)
        app.on_shutdown.append(self.shutdown)

    async def start(self, _app: web.Application) -> None:
        self.fanout.bind(asyncio.get_running_loop())
        self.on_start()
        self.sim.market.listeners.append(self.on_tick)
        self._housekeeping = asyncio.create_task(self._housekeep())

    async def shutdown(self, _app: web.Application) -> None:
        """Give every open connection its farewell and a close frame (1001), then wait for the handshakes."""
        if self.on_tick in self.sim.market.listeners:
            self.sim.market.listeners.remove(self.on_tick)
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        for conn in list(self.connections):
            if not conn.closing:
                self.farewell(conn)
                self.close(conn, WSCloseCode.GOING_AWAY, "Server shutdown")
        await self.fanout.wait_closed()

    @property
    def send_buffer_limit(self) -> int:
        """Unsent bytes a reader may leave in its socket buffer before it is disconnected."""
        return self.fanout.send_buffer_limit

    @send_buffer_limit.setter
    def send_buffer_limit(self, value: int) -> None:
        self.fanout.send_buffer_limit = value

    # --- connections ------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        return await self.serve(request, None)

    async def serve(self, request: web.Request, opening: Any) -> web.StreamResponse:
        """One connection from admission to its end; `opening` is what the route says about it, for the hooks."""
        refusal = self.admit(request, opening)
        if refusal is not None:
            return refusal
        ws = self.websocket_response()
        if not ws.can_prepare(request).ok:
            return self.not_an_upgrade()
        await ws.prepare(request)
        transport = request.transport
        if transport is None:
            return ws
        conn = self.connect(ws, transport, request, opening)
        self.connections[conn] = None
        self.stats.ws["connections_total"] += 1
        self.stats.ws["connections_open"] += 1
        try:
            self.on_open(conn, opening)
            await self._receive_loop(conn)
        finally:
            self._forget(conn)
        return ws

    async def _receive_loop(self, conn: C) -> None:
        counted = self.counted_types
        while True:
            msg = await conn.ws.receive()
            kind = msg.type
            if kind in _ENDED:
                return
            if conn.closing or kind not in counted:
                continue
            if not self.within_rate(conn):
                self.stats.ws["disconnects_msg_rate"] += 1
                self.refuse_rate(conn)
                continue
            if kind is WSMsgType.TEXT:
                self.on_text(conn, msg.data)
            elif kind is WSMsgType.BINARY:
                self.on_text(conn, msg.data.decode("utf-8", "replace"))
            else:
                self.on_control_frame(conn, msg)

    def _forget(self, conn: C) -> None:
        conn.closing = True
        self.on_forget(conn)
        conn.outbox.clear()
        if conn in self.connections:
            del self.connections[conn]
            self.stats.ws["connections_open"] -= 1

    def close(self, conn: C, code: int, reason: str) -> None:
        """Send what is queued, then a close frame; the connection's handler finishes the handshake."""
        self.fanout.close(conn, code, reason)

    def drop(self, conn: C) -> None:
        """Cut the connection without a close frame (the client sees an abnormal closure, 1006)."""
        self.fanout.drop(conn)

    # --- sending --------------------------------------------------------------------------------

    def send_text(self, conn: C, text: str) -> None:
        """Queue one message for one connection."""
        self.fanout.send(conn, text_frame(text))
        self.stats.ws["messages_sent"] += 1

    def now_ms(self) -> float:
        return self.sim.clock() * 1000.0

    # --- timers -----------------------------------------------------------------------------------

    async def _housekeep(self) -> None:
        """Injected drops and stalls, then the venue's timers, for all connections in one pass."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.housekeeping_period())
            now = loop.time()
            elapsed, last = now - last, now
            faults = self.sim.config.faults
            drop_chance = chance_within(faults.ws_drop_per_min, elapsed)
            stall_chance = chance_within(faults.ws_stall_per_min, elapsed)
            rng = self.sim.faults.rng
            for conn in list(self.connections):
                if conn.closing or conn.stalled:  # a stalled connection gets no pings or heartbeats: it is silent
                    continue
                if drop_chance and rng.random() < drop_chance:
                    self.sim.stats.faults["ws_drop"] += 1
                    self.drop(conn)
                elif stall_chance and rng.random() < stall_chance:
                    self.sim.stats.faults["ws_stall"] += 1
                    conn.stalled = True
                else:
                    self.on_housekeep(conn, now)
