"""One WebSocket connection kept open for a user, built on websocket-client under gevent.

It reports to Locust (request_type "WS", names after the exchange's prefix in side-by-side runs): the
connect time as "connect" (first) or "reconnect",
every data message under its stream name with the event latency as response time (logged in bulk,
see `loadgen.users.stream_stats`), and failures: `ws_drop` for an abnormal close, a lost connection (1006)
or a stalled stream, and whatever the caller reports (e.g. `ws_gap`). It answers server pings,
reconnects with exponential backoff and jitter, catches every exception in its greenlet and reports
it. Frames are read many per socket read (`loadgen.users.ws_frames`), and the loop yields to gevent after
each read, so a busy stream cannot starve Locust's own timers (run time, stats, SIGTERM).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence

import gevent
import websocket
from locust.env import Environment

from exchanges.base import ExchangeAdapter, FailureKind, StreamError, StreamMessage, Verdict
from loadgen.metrics import ExchangeMetrics
from loadgen.pacing.backoff import Backoff
from loadgen.users.request_events import fire, unexpected
from loadgen.users.stream_stats import stream_stats
from loadgen.users.ws_frames import CLOSE, DATA_OPCODES, PING, TEXT, FrameReader

logger = logging.getLogger(__name__)

REQUEST_TYPE = "WS"
CONNECT, RECONNECT = "connect", "reconnect"
TIMED_REQUEST_NAMES = frozenset({CONNECT, RECONNECT})  # timed WS entries that are not stream messages
ORDERLY_CLOSE_CODES = frozenset({1000, 1001})  # normal closure, going away (e.g. a server's lifetime limit)
NO_STATUS = 1005


def event_latency_ms(received_ms: float, event_time_ms: float | None, clock_offset_ms: float) -> float | None:
    """Receive time minus the exchange's event time, both on the server's clock; None without an event time.

    Clamped at 0: a negative value is only clock-offset error (at most half a round trip)."""
    if event_time_ms is None:
        return None
    return max(0.0, received_ms - clock_offset_ms - event_time_ms)


class StreamSubscription:
    """Connect to `url`, receive until stopped, reconnect after drops.

    `on_message` gets every decoded data message; `on_connect(reconnected)` runs after each successful
    connect (a reconnect means messages were missed: e.g. restart local books there). `subscribe_messages`
    are sent right after each connect, for exchanges that subscribe by message rather than by URL.
    `name_prefix` goes before the name of every row it reports (its exchange's, in a side-by-side run).
    """

    def __init__(
        self,
        environment: Environment,
        adapter: ExchangeAdapter,
        url: str,
        metrics: ExchangeMetrics,
        on_message: Callable[[StreamMessage], None],
        on_connect: Callable[[bool], None],
        clock_offset_ms: float = 0.0,
        connect_timeout_s: float = 10.0,
        stall_timeout_s: float = 60.0,
        backoff: Backoff | None = None,
        subscribe_messages: Sequence[str] = (),
        name_prefix: str = "",
    ) -> None:
        self.environment = environment
        self.adapter = adapter
        self.url = url
        self.metrics = metrics
        self.on_message = on_message
        self.on_connect = on_connect
        self.clock_offset_ms = clock_offset_ms
        self.connect_timeout_s = connect_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self.backoff = backoff or Backoff(base_s=0.5, cap_s=30.0)
        self.subscribe_messages = tuple(subscribe_messages)
        self.name_prefix = name_prefix
        self.connected_once = False
        self._greenlet: gevent.Greenlet | None = None
        self._ws: websocket.WebSocket | None = None
        self._logged: set[str] = set()
        self._stats = stream_stats(environment)

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Kill the receive greenlet (it closes its connection on the way out)."""
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=timeout_s)
            self._greenlet = None
        self._close()
        self._stats.flush()

    @property
    def running(self) -> bool:
        return self._greenlet is not None and not self._greenlet.dead

    def send(self, text: str) -> bool:
        """Send a text frame on the current connection (e.g. a resubscription); False when there is none
        or it failed (the receive loop then reports the lost connection and reconnects)."""
        ws = self._ws
        if ws is None:
            return False
        try:
            ws.send(text)
        except (OSError, websocket.WebSocketException):
            return False
        return True

    def _run(self) -> None:
        while True:
            try:
                if self._connect():
                    self._receive()
            except Exception as e:  # a bug in our code or a callback: report it, then carry on
                self._log_once(e)
                self._fail("subscription", unexpected(e))
            finally:
                self._close()
            gevent.sleep(self.backoff.next_delay())

    def _connect(self) -> bool:
        name = RECONNECT if self.connected_once else CONNECT
        started = time.perf_counter()
        try:
            # Text is checked as it is decoded (_handle); websocket-client's own check is pure Python, per byte.
            ws = websocket.create_connection(self.url, timeout=self.connect_timeout_s, skip_utf8_validation=True)
        except websocket.WebSocketBadStatusException as e:
            elapsed = (time.perf_counter() - started) * 1000
            headers = e.resp_headers or {}
            self._fail(name, self.adapter.classify(e.status_code, headers, e.resp_body or b""), elapsed)
            return False
        except Exception as e:
            self._fail(name, self.adapter.classify_exception(e), (time.perf_counter() - started) * 1000)
            return False
        ws.settimeout(self.stall_timeout_s)
        self._ws = ws
        self.metrics.ws_opened()
        try:
            for text in self.subscribe_messages:
                ws.send(text)
        except (OSError, websocket.WebSocketException) as e:
            self._fail(name, self.adapter.classify_exception(e), (time.perf_counter() - started) * 1000)
            return False
        fire(self.environment, REQUEST_TYPE, self.name_prefix + name, (time.perf_counter() - started) * 1000)
        if self.connected_once:
            self.metrics.ws_reconnect()
        reconnected, self.connected_once = self.connected_once, True
        self.on_connect(reconnected)
        return True

    def _receive(self) -> None:
        """Read frames until the connection ends; report how it ended unless it closed normally."""
        ws = self._ws
        assert ws is not None
        reader = FrameReader(ws.sock)
        metrics = self.metrics
        while True:
            try:
                frames = reader.read()
                received_ms = time.time() * 1000
                for opcode, data in frames:
                    if opcode in DATA_OPCODES:
                        self._handle(data, opcode == TEXT, received_ms)
                    elif opcode == PING:
                        ws.pong(data)
                        metrics.ws_ping()
                    elif opcode == CLOSE:
                        ws.send_close()  # the closing handshake's answer, as websocket-client gives it
                        code = int.from_bytes(data[:2], "big") if len(data) >= 2 else NO_STATUS
                        if code not in ORDERLY_CLOSE_CODES:
                            self._drop(Verdict(False, FailureKind.WS_DROP, str(code), "closed by server"))
                        return
            except (TimeoutError, websocket.WebSocketTimeoutException):
                self._drop(Verdict(False, FailureKind.WS_DROP, message=f"stalled {self.stall_timeout_s:g}s"))
                return
            except (websocket.WebSocketConnectionClosedException, OSError):
                self._drop(Verdict(False, FailureKind.WS_DROP, "1006", "connection lost"))
                return
            gevent.sleep(0)  # let other greenlets (and Locust's timers) run between reads

    def _handle(self, data: bytes, text: bool, received_ms: float) -> None:
        try:
            message = self.adapter.decode_stream_message(data.decode() if text else data)  # (str: faster JSON)
            if message is None:
                return
            latency_ms = event_latency_ms(received_ms, message.event_time_ms, self.clock_offset_ms)
            self._stats.log(REQUEST_TYPE, self.name_prefix + message.stream, latency_ms, len(data))
            self.metrics.ws_message()
            self.backoff.reset()
            self.on_message(message)
        except StreamError as e:  # the exchange reported an error (e.g. a refused subscription)
            self._fail("error", e.verdict)
        except Exception as e:  # one unreadable message does not end the connection
            self._log_once(e)
            self._fail("message", unexpected(e))

    def _drop(self, verdict: Verdict) -> None:
        self.metrics.ws_drop()
        self._fail("connection", verdict)

    def _fail(self, name: str, verdict: Verdict, response_time_ms: float | None = None) -> None:
        fire(self.environment, REQUEST_TYPE, self.name_prefix + name, response_time_ms, verdict=verdict)

    def _close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is None:
            return
        self.metrics.ws_closed()
        with contextlib.suppress(OSError, websocket.WebSocketException), gevent.Timeout(0.5, False):
            ws.send_close()  # polite; the peer may be gone already, and closing the socket is what matters
        ws.shutdown()

    def _log_once(self, exc: Exception) -> None:
        key = type(exc).__name__
        if key not in self._logged:
            self._logged.add(key)
            logger.exception("%s stream %s: %s", self.adapter.name, self.url, key)
