"""OKX's subscriber on its `books` channel: a checksum that does not match, or an update whose prevSeqId is not the
last seqId, is a ws_gap failure and a resubscription (unsubscribe, subscribe) for a fresh snapshot."""

import json
from argparse import Namespace

import pytest
from locust.env import Environment
from locust.stats import StatsError

from exchanges.okx import ADAPTER, book_checksum
from loadgen.options import OPTIONS, parse_settings
from loadgen.runtime import build_runtime
from loadgen.users.books import StreamBook
from loadgen.users.stream import StreamUser

STREAM = "books:BTC-USDT"
BIDS = [["95000", "1", "0", "1"]]
ASKS = [["95000.1", "2", "0", "1"]]
GOOD = book_checksum([("95000.1", "2")], [("95000", "1")])


class FakeSubscription:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, text: str) -> bool:
        self.sent.append(text)
        return True


@pytest.fixture
def user():
    host = "http://127.0.0.1:9/okx"
    user_class = type("Subscriber", (StreamUser,), {"adapter": ADAPTER, "host": host})
    defaults = {flag[2:].replace("-", "_"): default for flag, default, _ in OPTIONS}
    options = Namespace(**defaults, csv_prefix=None)
    environment = Environment(user_classes=[user_class], host=host, parsed_options=options)
    environment.create_local_runner()
    subscriber = user_class(environment)
    subscriber.runtime = build_runtime(environment, ADAPTER, parse_settings(options, ADAPTER, host))
    subscriber.books = {}
    subscriber.stream_books = {STREAM: StreamBook(ADAPTER.book_depth("books"), ADAPTER.book_checksum)}
    subscriber._req_ids = iter(range(1000, 2000, 2))
    subscriber.subscription = FakeSubscription()
    return subscriber


def push(user, action: str, bids, asks, checksum: int, seq: int, prev: int) -> None:
    frame = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": action,
             "data": [{"asks": asks, "bids": bids, "ts": "1764900000000", "checksum": checksum, "prevSeqId": prev,
                       "seqId": seq}]}
    message = ADAPTER.decode_stream_message(json.dumps(frame))
    assert message is not None
    user._on_message(message)


def gaps(user, error: str) -> int:
    return sum(e.occurrences for e in user.environment.stats.errors.values()
               if (e.name, StatsError.parse_error(e.error)) == (STREAM, error))


def test_a_checksum_mismatch_is_a_gap_and_resubscribes(user):
    push(user, "snapshot", BIDS, ASKS, GOOD, 10, -1)
    push(user, "update", [], [], GOOD, 10, 10)  # OKX's update without changes keeps the seqId
    assert user.stream_books[STREAM].synced and not user.subscription.sent
    push(user, "update", [["94999", "3", "0", "1"]], [], GOOD, 11, 10)  # the checksum no longer matches
    assert gaps(user, "ws_gap: book checksum mismatch") == 1 and not user.stream_books[STREAM].synced
    unsubscribe, subscribe = (json.loads(t) for t in user.subscription.sent)
    assert unsubscribe["op"] == "unsubscribe" and subscribe["op"] == "subscribe"
    assert subscribe["args"] == [{"channel": "books", "instId": "BTC-USDT"}]
    push(user, "snapshot", BIDS, ASKS, GOOD, 20, -1)
    assert user.stream_books[STREAM].synced


def test_a_skipped_seq_id_is_a_gap_and_resubscribes(user):
    push(user, "snapshot", BIDS, ASKS, GOOD, 10, -1)
    push(user, "update", [], [], 0, 12, 11)  # checksum 0 (deprecated on OKX): only the sequence is checked
    assert gaps(user, "ws_gap: book sequence skipped") == 1 and len(user.subscription.sent) == 2
