"""Cheap WebSocket fan-out, shared by the simulated exchanges' stream servers.

A server builds each event's frame once (`text_frame`) and queues the same bytes for every
subscriber. Queued frames are written to each socket once per event-loop pass, without awaiting,
so one slow reader never holds up the others; a reader whose unsent backlog exceeds
`send_buffer_limit` bytes is cut off (counted as `drops_slow_consumer`). Closing with a close frame
and dropping without one (the client sees 1006) live here too, so every exchange treats its
clients alike. The aiohttp `WebSocketResponse` still reads the client's frames and finishes the
close handshake.
"""

from __future__ import annotations

import asyncio
import struct
from collections import Counter
from collections.abc import Iterable
from typing import Any

from aiohttp import web

# A reader that leaves more than this many bytes unsent in its socket buffer is disconnected.
SEND_BUFFER_LIMIT_BYTES = 1 << 20
# How long a server-initiated close waits for the client's close frame.
CLOSE_HANDSHAKE_TIMEOUT_S = 2.0

OPCODE_TEXT = 0x1
OPCODE_PING = 0x9
OPCODE_PONG = 0xA


def text_frame(text: str) -> bytes:
    """An unmasked, uncompressed WebSocket text frame (server to client), ready to write as is."""
    return frame(OPCODE_TEXT, text.encode())


def frame(opcode: int, payload: bytes) -> bytes:
    """A final (FIN) server frame with `opcode`: text, ping or pong."""
    first_byte = 0x80 | opcode
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", first_byte, size)
    elif size < 65_536:
        header = struct.pack("!BBH", first_byte, 126, size)
    else:
        header = struct.pack("!BBQ", first_byte, 127, size)
    return header + payload


class Peer:
    """One client connection as the fan-out sees it; servers subclass it for their own bookkeeping."""

    __slots__ = ("closing", "outbox", "stalled", "transport", "ws")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        self.ws = ws
        self.transport = transport
        self.outbox: list[bytes] = []
        self.closing = False
        self.stalled = False  # fault injection: the connection stays open but nothing more is sent on it


class FanOut:
    """Per-connection frame queues flushed once per event-loop pass. Call `bind` from the running loop first."""

    def __init__(self, ws_stats: Counter[str], send_buffer_limit: int = SEND_BUFFER_LIMIT_BYTES) -> None:
        self.ws_stats = ws_stats
        self.send_buffer_limit = send_buffer_limit
        self._dirty: list[Peer] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing_tasks: set[asyncio.Task[Any]] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def enqueue(self, peer: Peer, data: bytes) -> None:
        """Queue a frame for `peer` without scheduling the flush: call `schedule_flush` after a batch."""
        if not peer.outbox:
            self._dirty.append(peer)
        peer.outbox.append(data)

    def send(self, peer: Peer, data: bytes) -> None:
        """Queue one frame for `peer`; it goes out with this event-loop pass's flush."""
        self.enqueue(peer, data)
        self.schedule_flush()

    def broadcast(self, peers: Iterable[Peer], data: bytes) -> int:
        """Queue the same frame for every peer; return how many got it."""
        count = 0
        for peer in peers:
            if not peer.outbox:
                self._dirty.append(peer)
            peer.outbox.append(data)
            count += 1
        self.schedule_flush()
        return count

    def schedule_flush(self) -> None:
        if not self._flush_scheduled and self._dirty and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for peer in dirty:
            self.write(peer)

    def write(self, peer: Peer) -> None:
        """Write what is queued for `peer` now; cut it off if its unsent backlog is over the limit."""
        frames = peer.outbox
        if not frames:
            return
        peer.outbox = []
        transport = peer.transport
        if peer.closing or peer.stalled or transport.is_closing():
            return
        transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
        if transport.get_write_buffer_size() > self.send_buffer_limit:
            self.ws_stats["drops_slow_consumer"] += 1
            self.drop(peer)

    def close(self, peer: Peer, code: int, reason: str) -> None:
        """Send what is queued, then a close frame; the connection's handler finishes the handshake."""
        if peer.closing:
            return
        self.write(peer)
        peer.closing = True
        task = asyncio.get_running_loop().create_task(peer.ws.close(code=code, message=reason.encode()))
        self._closing_tasks.add(task)
        task.add_done_callback(self._closing_tasks.discard)

    def drop(self, peer: Peer) -> None:
        """Cut the connection without a close frame (the client sees an abnormal closure, 1006)."""
        if peer.closing:
            return
        peer.closing = True
        peer.transport.abort()

    async def wait_closed(self) -> None:
        """Wait (bounded) for the close handshakes started by `close`."""
        if self._closing_tasks:
            await asyncio.wait(set(self._closing_tasks), timeout=CLOSE_HANDSHAKE_TIMEOUT_S + 1)
