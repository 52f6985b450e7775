"""Unit tests for the simulator's market model: book/diff consistency, user orders, candles."""

from simulator.market import BUY, SELL, Market, SymbolSpec

START_MS = 1_700_000_000_000
SPEC = SymbolSpec("BTCUSDT", "BTC", "USDT", 95_000, 0.01, 0.00001, typical_qty=0.5)


def _book(sym):
    return {(BUY, p): q for p, q in sym.bids.items()} | {(SELL, p): q for p, q in sym.asks.items()}


def test_snapshot_plus_diffs_reproduces_the_book_exactly():
    market = Market([SPEC], seed=7, start_ms=START_MS)
    sym = market.symbols["BTCUSDT"]
    snapshot_id, book = sym.last_update_id, _book(sym)
    diffs = []
    market.listeners.append(lambda _sym, result: result.diff and diffs.append(result.diff))
    now = START_MS
    for _ in range(500):
        now += 100
        market.step(now)
    expected_first = snapshot_id + 1
    for diff in diffs:
        assert diff.first_id == expected_first  # contiguous update ids, no gap
        expected_first = diff.last_id + 1
        for side, price, qty in diff.changes:
            if qty == 0:
                book.pop((side, price), None)
            else:
                book[(side, price)] = qty
    assert book == _book(sym)
    assert sym.best_bid() < sym.best_ask()
    assert sum(t.time_ms >= START_MS for t in sym.trades) > 100  # live trades, beyond the opening tape


def test_same_seed_same_market():
    a = Market([SPEC], seed=1, start_ms=START_MS)
    b = Market([SPEC], seed=1, start_ms=START_MS)
    for now in range(START_MS, START_MS + 5_000, 100):
        a.step(now)
        b.step(now)
    assert _book(a.symbols["BTCUSDT"]) == _book(b.symbols["BTCUSDT"])


def test_resting_user_order_is_in_the_book_and_gets_filled():
    market = Market([SPEC], seed=3, start_ms=START_MS)
    sym = market.symbols["BTCUSDT"]
    fills = []
    sym.on_user_fill = lambda order, fill: fills.append((order, fill))
    price = sym.best_bid()
    before = sym.bids[price]
    order = sym.rest("ref", BUY, price, 10, START_MS)
    assert sym.bids[price] == before + 10
    now = START_MS
    while order.remaining and now < START_MS + 600_000:
        now += 100
        market.step(now)
    assert order.remaining == 0
    assert sum(f.qty for o, f in fills if o is order) == 10


def test_taker_order_fills_against_the_book_within_its_limit():
    market = Market([SPEC], seed=5, start_ms=START_MS)
    sym = market.symbols["BTCUSDT"]
    ask = sym.best_ask()
    fills = sym.execute(BUY, sym.asks[ask] + 5, limit=ask, now_ms=START_MS)
    assert sum(f.qty for f in fills) < sym.asks.get(ask, 0) + 10**9
    assert all(f.price == ask for f in fills)
    assert ask not in sym.asks  # the level was consumed; the rest did not cross the limit


def test_candles_are_deterministic_and_aligned():
    market = Market([SPEC], seed=9, start_ms=START_MS)
    sym = market.symbols["BTCUSDT"]
    now = START_MS
    for _ in range(200):
        now += 100
        market.step(now)
    candles = sym.candles(60_000, None, None, 500, now)
    assert len(candles) == 500
    assert all(c.open_ms % 60_000 == 0 for c in candles)
    assert [c.open_ms for c in candles] == sorted(c.open_ms for c in candles)
    assert all(c.low <= min(c.open, c.close) and c.high >= max(c.open, c.close) for c in candles)
    fresh = Market([SPEC], seed=9, start_ms=START_MS).symbols["BTCUSDT"]
    again = fresh.candles(60_000, None, START_MS - 60_001, 10, now)
    assert [c.close for c in again] == [c.close for c in candles if c.open_ms + 60_000 <= START_MS][-10:]
    aligned = START_MS - START_MS % 60_000 - 120_000
    from_start = sym.candles(60_000, aligned - 1, None, 3, now)  # the first candle opening at or after start
    assert [c.open_ms for c in from_start] == [aligned + i * 60_000 for i in range(3)]


def test_a_user_bid_the_market_moves_through_is_filled_and_the_book_never_crosses():
    market = Market([SPEC], seed=11, start_ms=START_MS)
    sym = market.symbols["BTCUSDT"]
    fills = []
    sym.on_user_fill = lambda order, fill: fills.append(fill)
    orders = [sym.rest(i, BUY, sym.best_bid() - i * sym.level_step, 5, START_MS) for i in range(5)]
    orders += [sym.rest(10 + i, SELL, sym.best_ask() + i * sym.level_step, 5, START_MS) for i in range(5)]
    now = START_MS
    for _ in range(3000):
        now += 100
        market.step(now)
        assert sym.bids and sym.asks
        assert sym.best_bid() < sym.best_ask()
    assert fills, "the walk should have crossed some resting orders in 5 minutes"
    filled = [o for o in orders if o.remaining == 0]
    assert sum(f.qty for f in fills) == 5 * len(filled) + sum(5 - o.remaining for o in orders if o.remaining)


def test_a_tick_moves_the_book_by_a_few_levels_not_all_of_them():
    market = Market([SPEC], seed=2, start_ms=START_MS)
    sym = market.symbols["BTCUSDT"]
    kept = []
    for now in range(START_MS + 100, START_MS + 20_000, 100):
        before = set(sym.bids)
        market.step(now)
        kept.append(len(before & set(sym.bids)) / len(before))
    assert sum(kept) / len(kept) > 0.7


def test_the_tape_is_never_empty_at_start_and_ends_before_it():
    """Recent-trade queries and trade snapshots right after start find the last minute's trades."""
    sym = Market([SPEC], seed=3, start_ms=START_MS).symbols["BTCUSDT"]
    tape = list(sym.trades)
    assert len(tape) == sym.TRADE_TAPE_AT_START
    assert all(START_MS - 60_000 <= t.time_ms < START_MS for t in tape)
    assert [t.id for t in tape] == list(range(tape[0].id, tape[0].id + len(tape)))
    assert sorted(t.time_ms for t in tape) == [t.time_ms for t in tape]
    assert all(abs(t.price - sym.mid) <= 3 * sym.level_step + 1 for t in tape)


def _resting_lots(i: int) -> int:
    return 25_000 * (1 + i % 8)  # half a typical order of the market and more: some fill in parts


def _user_fills(seed: int) -> list[tuple[str, int, int, int, int]]:
    """A fixed sequence of user orders on a market of `seed`: takers that sweep levels (partial and full fills
    within a limit) and resting orders the market fills over the following ticks, partly or wholly."""
    market = Market([SPEC], seed=seed, start_ms=START_MS)
    sym = market.symbols["BTCUSDT"]
    fills: list[tuple[str, int, int, int, int]] = []
    sym.on_user_fill = lambda order, fill: fills.append((order.ref, fill.price, fill.qty, fill.trade_id, now))
    now = START_MS
    for i in range(40):
        now += 100
        market.step(now)
        side = BUY if i % 2 == 0 else SELL
        best = sym.best_ask() if side == BUY else sym.best_bid()
        fills += [(f"taker{i}", f.price, f.qty, f.trade_id, now) for f in sym.execute(side, 3 + i, best, now)]
        sym.rest(f"resting{i}", side, sym.best_bid() if side == BUY else sym.best_ask(), _resting_lots(i), now)
    return fills


def test_the_same_seed_gives_the_same_user_fills_partial_and_full():
    first = _user_fills(seed=11)
    assert first == _user_fills(seed=11) and first != _user_fills(seed=12)
    resting = {}
    for ref, _price, qty, _trade, _now in first:
        if ref.startswith("resting"):
            resting[ref] = resting.get(ref, 0) + qty
    sizes = {f"resting{i}": _resting_lots(i) for i in range(40)}
    assert any(qty < sizes[ref] for ref, qty in resting.items())  # partly filled, still resting
    assert any(qty == sizes[ref] for ref, qty in resting.items())  # filled wholly
