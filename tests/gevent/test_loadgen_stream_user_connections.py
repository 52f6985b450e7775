"""A subscriber keeps no REST connection open once its REST calls are done."""

from argparse import Namespace

from gevent.pywsgi import WSGIServer
from locust.env import Environment

from exchanges.base import StreamMessage
from exchanges.binance import ADAPTER
from loadgen.options import OPTIONS, parse_settings
from loadgen.runtime import build_runtime
from loadgen.users.books import BookSync
from loadgen.users.stream import StreamUser

STREAM = "btcusdt@depth@100ms"
SNAPSHOT = b'{"lastUpdateId": 100, "bids": [["10.0", "1"]], "asks": [["11.0", "2"]]}'


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [SNAPSHOT]


def test_the_rest_connection_is_closed_once_every_book_is_synced():
    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    host = f"http://127.0.0.1:{server.server_port}/binance"
    user_class = type("Subscriber", (StreamUser,), {"adapter": ADAPTER, "host": host})
    options = Namespace(**{flag[2:].replace("-", "_"): default for flag, default, _ in OPTIONS}, csv_prefix=None)
    environment = Environment(user_classes=[user_class], host=host, parsed_options=options)
    environment.create_local_runner()
    user = user_class(environment)
    user.runtime = build_runtime(environment, ADAPTER, parse_settings(options, ADAPTER, host))
    user.books = {STREAM: BookSync("BTCUSDT"), "ethusdt@depth@100ms": BookSync("ETHUSDT")}
    pool = user.client.client.clientpool
    try:
        diff = {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": 99, "u": 101, "b": [], "a": []}
        user._on_message(StreamMessage(STREAM, 1.0, diff))
        user.sync_books()  # one book synced, the other has nothing buffered yet: the connection stays
        assert user.books[STREAM].synced and pool.clients
        user._on_message(StreamMessage("ethusdt@depth@100ms", 1.0, {**diff, "s": "ETHUSDT"}))
        user.sync_books()
        assert all(book.synced for book in user.books.values()) and not pool.clients
        assert environment.stats.get("depth", "GET").num_requests == 2
    finally:
        server.stop()
