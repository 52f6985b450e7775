"""Reading a WebSocket client connection's frames many per socket read.

websocket-client reads each frame with two or three `recv` calls (header, length, payload) and a
dozen Python calls around them. `FrameReader` reads whatever the socket holds (up to `chunk_size`
bytes) and cuts every complete frame out of it: one system call and one gevent wait for a whole batch
of stream messages. It checks frames as websocket-client does (reserved bits, opcodes, control frames,
continuation order) and raises the same exceptions; UTF-8 is left to whoever decodes the text.
"""

from __future__ import annotations

import socket

from websocket import ABNF, WebSocketConnectionClosedException, WebSocketProtocolException

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DATA_OPCODES = frozenset({TEXT, BINARY})
CONTROL_OPCODES = frozenset({CLOSE, PING, PONG})
MAX_CONTROL_PAYLOAD = 125
CHUNK_SIZE = 1 << 16

Frame = tuple[int, bytes]  # (opcode, payload): a whole data message (fragments joined) or a control frame


class FrameReader:
    """The frames arriving on `sock` (an open client connection, past its handshake)."""

    def __init__(self, sock: socket.socket, chunk_size: int = CHUNK_SIZE) -> None:
        self._sock = sock
        self._chunk_size = chunk_size
        self._partial: list[bytes] = []  # bytes of a frame not complete yet ...
        self._partial_size = 0
        self._needed = 0  # ... and how many it takes before parsing can go on
        self._fragments: list[bytes] = []  # a fragmented message so far ...
        self._fragment_opcode = 0  # ... and its opcode

    def read(self) -> list[Frame]:
        """Wait for data and return every frame it completes (at least one). Raises TimeoutError when the
        socket's timeout passes, WebSocketConnectionClosedException when the peer closed the TCP connection."""
        while True:
            data = self._sock.recv(self._chunk_size)
            if not data:
                raise WebSocketConnectionClosedException("Connection to remote host was lost.")
            if self._partial:
                self._partial.append(data)
                self._partial_size += len(data)
                if self._partial_size < self._needed:
                    continue
                data = b"".join(self._partial)
                self._partial = []
            frames = self._parse(data)
            if frames:
                return frames

    def _parse(self, buffer: bytes) -> list[Frame]:
        frames: list[Frame] = []
        size = len(buffer)
        pos = 0
        while True:
            available = size - pos
            if available < 2:
                needed = 2
                break
            first, second = buffer[pos], buffer[pos + 1]
            length = second & 0x7F
            header = 2
            if length == 126:
                header = 4
            elif length == 127:
                header = 10
            masked = second & 0x80
            if masked:
                header += 4
            if available < header:
                needed = header
                break
            if length == 126:
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
            elif length == 127:
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
            end = pos + header + length
            if end > size:
                needed = header + length
                break
            payload = buffer[pos + header : end]
            if masked:  # servers do not mask; websocket-client unmasks anyway
                payload = ABNF.mask(buffer[pos + header - 4 : pos + header], payload)
            pos = end
            frame = self._frame(first, payload)
            if frame is not None:
                frames.append(frame)
        if pos < size:
            self._partial = [buffer[pos:]]
            self._partial_size = size - pos
            self._needed = needed
        return frames

    def _frame(self, first: int, payload: bytes) -> Frame | None:
        """The frame to hand over, None while a fragmented message is incomplete; protocol errors raise."""
        if first & 0x70:
            raise WebSocketProtocolException("rsv is not implemented, yet")
        opcode = first & 0x0F
        fin = first & 0x80
        if opcode in DATA_OPCODES:
            if self._fragments:
                raise WebSocketProtocolException("Illegal frame")
            if fin:
                return opcode, payload
            self._fragment_opcode = opcode
            self._fragments.append(payload)
            return None
        if opcode == CONTINUATION:
            if not self._fragments:
                raise WebSocketProtocolException("Illegal frame")
            self._fragments.append(payload)
            if not fin:
                return None
            message, self._fragments = b"".join(self._fragments), []
            return self._fragment_opcode, message
        if opcode not in CONTROL_OPCODES:
            raise WebSocketProtocolException(f"Invalid opcode {opcode!r}")
        if not fin or len(payload) > MAX_CONTROL_PAYLOAD or (opcode == CLOSE and len(payload) == 1):
            raise WebSocketProtocolException("Invalid control frame.")
        return opcode, payload
