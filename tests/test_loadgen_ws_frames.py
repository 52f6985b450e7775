"""The batched WebSocket frame reader: whole frames out of any split of the bytes, fragments joined,
control frames in order, and websocket-client's protocol checks."""

import os
import socket

import pytest
from websocket import WebSocketConnectionClosedException, WebSocketProtocolException

from loadgen.users.ws_frames import BINARY, CLOSE, CONTINUATION, PING, TEXT, FrameReader


def frame(opcode: int, payload: bytes, fin: bool = True, mask: bytes | None = None, rsv: int = 0) -> bytes:
    n = len(payload)
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if mask else 0
    if n < 126:
        header = bytes([first, mask_bit | n])
    elif n < 65536:
        header = bytes([first, mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, mask_bit | 127]) + n.to_bytes(8, "big")
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        header += mask
    return header + payload


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    ours.settimeout(2)
    yield ours, theirs
    ours.close()
    theirs.close()


def read_all(reader: FrameReader, count: int) -> list[tuple[int, bytes]]:
    frames: list[tuple[int, bytes]] = []
    while len(frames) < count:
        frames += reader.read()
    return frames


def test_every_frame_a_read_completes_comes_out_at_once_in_order(pair):
    ours, theirs = pair
    theirs.sendall(frame(TEXT, b'{"a":1}') + frame(BINARY, b"\x00\x01") + frame(PING, b"hi") + frame(TEXT, b"x"))
    assert FrameReader(ours).read() == [(TEXT, b'{"a":1}'), (BINARY, b"\x00\x01"), (PING, b"hi"), (TEXT, b"x")]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70_000])
def test_any_split_of_the_bytes_gives_the_same_frames(pair, size):
    ours, theirs = pair
    payload = os.urandom(size)
    data = frame(BINARY, payload) + frame(TEXT, b"after")
    reader = FrameReader(ours, chunk_size=1 if size < 1000 else 4096)  # header, length and payload cut apart
    theirs.sendall(data)
    assert read_all(reader, 2) == [(BINARY, payload), (TEXT, b"after")]


def test_a_fragmented_message_is_joined_and_a_ping_inside_it_comes_first(pair):
    ours, theirs = pair
    theirs.sendall(frame(TEXT, b"he", fin=False) + frame(PING, b"p") + frame(CONTINUATION, b"ll", fin=False)
                   + frame(CONTINUATION, b"o"))
    assert read_all(FrameReader(ours, chunk_size=3), 2) == [(PING, b"p"), (TEXT, b"hello")]


def test_a_masked_frame_is_unmasked(pair):
    ours, theirs = pair
    theirs.sendall(frame(TEXT, b"masked text", mask=b"\x01\x02\x03\x04"))
    assert FrameReader(ours).read() == [(TEXT, b"masked text")]


@pytest.mark.parametrize("data", [
    frame(TEXT, b"x", rsv=0x40),  # a reserved bit
    frame(0x3, b"x"),  # an opcode that does not exist
    frame(CONTINUATION, b"x"),  # a continuation of nothing
    frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"),  # a new message inside a fragmented one
    frame(PING, b"x", fin=False),  # a fragmented control frame
    frame(PING, b"x" * 126),  # a control frame over 125 bytes
    frame(CLOSE, b"\x03"),  # a close frame with half a status code
])
def test_protocol_errors_raise_as_websocket_client_raises_them(pair, data):
    ours, theirs = pair
    theirs.sendall(data)
    with pytest.raises(WebSocketProtocolException):
        read_all(FrameReader(ours), 2)


def test_a_closed_connection_and_a_silent_one_raise(pair):
    ours, theirs = pair
    ours.settimeout(0.05)
    with pytest.raises(TimeoutError):
        FrameReader(ours).read()
    theirs.sendall(frame(TEXT, b"last") + frame(TEXT, b"cut short")[:4])
    theirs.close()
    reader = FrameReader(ours)
    assert reader.read() == [(TEXT, b"last")]
    with pytest.raises(WebSocketConnectionClosedException):
        reader.read()
