"""The base of exchange WebSocket users: one connection for the chosen symbols x stream kinds,
event latency corrected by the measured clock offset, and local order books: from a REST snapshot plus
diffs (diff-depth streams), or from the stream alone and checked by checksums or sequence numbers
(checksum-book and sequenced-book streams, resubscribed after a failed check)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from locust import constant, task

from exchanges.base import FailureKind, StreamMessage, Verdict
from loadgen.pacing.backoff import Backoff
from loadgen.users.books import BookSync, DiffOutcome, SnapshotOutcome, StreamBook, StreamBookOutcome
from loadgen.users.request_events import fire
from loadgen.users.rest import ExchangeRestUser
from loadgen.users.ws_connection import REQUEST_TYPE, StreamSubscription

GAP = Verdict(False, FailureKind.WS_GAP, message="update ids skipped")
CHECKSUM_MISMATCH = Verdict(False, FailureKind.WS_GAP, message="book checksum mismatch")
SEQUENCE_GAP = Verdict(False, FailureKind.WS_GAP, message="book sequence skipped")
FAILED_CHECKS = {StreamBookOutcome.MISMATCH: CHECKSUM_MISMATCH, StreamBookOutcome.GAP: SEQUENCE_GAP}
FIRST_RESUBSCRIBE_REQ_ID = 1000  # request ids of resubscriptions (the initial subscriptions use small ones)


class StreamUser(ExchangeRestUser):
    """Subscribes at start and keeps receiving until stopped; its task fetches the REST snapshots that
    books waiting to sync need (through this user's HTTP client, so they are counted and weighted).
    Its REST connection is closed once those calls are done (after the clock offset at start when it keeps
    no books, else once every book is synced): then a subscriber holds only its WebSocket open, on both sides."""

    abstract = True
    wait_time = constant(0.5)  # how often the task looks for books that need a snapshot
    stall_timeout_s: ClassVar[float] = 60.0  # no frame at all for this long (pings included) = stalled
    reconnect_base_s: ClassVar[float] = 0.5  # reconnect delays: full jitter up to base * 2**attempt ...
    reconnect_cap_s: ClassVar[float] = 30.0  # ... capped here: drops in a row never wait longer

    subscription: StreamSubscription | None = None
    books: dict[str, BookSync]
    stream_books: Mapping[str, StreamBook] = MappingProxyType({})  # set at start where the streams have some

    def on_start(self) -> None:
        self.books = {}
        stream_books: dict[str, StreamBook] = {}
        self.stream_books = stream_books
        self._req_ids = itertools.count(FIRST_RESUBSCRIBE_REQ_ID, 2)  # an unsubscribe and a subscribe each
        super().on_start()
        if self.refused:
            return
        settings = self.runtime.settings
        if not settings.ws_host:
            self.refuse(f"{self.adapter.name}: no WebSocket host (set --ws-host)")
            return
        self.clock_offset_ms = self.measure_clock_offset()
        streams: list[str] = []
        for symbol in settings.symbols:
            for kind in settings.streams:
                name = self.adapter.stream_name(symbol, kind)
                streams.append(name)
                if self.adapter.is_diff_depth_kind(kind):
                    self.books[name] = BookSync(symbol)
                elif self.adapter.is_checksum_book_kind(kind):
                    stream_books[name] = StreamBook(self.adapter.book_depth(kind), self.adapter.book_checksum)
                elif self.adapter.is_sequenced_book_kind(kind):
                    stream_books[name] = StreamBook(self.adapter.book_depth(kind))
        if not self.books:  # no snapshots to come
            self._close_rest_connections()
        self.subscription = StreamSubscription(
            self.environment,
            self.adapter,
            self.adapter.stream_url(settings.ws_host, streams),
            self.runtime.metrics,
            on_message=self._on_message,
            on_connect=self._on_connect,
            clock_offset_ms=self.clock_offset_ms,
            stall_timeout_s=self.stall_timeout_s,
            backoff=Backoff(base_s=self.reconnect_base_s, cap_s=self.reconnect_cap_s),
            subscribe_messages=self.adapter.subscribe_messages(streams),
            name_prefix=self.stats_prefix,
        )
        self.subscription.start()

    def on_stop(self) -> None:
        if self.subscription is not None:
            self.subscription.stop()
            self.subscription = None

    @task
    def sync_books(self) -> None:
        waiting = [(stream, book) for stream, book in self.books.items() if book.needs_snapshot]
        for stream, book in waiting:
            self._sync(stream, book)
        if waiting and all(book.synced for book in self.books.values()):
            self._close_rest_connections()

    def _close_rest_connections(self) -> None:
        """Close this user's HTTP connections (its next request opens a new one)."""
        self.client.client.clientpool.close()

    def _sync(self, stream: str, book: BookSync) -> None:
        endpoint, params = self.adapter.depth_snapshot_request(book.symbol)
        reply = self.request(endpoint, params, parse=self.adapter.parse_depth_snapshot)
        if reply.ok and book.needs_snapshot and book.apply_snapshot(reply.parsed) is SnapshotOutcome.GAP:
            self._report_gap(stream)

    def _on_message(self, message: StreamMessage) -> None:
        stream_book = self.stream_books.get(message.stream)
        if stream_book is not None:
            update = self.adapter.book_update(message)
            failed = FAILED_CHECKS.get(stream_book.apply(update)) if update is not None else None
            if failed is not None:
                self._report_gap(message.stream, failed)
                self._resubscribe(message.stream)
            return
        book = self.books.get(message.stream)
        if book is None:
            return
        diff = self.adapter.depth_diff(message)
        if diff is not None and book.on_diff(diff) is DiffOutcome.GAP:
            self._report_gap(message.stream)

    def _on_connect(self, reconnected: bool) -> None:
        if reconnected:  # diffs were missed while disconnected; the drop itself was already reported
            for book in self.books.values():
                book.restart()
            for stream_book in self.stream_books.values():
                stream_book.restart()  # the subscriptions sent again bring fresh snapshots

    def _resubscribe(self, stream: str) -> None:
        """Restart one stream on the open connection: its next snapshot rebuilds the book."""
        if self.subscription is None:
            return
        for text in self.adapter.resubscribe_messages(stream, next(self._req_ids)):
            self.subscription.send(text)

    def _report_gap(self, stream: str, verdict: Verdict = GAP) -> None:
        self.runtime.metrics.ws_gap()
        fire(self.environment, REQUEST_TYPE, self.stats_prefix + stream, None, verdict=verdict)
