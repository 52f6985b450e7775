"""The WebSocket subscription against local servers: messages, pings, drops, reconnects, prompt stop."""

import json
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path

import gevent
import pytest
from gevent.server import StreamServer
from locust.env import Environment
from locust.stats import StatsError

from exchanges.binance import ADAPTER
from loadgen.metrics import ExchangeMetrics
from loadgen.pacing.backoff import Backoff
from loadgen.users.ws_connection import StreamSubscription, event_latency_ms
from tests.support.firehose import accept_upgrade, frame, read_request

REPO_ROOT = Path(__file__).resolve().parents[2]
FIREHOSE = Path(__file__).resolve().parent.parent / "support" / "firehose.py"
TEXT, CLOSE, PING = 0x1, 0x8, 0x9


def trade(event_ms: float, trade_id: int = 1) -> bytes:
    data = {"e": "trade", "E": event_ms, "s": "BTCUSDT", "t": trade_id, "p": "1.0", "q": "1.0", "T": event_ms}
    return json.dumps({"stream": "btcusdt@trade", "data": data}).encode()


class ScriptedServer:
    """Plays one script per accepted connection: a list of frames to send, then how to end."""

    def __init__(self, scripts):
        self.scripts = list(scripts)
        self.connections = 0
        self.server = StreamServer(("127.0.0.1", 0), self.handle)
        self.server.start()
        self.url = f"ws://127.0.0.1:{self.server.server_port}/binance/stream?streams=btcusdt@trade"

    def handle(self, sock, _address):
        self.connections += 1
        frames, ending = self.scripts.pop(0) if self.scripts else ([], "hold")
        accept_upgrade(sock, read_request(sock))
        for f in frames:
            sock.sendall(f)
        if ending == "hold":
            while sock.recv(4096):
                pass
        elif ending == "drop":
            sock.close()
        else:  # a close code
            sock.sendall(frame(CLOSE, int(ending).to_bytes(2, "big") + b"bye"))
            gevent.sleep(0.05)
            sock.close()

    def stop(self):
        self.server.stop()


def subscription(url: str, on_message=None, on_connect=None, name_prefix: str = ""):
    environment = Environment(parsed_options=Namespace(csv_prefix=None))
    environment.create_local_runner()
    metrics = ExchangeMetrics("binance")
    sub = StreamSubscription(
        environment, ADAPTER, url, metrics,
        on_message=on_message or (lambda m: None), on_connect=on_connect or (lambda r: None),
        backoff=Backoff(base_s=0.01, cap_s=0.02), name_prefix=name_prefix,
    )
    return sub, environment, metrics


def wait_until(condition, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition() and time.monotonic() < deadline:
        gevent.sleep(0.01)


def failures(environment) -> dict[tuple[str, str], str]:
    return {(e.name, StatsError.parse_error(e.error)): e.occurrences for e in environment.stats.errors.values()}


def totals(metrics: ExchangeMetrics) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in metrics.drain():
        for name in ("ws_messages", "ws_pings", "ws_drops", "ws_reconnects"):
            out[name] = out.get(name, 0) + getattr(s, name)
    return out


def test_messages_pings_a_drop_and_the_reconnect_are_all_reported():
    now = time.time() * 1000
    server = ScriptedServer([
        ([frame(TEXT, trade(now)), frame(PING, b"hi"), frame(TEXT, trade(now, 2))], "drop"),
        ([frame(TEXT, trade(now, 3))], "hold"),
    ])
    received, connects = [], []
    sub, environment, metrics = subscription(server.url, received.append, connects.append)
    sub.start()
    wait_until(lambda: len(received) == 3)
    sub.stop()
    server.stop()
    assert [m.data["t"] for m in received] == [1, 2, 3]
    assert connects == [False, True]
    stats = environment.stats
    assert stats.get("btcusdt@trade", "WS").num_requests == 3
    assert stats.get("connect", "WS").num_requests == 1
    assert stats.get("reconnect", "WS").num_requests == 1
    assert failures(environment) == {("connection", "ws_drop: 1006 connection lost"): 1}
    assert totals(metrics) == {"ws_messages": 3, "ws_pings": 1, "ws_drops": 1, "ws_reconnects": 1}
    assert not sub.running


def test_side_by_side_every_row_carries_the_exchange():
    now = time.time() * 1000
    server = ScriptedServer([([frame(TEXT, trade(now)), frame(TEXT, b"not json")], "drop"), ([], "hold")])
    sub, environment, _ = subscription(server.url, name_prefix="binance:")
    sub.start()
    wait_until(lambda: environment.stats.get("binance:reconnect", "WS").num_requests == 1)
    sub.stop()
    server.stop()
    names = {name for name, _ in environment.stats.entries}
    assert names == {"binance:btcusdt@trade", "binance:connect", "binance:reconnect", "binance:message",
                     "binance:connection"}


def test_close_codes_other_than_normal_are_drops():
    server = ScriptedServer([([], "1008"), ([], "1000"), ([], "hold")])
    sub, environment, _ = subscription(server.url)
    sub.start()
    wait_until(lambda: server.connections == 3)
    sub.stop()
    server.stop()
    assert failures(environment) == {("connection", "ws_drop: 1008 closed by server"): 1}


def test_refused_connections_are_failures_and_retried():
    sub, environment, _ = subscription("ws://127.0.0.1:9/binance/stream?streams=btcusdt@trade")
    sub.start()
    wait_until(lambda: environment.stats.total.num_failures >= 2)
    sub.stop()
    names = {(name, text.split(":")[0]) for name, text in failures(environment)}
    assert names == {("connect", "connection")}


def test_an_unreadable_message_is_counted_and_the_connection_carries_on():
    server = ScriptedServer([([frame(TEXT, b"not json"), frame(TEXT, trade(time.time() * 1000))], "hold")])
    received = []
    sub, environment, _ = subscription(server.url, received.append)
    sub.start()
    wait_until(lambda: received)
    sub.stop()
    server.stop()
    assert len(received) == 1
    assert failures(environment) == {("message", "protocol: JSONDecodeError"): 1}


def test_event_latency_uses_the_clock_offset_and_has_none_without_event_time():
    assert event_latency_ms(received_ms=1_000_050, event_time_ms=1_000_000, clock_offset_ms=20) == 30
    assert event_latency_ms(received_ms=1_000_000, event_time_ms=1_000_010, clock_offset_ms=0) == 0
    assert event_latency_ms(received_ms=1_000_000, event_time_ms=None, clock_offset_ms=0) is None


@pytest.mark.e2e  # starts Locust
def test_a_run_with_a_firehose_stream_still_stops_on_time(tmp_path):
    server = subprocess.Popen([sys.executable, str(FIREHOSE)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        run = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "locustfiles" / "binance.py"),
             "BinanceWsSubscriber", "--headless", "-u", "2", "-r", "2", "-t", "2s", "--only-summary", "--json",
             "--host", f"http://127.0.0.1:{port}/binance", "--symbols", "BTCUSDT", "--streams", "trade",
             "--exit-code-on-error", "0"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )
    finally:
        server.kill()
        server.wait()
    assert run.returncode == 0, run.stderr[-2000:]
    entries = {e["name"]: e for e in json.loads(run.stdout)}
    assert entries["btcusdt@trade"]["num_requests"] > 1000  # the stream really was a firehose
    assert entries["connect"]["num_requests"] == 2
