"""ChecksumBook: a book kept from a stream's own snapshots and updates, checked by checksum (no Locust here)."""

from __future__ import annotations

from exchanges.base import BookUpdate
from exchanges.kraken import book_checksum
from loadgen.users.books import ChecksumBook, ChecksumOutcome


def book_message(bids, asks, checksum_of=None, snapshot=False, checksum=None) -> BookUpdate:
    return BookUpdate("book:BTC/USD", snapshot, bids, asks, checksum if checksum is not None else checksum_of)


def test_snapshot_updates_truncation_and_checksums() -> None:
    book = ChecksumBook(depth=2, checksum=book_checksum)
    bids, asks = [("100.0", "1.00000000"), ("99.5", "2.00000000")], [("100.5", "1.50000000"), ("101.0", "3.00000000")]
    assert book.apply(book_message(bids, asks, book_checksum(asks, bids), snapshot=True)) is ChecksumOutcome.APPLIED
    # A better bid pushes 99.5 below the depth: no removal is sent, the book cuts it off itself.
    after = [("100.2", "0.50000000"), ("100.0", "1.00000000")]
    update = book_message([("100.2", "0.50000000")], [], book_checksum(asks, after))
    assert book.apply(update) is ChecksumOutcome.APPLIED
    assert book.best_bids() == after and book.levels_truncated == 1
    # Quantity 0 removes a level (any text form of zero).
    remaining = [("101.0", "3.00000000")]
    assert book.apply(book_message([], [("100.50", "0.00000000")], book_checksum(remaining, after))) is (
        ChecksumOutcome.APPLIED)
    assert book.best_asks() == remaining


def test_a_mismatch_drops_the_book_until_the_next_snapshot() -> None:
    book = ChecksumBook(depth=10, checksum=book_checksum)
    bids, asks = [("10.0", "1.0")], [("11.0", "1.0")]
    assert book.apply(book_message([("9.0", "1.0")], [], checksum=1)) is ChecksumOutcome.WAITING  # no snapshot yet
    assert book.apply(book_message(bids, asks, book_checksum(asks, bids), snapshot=True)) is ChecksumOutcome.APPLIED
    assert book.apply(book_message([("10.0", "2.0")], [], checksum=12345)) is ChecksumOutcome.MISMATCH
    assert not book.synced and not book.bids and not book.asks
    assert book.apply(book_message([("10.0", "2.0")], [], checksum=12345)) is ChecksumOutcome.WAITING
    assert book.apply(book_message(bids, asks, book_checksum(asks, bids), snapshot=True)) is ChecksumOutcome.APPLIED
