"""The shared WebSocket fan-out: frame encoding (the queues are exercised by every stream server's tests)."""

from __future__ import annotations

import struct

import pytest

from simulator.ws_fanout import OPCODE_PING, frame, text_frame


@pytest.mark.parametrize(("size", "header"), [
    (0, b"\x81\x00"),
    (125, b"\x81\x7d"),
    (126, b"\x81\x7e" + struct.pack("!H", 126)),
    (65_535, b"\x81\x7e" + struct.pack("!H", 65_535)),
    (65_536, b"\x81\x7f" + struct.pack("!Q", 65_536)),
])
def test_text_frames_use_the_shortest_length_encoding(size: int, header: bytes) -> None:
    data = text_frame("x" * size)
    assert data[: len(header)] == header
    assert data[len(header):] == b"x" * size


def test_control_frames_carry_their_opcode_and_payload() -> None:
    assert frame(OPCODE_PING, b"123") == b"\x89\x03123"
