"""Cheap WebSocket fan-out, shared by the simulated exchanges' stream servers.

A server builds each event's frame once (`text_frame`) and queues the same bytes for every
subscriber. Queued frames are written to each socket once per event-loop pass, without awaiting,
so one slow reader never holds up the others; a reader whose unsent backlog exceeds
`send_buffer_limit` bytes is cut off (counted as `drops_slow_consumer`). Closing with a close frame
and dropping without one (the client sees 1006) live here too, so every exchange treats its
clients alike. The aiohttp `WebSocketResponse` still reads the client's frames and finishes the
close handshake.

The venue's capacity (`[<venue>.capacity]`, `simulator.capacity`) acts here in two ways, both off by
default. `publish_delay_s` (the REST gateway's current wait) holds what is queued: while the venue is
busy, frames go out that much later, in order. `backlog_limit_s`: a reader whose oldest unsent frame
(in the simulator's send buffer, which the kernel has not taken) was written longer ago than that is cut
off without a close frame, which could only reach it behind its backlog (also `drops_slow_consumer`).
"""

from __future__ import annotations

import asyncio
import struct
from collections import Counter, deque
from collections.abc import Callable, Iterable
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

    __slots__ = ("closing", "outbox", "stalled", "transport", "unsent_marks", "written", "ws")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        self.ws = ws
        self.transport = transport
        self.outbox: list[bytes] = []
        self.closing = False
        self.stalled = False  # fault injection: the connection stays open but nothing more is sent on it
        # With a backlog limit: bytes written so far, and (bytes written up to, when) of the writes not all sent.
        self.written = 0
        self.unsent_marks: deque[tuple[int, float]] = deque()


Batch = list[tuple[Peer, list[bytes]]]


class FanOut:
    """Per-connection frame queues flushed once per event-loop pass. Call `bind` from the running loop first."""

    def __init__(self, ws_stats: Counter[str], send_buffer_limit: int = SEND_BUFFER_LIMIT_BYTES, *,
                 publish_delay_s: Callable[[], float] | None = None, backlog_limit_s: float = 0.0) -> None:
        self.ws_stats = ws_stats
        self.send_buffer_limit = send_buffer_limit
        self.publish_delay_s = publish_delay_s
        self.backlog_limit_s = backlog_limit_s
        self._dirty: list[Peer] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing_tasks: set[asyncio.Task[Any]] = set()
        self._held: deque[tuple[float, Batch]] = deque()  # (when to send, what): frames the busy venue holds
        self._release: asyncio.TimerHandle | None = None

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
        if not self._dirty or self._loop is None:
            return
        if self.publish_delay_s is not None and self._hold(self._loop):
            return
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _hold(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Hold what is queued for `publish_delay_s()`, after what is held already; False: nothing to wait for."""
        assert self.publish_delay_s is not None
        delay = self.publish_delay_s()
        held = self._held
        if delay <= 0 and not held:
            return False
        send_at = loop.time() + delay
        if held and held[-1][0] > send_at:
            send_at = held[-1][0]
        batch = [(peer, peer.outbox) for peer in self._dirty]
        for peer in self._dirty:
            peer.outbox = []
        self._dirty = []
        held.append((send_at, batch))
        if self._release is None:
            self._release = loop.call_at(held[0][0], self._release_held)
        return True

    def _release_held(self) -> None:
        """Queue the held batches that are due (at least the one the timer was set for) and write them."""
        assert self._loop is not None
        self._release = None
        held, now = self._held, self._loop.time()
        while held:
            self._unhold(held.popleft()[1])
            if held and held[0][0] > now:
                self._release = self._loop.call_at(held[0][0], self._release_held)
                break
        self._flush()

    def _unhold(self, batch: Batch) -> None:
        for peer, frames in batch:
            if peer.closing:
                continue
            if peer.outbox:
                peer.outbox.extend(frames)
            else:
                self._dirty.append(peer)
                peer.outbox = frames

    def _take_held(self, peer: Peer) -> None:
        """Move the frames held for `peer` to its outbox, ahead of what is there (before it is closed)."""
        frames: list[bytes] = []
        for _, batch in self._held:
            for index in range(len(batch) - 1, -1, -1):
                if batch[index][0] is peer:
                    frames[:0] = batch.pop(index)[1]
        if frames:
            peer.outbox = frames + peer.outbox

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
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        transport.write(data)
        unsent = transport.get_write_buffer_size()
        if unsent > self.send_buffer_limit or (self.backlog_limit_s and self._behind(peer, len(data), unsent)):
            self.ws_stats["drops_slow_consumer"] += 1
            self.drop(peer)

    def _behind(self, peer: Peer, size: int, unsent: int) -> bool:
        """Whether `peer`'s oldest unsent byte was written more than `backlog_limit_s` ago (`size` bytes were
        just written, `unsent` are left in the send buffer)."""
        peer.written += size
        marks = peer.unsent_marks
        if not unsent:
            marks.clear()
            return False
        assert self._loop is not None
        now = self._loop.time()
        marks.append((peer.written, now))
        sent = peer.written - unsent
        while marks[0][0] <= sent:  # ends before the first unsent byte: all sent (the last mark never is)
            marks.popleft()
        return now - marks[0][1] > self.backlog_limit_s

    def close(self, peer: Peer, code: int, reason: str) -> None:
        """Send what is queued, then a close frame; the connection's handler finishes the handshake."""
        if peer.closing:
            return
        if self._held:
            self._take_held(peer)
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
