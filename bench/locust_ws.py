"""The WebSocket benchmarks' users, all on the combined stream the suite's --symbols x --streams make.

- `AccountedSubscriber`: the suite's `BinanceWsSubscriber`, all accounting on: Locust stats per stream
  with event latency, exchange metrics, local diff-depth books with sequence checks.
- `BareReceiver`: the bare receive loop a Locust user writes with websocket-client (§1 of the Locust
  reference): receive a message, count it, yield to gevent; no decoding, no stats.
- `BareFrameReceiver`: the same bare loop on the suite's own frame reader (many frames per socket
  read, one yield per read), to show what the accounting itself costs.

The meter's `ws_messages` counts stream messages: Locust's WS rows for the first, the loops' counter for
the others; `ws_open` counts connections open.
"""

from __future__ import annotations

import gevent
import psutil
import websocket
from locust import User, constant
from locust.env import Environment

from bench import meter
from exchanges.binance import ADAPTER
from loadgen.runtime import exchange_runtime
from loadgen.users.stream_stats import stream_stats
from loadgen.users.ws_connection import RECONNECT, REQUEST_TYPE, TIMED_REQUEST_NAMES
from loadgen.users.ws_frames import FrameReader
from locustfiles import binance  # the module, not its classes: Locust would run every User class in sight


class Counts:
    """What the bare loops count (module-wide: one Locust process per run)."""

    messages = 0
    open = 0


class AccountedSubscriber(binance.BinanceWsSubscriber):
    pass


class BareReceiver(User):
    """One connection to the URL the subscriber builds, read as fast as it comes with `ws.recv()`. UTF-8 is not
    checked (websocket-client does that in pure Python unless told not to; the subscriber's JSON decoder does it)."""

    abstract = True
    adapter = ADAPTER  # tags it as a Binance user (--exchange narrows the classes by adapter)
    wait_time = constant(3600)

    def on_start(self) -> None:
        runtime = exchange_runtime(self.environment, ADAPTER)
        assert runtime is not None
        settings = runtime.settings
        streams = [ADAPTER.stream_name(s, k) for s in settings.symbols for k in settings.streams]
        self.ws = websocket.create_connection(ADAPTER.stream_url(settings.ws_host, streams), timeout=60,
                                              skip_utf8_validation=True)
        Counts.open += 1
        self.receiver = gevent.spawn(self.receive)

    def receive(self) -> None:
        ws = self.ws
        while True:
            ws.recv()
            Counts.messages += 1
            gevent.sleep(0)

    def on_stop(self) -> None:
        self.receiver.kill(block=False)
        self.ws.close()
        Counts.open -= 1

    def idle(self) -> None:
        """Nothing to do: the receive greenlet works."""

    tasks = [idle]


class WebSocketClientReceiver(BareReceiver):
    abstract = False


class BareFrameReceiver(BareReceiver):
    abstract = False

    def receive(self) -> None:
        reader = FrameReader(self.ws.sock)
        while True:
            frames = reader.read()  # (it yields: read before adding, or other greenlets' counts are lost)
            Counts.messages += len(frames)
            gevent.sleep(0)


def ws_figures(environment: Environment) -> dict[str, float]:
    """Stream messages counted so far, connections open, reconnects, and this process's memory."""
    stream_stats(environment).flush()  # what is pending in bulk counts too
    accounted = sum(
        entry.num_requests
        for (name, method), entry in environment.stats.entries.items()
        if method == REQUEST_TYPE and name not in TIMED_REQUEST_NAMES and "@" in name
    )
    runtime = exchange_runtime(environment, ADAPTER)
    reconnects = environment.stats.entries.get((RECONNECT, REQUEST_TYPE))
    return {
        "ws_messages": accounted + Counts.messages,
        "ws_reconnects": reconnects.num_requests if reconnects is not None else 0,
        "ws_open": (runtime.metrics.ws_open if runtime is not None else 0) + Counts.open,
        "rss_mb": psutil.Process().memory_info().rss / 1e6,
    }


meter.add_sampler(ws_figures)
