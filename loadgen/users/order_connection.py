"""The WebSocket connection of an order user (`ws_orders.WsOrderUser`: its order session; `feed_orders.FeedOrderUser`:
its order feed).

Opening it reports a "WS" `connect` (or `reconnect`) row and the exchange's connection metrics. Its receive loop yields
to gevent after every socket read (a busy loop would starve the other users), answers pings, hands each text message
to the user, and after every read lets the user settle the orders whose time is up. When the connection ends
abnormally it reports a "WS" `connection` failure (ws_drop) before telling the user."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

import gevent
import websocket

from exchanges.base import OK, FailureKind, Verdict
from loadgen.users.request_events import fire, unexpected
from loadgen.users.rest import ExchangeRestUser
from loadgen.users.ws_connection import CONNECT, NO_STATUS, ORDERLY_CLOSE_CODES, RECONNECT
from loadgen.users.ws_frames import CLOSE, DATA_OPCODES, PING, TEXT, FrameReader
from loadgen.users.ws_order_rows import REQUEST_TYPE

logger = logging.getLogger(__name__)

WS_REQUEST_TYPE = "WS"
READ_TIMEOUT_S = 0.25  # how often the receive loop lets the user settle timed-out orders when nothing arrives


class OrderConnection:
    """One user's connection at a time (opened again after it ended). `on_message` gets every text message,
    `on_read` is called after every socket read, `on_end` when the connection ended (None: in order, else how);
    a failure of the user's own code in them is a `failure_row` row and ends the connection."""

    def __init__(self, user: ExchangeRestUser, on_message: Callable[[str], None], on_read: Callable[[], None],
                 on_end: Callable[[str | None], None], failure_row: str) -> None:
        self.user = user
        self._on_message, self._on_read, self._on_end = on_message, on_read, on_end
        self._failure_row = failure_row
        self.ws: websocket.WebSocket | None = None
        self._receiver: gevent.Greenlet | None = None
        self._connected_once = False
        self._logged: set[str] = set()

    @property
    def receiving(self) -> bool:
        return self._receiver is not None

    def open(self, url: str, timeout_s: float) -> Verdict:
        """Connect to `url` and start receiving; the attempt is the connect (or reconnect) row and its verdict."""
        user = self.user
        name = user.stats_prefix + (RECONNECT if self._connected_once else CONNECT)
        started = time.perf_counter()
        try:
            ws = websocket.create_connection(url, timeout=timeout_s, skip_utf8_validation=True)
        except websocket.WebSocketBadStatusException as e:
            verdict = user.adapter.classify(e.status_code, e.resp_headers or {}, e.resp_body or b"")
            fire(user.environment, WS_REQUEST_TYPE, name, _ms(started), verdict=verdict)
            return verdict
        except Exception as e:
            verdict = user.adapter.classify_exception(e)
            fire(user.environment, WS_REQUEST_TYPE, name, _ms(started), verdict=verdict)
            return verdict
        fire(user.environment, WS_REQUEST_TYPE, name, _ms(started))
        metrics = user.runtime.metrics
        metrics.ws_opened()
        if self._connected_once:
            metrics.ws_reconnect()
        self._connected_once = True
        ws.settimeout(READ_TIMEOUT_S)
        self.ws = ws
        self._receiver = gevent.spawn(self._receive, ws)
        return OK

    def send(self, text: str) -> bool:
        ws = self.ws
        if ws is None:
            return False
        try:
            ws.send(text)
        except (OSError, websocket.WebSocketException):
            return False
        return True

    def stop_receiving(self) -> None:
        receiver, self._receiver = self._receiver, None
        if receiver is not None and receiver is not gevent.getcurrent():
            receiver.kill(block=True, timeout=2)

    def close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            self.user.runtime.metrics.ws_closed()
            with contextlib.suppress(OSError, websocket.WebSocketException), gevent.Timeout(0.5, False):
                ws.send_close()
            ws.shutdown()

    def _receive(self, ws: websocket.WebSocket) -> None:
        reader = FrameReader(ws.sock)
        metrics = self.user.runtime.metrics
        try:
            while True:
                try:
                    frames = reader.read()
                except (TimeoutError, websocket.WebSocketTimeoutException):
                    frames = []
                for opcode, data in frames:
                    if opcode in DATA_OPCODES:
                        metrics.ws_message()
                        self._on_message(data.decode() if opcode == TEXT else data.decode("utf-8", "replace"))
                    elif opcode == PING:
                        ws.pong(data)
                        metrics.ws_ping()
                    elif opcode == CLOSE:
                        code = int.from_bytes(data[:2], "big") if len(data) >= 2 else NO_STATUS
                        self._ended(None if code in ORDERLY_CLOSE_CODES else f"closed by server {code}")
                        return
                self._on_read()
                gevent.sleep(0)  # let other greenlets (and Locust's timers) run between reads
        except (websocket.WebSocketConnectionClosedException, OSError):
            self._ended("connection lost")
        except Exception as e:  # the user's own code failed: report it, end the connection (the next burst reopens)
            self.log_once(e, self._failure_row)
            fire(self.user.environment, REQUEST_TYPE, self.user.stats_prefix + self._failure_row, None,
                 verdict=unexpected(e))
            self._ended(type(e).__name__)

    def _ended(self, message: str | None) -> None:
        if message is not None:
            user = self.user
            user.runtime.metrics.ws_drop()
            fire(user.environment, WS_REQUEST_TYPE, user.stats_prefix + "connection", None,
                 verdict=Verdict(False, FailureKind.WS_DROP, message=message))
        self._receiver = None
        self._on_end(message)

    def log_once(self, exc: Exception, what: str) -> None:
        """Log a failure of our own code with its traceback, once per exception type."""
        if type(exc).__name__ not in self._logged:
            self._logged.add(type(exc).__name__)
            logger.exception("%s: order connection (%s)", self.user.adapter.name, what)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
