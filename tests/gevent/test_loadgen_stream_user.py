"""The stream user's book keeping: snapshot through its own HTTP client, gaps reported as ws_gap."""

from argparse import Namespace

import pytest
from gevent.pywsgi import WSGIServer
from locust.env import Environment
from locust.stats import StatsError

from exchanges.base import StreamMessage
from exchanges.binance import ADAPTER
from loadgen.options import OPTIONS, parse_settings
from loadgen.runtime import build_runtime
from loadgen.users.books import BookSync
from loadgen.users.stream import StreamUser

STREAM = "btcusdt@depth@100ms"


def app(environ, start_response):
    assert environ["PATH_INFO"] == "/binance/api/v3/depth"
    assert environ["QUERY_STRING"] == "symbol=BTCUSDT&limit=1000"
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"lastUpdateId": 100, "bids": [["10.0", "1"]], "asks": [["11.0", "2"]]}']


@pytest.fixture
def user():
    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    host = f"http://127.0.0.1:{server.server_port}/binance"
    user_class = type("Subscriber", (StreamUser,), {"adapter": ADAPTER, "host": host})
    defaults = {flag[2:].replace("-", "_"): default for flag, default, _ in OPTIONS}
    options = Namespace(**defaults, csv_prefix=None)
    environment = Environment(user_classes=[user_class], host=host, parsed_options=options)
    environment.create_local_runner()
    subscriber = user_class(environment)
    subscriber.runtime = build_runtime(environment, ADAPTER, parse_settings(options, ADAPTER, host))
    subscriber.books = {STREAM: BookSync("BTCUSDT")}
    yield subscriber
    server.stop()


def depth(first: int, last: int, bids=()) -> StreamMessage:
    data = {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": first, "u": last, "b": list(bids), "a": []}
    return StreamMessage(STREAM, 1.0, data)


def gaps(user) -> int:
    return sum(e.occurrences for e in user.environment.stats.errors.values()
               if (e.name, StatsError.parse_error(e.error)) == (STREAM, "ws_gap: update ids skipped"))


def test_a_book_syncs_from_a_weighted_snapshot_and_reports_a_gap(user):
    user._on_message(depth(99, 101, bids=[["10.0", "3"]]))
    user.sync_books()
    book = user.books[STREAM]
    assert book.synced and book.update_id == 101 and book.book.bids == {10.0: 3.0}
    snapshot = user.environment.stats.get("depth", "GET")
    assert snapshot.num_requests == 1 and snapshot.num_failures == 0
    assert sum(s.weight_requested for s in user.runtime.metrics.drain()) == 50
    user._on_message(depth(102, 103))
    assert gaps(user) == 0
    user._on_message(depth(110, 111))  # 104..109 missing
    assert gaps(user) == 1
    assert not book.synced and book.needs_snapshot
    assert sum(s.ws_gaps for s in user.runtime.metrics.drain()) == 1


def test_a_reconnect_restarts_the_books_without_a_gap(user):
    user._on_message(depth(99, 101))
    user.sync_books()
    user._on_connect(reconnected=True)
    assert not user.books[STREAM].synced and not user.books[STREAM].needs_snapshot
    assert gaps(user) == 0
