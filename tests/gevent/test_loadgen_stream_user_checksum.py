"""The stream user's stream books (Kraken's checksummed book channel, sequenced books): a failed check is a ws_gap
failure and a resubscription."""

import json
from argparse import Namespace

import pytest
from locust.env import Environment
from locust.stats import StatsError

from exchanges.kraken import ADAPTER, book_checksum
from loadgen.options import OPTIONS, parse_settings
from loadgen.runtime import build_runtime
from loadgen.users.books import StreamBook
from loadgen.users.stream import StreamUser

STREAM = "book:BTC/USD"
BIDS = [{"price": "95000.0", "qty": "1.00000000"}]
ASKS = [{"price": "95000.5", "qty": "2.00000000"}]


class FakeSubscription:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, text: str) -> bool:
        self.sent.append(text)
        return True


@pytest.fixture
def user():
    host = "http://127.0.0.1:9/kraken"
    user_class = type("Subscriber", (StreamUser,), {"adapter": ADAPTER, "host": host})
    defaults = {flag[2:].replace("-", "_"): default for flag, default, _ in OPTIONS}
    options = Namespace(**defaults, csv_prefix=None)
    environment = Environment(user_classes=[user_class], host=host, parsed_options=options)
    environment.create_local_runner()
    subscriber = user_class(environment)
    subscriber.runtime = build_runtime(environment, ADAPTER, parse_settings(options, ADAPTER, host))
    subscriber.books = {}
    subscriber.stream_books = {STREAM: StreamBook(10, book_checksum)}
    subscriber._req_ids = iter(range(1000, 2000, 2))
    subscriber.subscription = FakeSubscription()
    return subscriber


def book_frame(kind: str, bids, asks, checksum: int) -> str:
    data = {"symbol": "BTC/USD", "bids": bids, "asks": asks, "checksum": checksum,
            "timestamp": "2026-11-28T12:00:00.000000Z"}
    return json.dumps({"channel": "book", "type": kind, "data": [data]})


def deliver(user, frame: str) -> None:
    message = ADAPTER.decode_stream_message(frame)
    assert message is not None
    user._on_message(message)


def mismatches(user) -> int:
    return sum(e.occurrences for e in user.environment.stats.errors.values()
               if (e.name, StatsError.parse_error(e.error)) == (STREAM, "ws_gap: book checksum mismatch"))


def test_matching_checksums_keep_the_book_and_a_mismatch_resubscribes(user):
    good = book_checksum([("95000.5", "2.00000000")], [("95000.0", "1.00000000")])
    deliver(user, book_frame("snapshot", BIDS, ASKS, good))
    deliver(user, book_frame("update", [], [], good))
    assert mismatches(user) == 0 and user.stream_books[STREAM].synced
    deliver(user, book_frame("update", [{"price": "94999.9", "qty": "0.50000000"}], [], good))  # checksum now wrong
    assert mismatches(user) == 1 and not user.stream_books[STREAM].synced
    unsubscribe, subscribe = (json.loads(t) for t in user.subscription.sent)
    assert unsubscribe["method"] == "unsubscribe" and subscribe["method"] == "subscribe"
    assert subscribe["params"] == {"channel": "book", "symbol": ["BTC/USD"], "depth": 10, "snapshot": True}
    assert sum(s.ws_gaps for s in user.runtime.metrics.drain()) == 1
    deliver(user, book_frame("update", [], [], 1))  # updates before the new snapshot are ignored
    assert mismatches(user) == 1
    deliver(user, book_frame("snapshot", BIDS, ASKS, good))
    assert user.stream_books[STREAM].synced


def test_a_reconnect_restarts_stream_books(user):
    good = book_checksum([("95000.5", "2.00000000")], [("95000.0", "1.00000000")])
    deliver(user, book_frame("snapshot", BIDS, ASKS, good))
    user._on_connect(reconnected=True)
    assert not user.stream_books[STREAM].synced and mismatches(user) == 0


def test_a_skipped_sequence_is_a_gap_and_resubscribes(user, monkeypatch):
    """Sequenced books (no checksum): an update that does not follow the last one is a ws_gap failure."""
    from exchanges.base import BookUpdate, StreamMessage

    updates = iter([BookUpdate(STREAM, True, [("1.0", "1")], [], sequence=5),
                    BookUpdate(STREAM, False, [("1.0", "2")], [], sequence=6, prev_sequence=5),
                    BookUpdate(STREAM, False, [("1.0", "3")], [], sequence=8, prev_sequence=7)])
    monkeypatch.setattr(ADAPTER, "book_update", lambda message: next(updates))
    user.stream_books = {STREAM: StreamBook(10)}
    message = StreamMessage(STREAM, None, {})
    for _ in range(2):
        user._on_message(message)
    assert user.stream_books[STREAM].synced and not user.subscription.sent
    user._on_message(message)
    gaps = sum(e.occurrences for e in user.environment.stats.errors.values()
               if (e.name, StatsError.parse_error(e.error)) == (STREAM, "ws_gap: book sequence skipped"))
    assert gaps == 1 and not user.stream_books[STREAM].synced and len(user.subscription.sent) == 2
