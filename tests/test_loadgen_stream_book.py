"""StreamBook: a book kept from a stream's own snapshots and updates, checked by checksum or sequence (no Locust)."""

from __future__ import annotations

from exchanges.base import BookUpdate
from exchanges.kraken import book_checksum
from loadgen.users.books import StreamBook, StreamBookOutcome


def book_message(bids, asks, checksum_of=None, snapshot=False, checksum=None) -> BookUpdate:
    return BookUpdate("book:BTC/USD", snapshot, bids, asks, checksum if checksum is not None else checksum_of)


def test_snapshot_updates_truncation_and_checksums() -> None:
    book = StreamBook(depth=2, checksum=book_checksum)
    bids, asks = [("100.0", "1.00000000"), ("99.5", "2.00000000")], [("100.5", "1.50000000"), ("101.0", "3.00000000")]
    assert book.apply(book_message(bids, asks, book_checksum(asks, bids), snapshot=True)) is StreamBookOutcome.APPLIED
    # A better bid pushes 99.5 below the depth: no removal is sent, the book cuts it off itself.
    after = [("100.2", "0.50000000"), ("100.0", "1.00000000")]
    update = book_message([("100.2", "0.50000000")], [], book_checksum(asks, after))
    assert book.apply(update) is StreamBookOutcome.APPLIED
    assert book.best_bids() == after and book.levels_truncated == 1
    # Quantity 0 removes a level (any text form of zero).
    remaining = [("101.0", "3.00000000")]
    assert book.apply(book_message([], [("100.50", "0.00000000")], book_checksum(remaining, after))) is (
        StreamBookOutcome.APPLIED)
    assert book.best_asks() == remaining


def test_a_mismatch_drops_the_book_until_the_next_snapshot() -> None:
    book = StreamBook(depth=10, checksum=book_checksum)
    bids, asks = [("10.0", "1.0")], [("11.0", "1.0")]
    assert book.apply(book_message([("9.0", "1.0")], [], checksum=1)) is StreamBookOutcome.WAITING  # no snapshot yet
    assert book.apply(book_message(bids, asks, book_checksum(asks, bids), snapshot=True)) is StreamBookOutcome.APPLIED
    assert book.apply(book_message([("10.0", "2.0")], [], checksum=12345)) is StreamBookOutcome.MISMATCH
    assert not book.synced and not book.bids and not book.asks
    assert book.apply(book_message([("10.0", "2.0")], [], checksum=12345)) is StreamBookOutcome.WAITING
    assert book.apply(book_message(bids, asks, book_checksum(asks, bids), snapshot=True)) is StreamBookOutcome.APPLIED


def sequenced(bids, asks, sequence, prev=None, snapshot=False) -> BookUpdate:
    return BookUpdate("orderbook.50.BTCUSDT", snapshot, bids, asks, sequence=sequence, prev_sequence=prev)


def test_sequenced_updates_must_follow_the_last_one() -> None:
    book = StreamBook(depth=10)  # no checksum: the sequence is the check
    assert book.apply(sequenced([("10.0", "1.0")], [("11.0", "1.0")], 7, snapshot=True)) is StreamBookOutcome.APPLIED
    assert book.apply(sequenced([("10.0", "2.0")], [], 8, prev=7)) is StreamBookOutcome.APPLIED
    assert book.apply(sequenced([], [("11.0", "0")], 9, prev=8)) is StreamBookOutcome.APPLIED
    assert book.best_bids() == [("10.0", "2.0")] and book.best_asks() == [] and book.sequence == 9
    assert book.apply(sequenced([("9.0", "1.0")], [], 11, prev=10)) is StreamBookOutcome.GAP  # 10 was skipped
    assert not book.synced and not book.bids and book.sequence is None
    assert book.apply(sequenced([("9.0", "1.0")], [], 12, prev=11)) is StreamBookOutcome.WAITING
    assert book.apply(sequenced([("9.5", "1.0")], [], 1, snapshot=True)) is StreamBookOutcome.APPLIED
    assert book.best_bids() == [("9.5", "1.0")]


def test_sequence_and_checksum_are_both_checked() -> None:
    book = StreamBook(depth=10, checksum=book_checksum)
    bids, asks = [("10.0", "1.0")], [("11.0", "1.0")]
    snapshot = BookUpdate("books:BTC-USDT", True, bids, asks, book_checksum(asks, bids), sequence=100)
    assert book.apply(snapshot) is StreamBookOutcome.APPLIED
    after = [("10.0", "2.0")]
    update = BookUpdate("books:BTC-USDT", False, after, [], book_checksum(asks, after), sequence=105, prev_sequence=100)
    assert book.apply(update) is StreamBookOutcome.APPLIED
    wrong = BookUpdate("books:BTC-USDT", False, [("10.0", "3.0")], [], 1, sequence=106, prev_sequence=105)
    assert book.apply(wrong) is StreamBookOutcome.MISMATCH
    assert book.apply(snapshot) is StreamBookOutcome.APPLIED
    checksum = book_checksum(asks, after)
    skipped = BookUpdate("books:BTC-USDT", False, after, [], checksum, sequence=107, prev_sequence=106)
    assert book.apply(skipped) is StreamBookOutcome.GAP
