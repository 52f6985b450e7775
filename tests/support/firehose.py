"""WebSocket test-server pieces, and (run as a script) a firehose server in plain threads, no gevent.

The script serves `GET /binance/api/v3/time` and, on any WebSocket upgrade, an endless stream of
Binance combined-stream trade events sent in large batches, so a client always has data buffered:
the case where a receive loop that never yields starves gevent. It prints its port, then serves.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked (server-to-client) frame."""
    n = len(payload)
    if n < 126:
        header = bytes([0x80 | opcode, n])
    elif n < 65536:
        header = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return header + payload


def read_request(sock: socket.socket) -> bytes:
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("client went away")
        request += chunk
    return request


def accept_upgrade(sock: socket.socket, request: bytes) -> None:
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key")
    )
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    sock.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def _serve(conn: socket.socket) -> None:
    request = read_request(conn)
    if request.startswith(b"GET /binance/api/v3/time"):
        body = json.dumps({"serverTime": int(time.time() * 1000)}).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        conn.sendall(head.encode() + body)
        conn.close()
        return
    accept_upgrade(conn, request)
    event = {"e": "trade", "E": int(time.time() * 1000), "s": "BTCUSDT", "t": 1, "p": "1.0", "q": "1.0"}
    batch = frame(0x1, json.dumps({"stream": "btcusdt@trade", "data": event}).encode()) * 200
    try:
        while True:
            conn.sendall(batch)
    except OSError:
        return  # the client went away


def main() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
