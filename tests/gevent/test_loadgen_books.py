"""Local order book sync (Binance's procedure as corrected 2025-11-12) and Binance's stream/snapshot shapes."""

import json

import pytest

from exchanges.base import DepthDiff, DepthSnapshot
from exchanges.binance import ADAPTER
from loadgen.users.books import BookSync, DiffOutcome, SnapshotOutcome


def diff(first, last, bids=(), asks=()):
    return DepthDiff("BTCUSDT", first, last, list(bids), list(asks))


SNAPSHOT = DepthSnapshot(100, [["10.0", "1"], ["9.0", "2"]], [["11.0", "1"], ["12.0", "3"]])


def synced_book():
    book = BookSync("BTCUSDT")
    book.on_diff(diff(95, 101, bids=[["10.0", "5"]]))
    assert book.apply_snapshot(SNAPSHOT) is SnapshotOutcome.SYNCED
    return book


def test_buffers_until_a_snapshot_and_needs_one_only_after_the_first_diff():
    book = BookSync("BTCUSDT")
    assert not book.needs_snapshot
    assert book.on_diff(diff(101, 103)) is DiffOutcome.BUFFERED
    assert book.needs_snapshot and not book.synced


def test_snapshot_older_than_the_first_buffered_diff_must_be_fetched_again():
    book = BookSync("BTCUSDT")
    book.on_diff(diff(101, 105))
    assert book.apply_snapshot(DepthSnapshot(100, [], [])) is SnapshotOutcome.TOO_OLD
    assert book.needs_snapshot
    assert book.apply_snapshot(DepthSnapshot(102, [["1", "1"]], [])) is SnapshotOutcome.SYNCED
    assert book.update_id == 105


def test_buffered_diffs_covered_by_the_snapshot_are_dropped_and_the_rest_applied_in_order():
    book = BookSync("BTCUSDT")
    book.on_diff(diff(90, 95, bids=[["10.0", "99"]]))  # u <= 100: dropped
    book.on_diff(diff(96, 100, asks=[["11.0", "99"]]))  # u <= 100: dropped
    book.on_diff(diff(101, 102, bids=[["10.0", "0"]], asks=[["11.5", "4"]]))
    book.on_diff(diff(103, 104, bids=[["9.5", "1"]]))
    assert book.apply_snapshot(SNAPSHOT) is SnapshotOutcome.SYNCED
    assert book.update_id == 104
    assert book.book.bids == {9.0: 2.0, 9.5: 1.0}
    assert book.book.asks == {11.0: 1.0, 11.5: 4.0, 12.0: 3.0}
    assert (book.book.best_bid(), book.book.best_ask()) == (9.5, 11.0)


def test_in_order_diffs_apply_and_quantity_zero_deletes_the_level():
    book = synced_book()
    assert book.update_id == 101
    assert book.on_diff(diff(102, 105, bids=[["9.0", "0"]], asks=[["11.0", "0.5"]])) is DiffOutcome.APPLIED
    assert book.update_id == 105
    assert 9.0 not in book.book.bids
    assert book.book.asks[11.0] == 0.5


def test_stale_diffs_are_ignored():
    book = synced_book()
    assert book.on_diff(diff(90, 100, bids=[["10.0", "77"]])) is DiffOutcome.STALE
    assert book.book.bids[10.0] == 5.0
    assert book.update_id == 101


def test_overlapping_diff_is_applied():
    book = synced_book()
    assert book.on_diff(diff(100, 103, bids=[["8.0", "1"]])) is DiffOutcome.APPLIED
    assert book.update_id == 103


def test_a_gap_drops_the_book_and_restarts_buffering_from_the_gap_diff():
    book = synced_book()
    assert book.on_diff(diff(105, 106)) is DiffOutcome.GAP
    assert not book.synced and book.book.bids == {}
    assert book.needs_snapshot
    assert book.apply_snapshot(DepthSnapshot(104, [], [])) is SnapshotOutcome.TOO_OLD
    book.on_diff(diff(107, 108, asks=[["20", "1"]]))
    assert book.apply_snapshot(DepthSnapshot(106, [], [["21", "1"]])) is SnapshotOutcome.SYNCED
    assert book.update_id == 108
    assert book.book.asks == {20.0: 1.0, 21.0: 1.0}


def test_a_hole_in_the_buffered_diffs_is_a_gap_at_snapshot_time():
    book = BookSync("BTCUSDT")
    book.on_diff(diff(101, 102))
    book.on_diff(diff(105, 106))  # 103..104 never arrived
    book.on_diff(diff(107, 107))
    assert book.apply_snapshot(DepthSnapshot(101, [], [])) is SnapshotOutcome.GAP
    assert not book.synced and book.needs_snapshot
    assert book.apply_snapshot(DepthSnapshot(106, [], [])) is SnapshotOutcome.SYNCED
    assert book.update_id == 107


def test_restart_forgets_everything():
    book = synced_book()
    book.restart()
    assert not book.synced and not book.needs_snapshot and book.book.asks == {}


def test_buffer_is_bounded():
    book = BookSync("BTCUSDT", max_buffered=3)
    for i in range(10):
        book.on_diff(diff(i * 2 + 1, i * 2 + 2))  # overflows after 3: buffering starts afresh, last at (19, 20)
    assert book.apply_snapshot(DepthSnapshot(15, [], [])) is SnapshotOutcome.TOO_OLD
    assert book.apply_snapshot(DepthSnapshot(19, [], [])) is SnapshotOutcome.SYNCED
    assert book.update_id == 20


def test_binance_combined_frames_decode_to_stream_messages_and_depth_diffs():
    event = {"e": "depthUpdate", "E": 1700000000123, "s": "BTCUSDT", "U": 157, "u": 160,
             "b": [["0.0024", "10"]], "a": [["0.0026", "100"]]}
    message = ADAPTER.decode_stream_message(json.dumps({"stream": "btcusdt@depth@100ms", "data": event}))
    assert message.stream == "btcusdt@depth@100ms"
    assert message.event_time_ms == 1700000000123
    depth = ADAPTER.depth_diff(message)
    assert (depth.symbol, depth.first_id, depth.last_id) == ("BTCUSDT", 157, 160)
    assert depth.bids == [["0.0024", "10"]]
    ticker = ADAPTER.decode_stream_message(
        b'{"stream":"btcusdt@bookTicker","data":{"u":4,"s":"BTCUSDT","b":"1","B":"2","a":"3","A":"4"}}'
    )
    assert ticker.event_time_ms is None and ADAPTER.depth_diff(ticker) is None
    assert ADAPTER.decode_stream_message('{"result":null,"id":1}') is None
    with pytest.raises(ValueError):
        ADAPTER.decode_stream_message('{"e":"trade"}')


def test_binance_snapshot_request_and_parse():
    assert ADAPTER.depth_snapshot_request("BTCUSDT") == ("depth", {"symbol": "BTCUSDT", "limit": "1000"})
    assert ADAPTER.endpoint("depth").weight_for({"limit": "1000"}) == 50
    snap = ADAPTER.parse_depth_snapshot(b'{"lastUpdateId":1027024,"bids":[["4.0","431.0"]],"asks":[]}')
    assert snap == DepthSnapshot(1027024, [["4.0", "431.0"]], [])


@pytest.mark.parametrize(
    ("kind", "valid", "diff_depth"),
    [("trade", True, False), ("depth@100ms", True, True), ("depth", True, True), ("depth5", True, False),
     ("kline_1m", True, False), ("kline_7m", False, False), ("nonsense", False, False)],
)
def test_binance_stream_kinds(kind, valid, diff_depth):
    assert ADAPTER.is_stream_kind(kind) is valid
    assert ADAPTER.is_diff_depth_kind(kind) is diff_depth
