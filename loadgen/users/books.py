"""A local order book kept in step with a REST snapshot plus a stream of sequenced diffs.

The procedure is Binance's (web-socket-streams.md, "How to manage a local order book correctly",
as corrected 2025-11-12); it fits any exchange whose diffs carry a first and a last update id:

1. buffer the diffs from the stream and note the first one's first id (`U`);
2. fetch a snapshot; if its id is older than that first `U`, fetch again;
3. drop buffered diffs whose last id (`u`) is at or below the snapshot's id;
4. apply each diff in order: ignore it if `u` < the book's id; if its `U` > the book's id + 1 some
   update is missing (a gap: start over from 1); otherwise set every level (quantity 0 removes it)
   and make `u` the book's id.

The adapter turns stream messages and snapshot answers into `DepthDiff`/`DepthSnapshot`.

`StreamBook` is the other kind: a book kept from the stream alone (its own snapshot, then updates), each
message carrying a checksum of the book after it (Kraken's `book` channel), a sequence number naming the
message it follows, or both (`BookUpdate`).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal

from exchanges.base import BookUpdate, DepthDiff, DepthSnapshot

MAX_BUFFERED_DIFFS = 10_000


class DiffOutcome(enum.StrEnum):
    BUFFERED = "buffered"  # waiting for a snapshot
    APPLIED = "applied"
    STALE = "stale"  # older than the book: ignored
    GAP = "gap"  # an update is missing: the book was dropped and a new sync started


class SnapshotOutcome(enum.StrEnum):
    SYNCED = "synced"
    TOO_OLD = "too_old"  # older than the first buffered diff: fetch another
    GAP = "gap"  # the buffered diffs after the snapshot are not contiguous: a new sync started


class OrderBook:
    """Price levels by side. Prices are keyed as floats, so equal prices printed differently still match."""

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def set_levels(self, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, qty in levels:
                amount = float(qty)
                if amount == 0.0:
                    side.pop(float(price), None)
                else:
                    side[float(price)] = amount

    def best_bid(self) -> float | None:
        return max(self.bids) if self.bids else None

    def best_ask(self) -> float | None:
        return min(self.asks) if self.asks else None


class BookSync:
    """One symbol's local book and where it is in the sync procedure."""

    def __init__(self, symbol: str, max_buffered: int = MAX_BUFFERED_DIFFS) -> None:
        self.symbol = symbol
        self.book = OrderBook()
        self.update_id: int | None = None  # None until synced
        self._buffer: deque[DepthDiff] = deque()
        self._max_buffered = max_buffered

    @property
    def synced(self) -> bool:
        return self.update_id is not None

    @property
    def needs_snapshot(self) -> bool:
        """A snapshot can be applied once at least one diff is buffered (its first id is the reference)."""
        return not self.synced and bool(self._buffer)

    def restart(self) -> None:
        """Forget the book and the buffer (e.g. after a reconnect, when diffs were certainly missed)."""
        self.book.clear()
        self.update_id = None
        self._buffer.clear()

    def on_diff(self, diff: DepthDiff) -> DiffOutcome:
        if self.update_id is None:
            if len(self._buffer) >= self._max_buffered:
                self._buffer.clear()  # no snapshot for too long: start buffering afresh
            self._buffer.append(diff)
            return DiffOutcome.BUFFERED
        return self._apply(diff)

    def apply_snapshot(self, snapshot: DepthSnapshot) -> SnapshotOutcome:
        if not self._buffer:
            raise ValueError("a snapshot needs at least one buffered diff")
        if snapshot.last_id < self._buffer[0].first_id:
            return SnapshotOutcome.TOO_OLD
        buffered, self._buffer = self._buffer, deque()
        self.book.clear()
        self.book.set_levels(snapshot.bids, snapshot.asks)
        self.update_id = snapshot.last_id
        while buffered:
            diff = buffered.popleft()
            if diff.last_id <= snapshot.last_id:
                continue
            if self._apply(diff) is DiffOutcome.GAP:
                self._buffer.extend(buffered)  # later diffs belong to the new sync
                return SnapshotOutcome.GAP
        return SnapshotOutcome.SYNCED

    def _apply(self, diff: DepthDiff) -> DiffOutcome:
        assert self.update_id is not None
        if diff.last_id < self.update_id:
            return DiffOutcome.STALE
        if diff.first_id > self.update_id + 1:
            self.restart()
            self._buffer.append(diff)
            return DiffOutcome.GAP
        self.book.set_levels(diff.bids, diff.asks)
        self.update_id = diff.last_id
        return DiffOutcome.APPLIED


class StreamBookOutcome(enum.StrEnum):
    APPLIED = "applied"  # a snapshot or update, and the book passes its checks
    WAITING = "waiting"  # an update before the first snapshot: ignored
    MISMATCH = "mismatch"  # the book does not match the checksum: dropped until the next snapshot
    GAP = "gap"  # the update does not follow the last one: dropped until the next snapshot


Checksum = Callable[[Iterable[tuple[str, str]], Iterable[tuple[str, str]]], int]


class StreamBook:
    """A book of `depth` levels per side kept from a stream's snapshots and updates, and checked by what
    each message carries: its sequence (an update's `prev_sequence` must be the last message's `sequence`)
    and, with a `checksum` function, its checksum. Levels keep their wire text, which checksums are computed
    over.

    After each message the book is cut back to `depth` levels per side: the exchange sends no removal
    for a level that only fell below the subscribed depth (Kraken's rule). `checksum(asks, bids)` gets
    each side best first.
    """

    def __init__(self, depth: int, checksum: Checksum | None = None) -> None:
        self.depth = depth
        self._checksum = checksum
        self.bids: dict[Decimal, tuple[str, str]] = {}
        self.asks: dict[Decimal, tuple[str, str]] = {}
        self.synced = False
        self.sequence: int | None = None  # the last message's sequence, where the stream numbers them
        self.levels_truncated = 0  # levels dropped because they fell below the depth

    def restart(self) -> None:
        """Forget the book until the next snapshot (after a failed check or a reconnect)."""
        self.bids.clear()
        self.asks.clear()
        self.synced = False
        self.sequence = None

    def apply(self, update: BookUpdate) -> StreamBookOutcome:
        if update.snapshot:
            self.restart()
            self.synced = True
        elif not self.synced:
            return StreamBookOutcome.WAITING
        elif update.prev_sequence is not None and self.sequence is not None and update.prev_sequence != self.sequence:
            self.restart()
            return StreamBookOutcome.GAP
        self._set(self.bids, update.bids)
        self._set(self.asks, update.asks)
        self._truncate(self.bids, keep_highest=True)
        self._truncate(self.asks, keep_highest=False)
        if (self._checksum is not None and update.checksum is not None
                and self._checksum(self.best_asks(), self.best_bids()) != update.checksum):
            self.restart()
            return StreamBookOutcome.MISMATCH
        self.sequence = update.sequence
        return StreamBookOutcome.APPLIED

    def best_bids(self) -> list[tuple[str, str]]:
        """The bids, highest price first, as (price, qty) text."""
        return [self.bids[p] for p in sorted(self.bids, reverse=True)]

    def best_asks(self) -> list[tuple[str, str]]:
        """The asks, lowest price first, as (price, qty) text."""
        return [self.asks[p] for p in sorted(self.asks)]

    @staticmethod
    def _set(levels: dict[Decimal, tuple[str, str]], changes: list[tuple[str, str]]) -> None:
        for price, qty in changes:
            key = Decimal(price)
            if Decimal(qty) == 0:
                levels.pop(key, None)
            else:
                levels[key] = (price, qty)

    def _truncate(self, levels: dict[Decimal, tuple[str, str]], keep_highest: bool) -> None:
        excess = len(levels) - self.depth
        if excess > 0:
            for price in sorted(levels, reverse=not keep_highest)[:excess]:  # the worst levels
                del levels[price]
            self.levels_truncated += excess
