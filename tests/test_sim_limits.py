"""Rate-limit building blocks: epoch-aligned fixed windows, token buckets, decaying counters, escalating bans."""

from __future__ import annotations

import pytest

from simulator.limits import BanTracker, DecayingCounter, FixedWindowCounter, TokenBucket


def test_fixed_window_counts_per_key_and_restarts_at_the_epoch_aligned_boundary() -> None:
    counter = FixedWindowCounter(limit=10, interval_s=60)
    assert counter.add("a", 4, now=120.0) == 4
    assert counter.add("a", 5, now=179.9) == 9
    assert counter.add("b", 1, now=179.9) == 1
    assert counter.used("a", now=179.9) == 9
    assert counter.reset_in(now=150.0) == pytest.approx(30.0)
    assert counter.used("a", now=180.0) == 0  # a new window starts at 180 = 3 * 60
    assert counter.add("a", 2, now=180.0) == 2


def test_token_bucket_refills_lazily_up_to_its_burst() -> None:
    bucket = TokenBucket(rate_per_s=2, burst=4)
    assert all(bucket.try_take(1, now=100.0) for _ in range(4))
    assert not bucket.try_take(1, now=100.0)
    assert bucket.wait_s(1, now=100.0) == pytest.approx(0.5)
    assert bucket.try_take(1, now=100.5)
    assert bucket.try_take(3, now=200.0) and bucket.tokens == pytest.approx(1.0)  # capped at the burst


def test_bans_follow_the_tolerated_strikes_and_double_up_to_the_cap() -> None:
    bans = BanTracker(first_ban_s=120, max_ban_s=300, tolerated=2)
    assert bans.strike("ip", now=0.0, limited_until=60.0) is None
    assert bans.strike("ip", now=1.0, limited_until=60.0) is None
    assert bans.strike("ip", now=2.0, limited_until=60.0) == 122.0
    assert bans.banned_until("ip", now=100.0) == 122.0
    assert bans.banned_until("ip", now=122.0) is None
    assert bans.ban("ip", now=1000.0) == 1240.0  # second offence: doubled
    assert bans.ban("ip", now=2000.0) == 2300.0  # third: capped at max_ban_s
    assert bans.banned_until("other", now=2000.0) is None


def test_strikes_are_forgotten_when_the_limited_window_ends() -> None:
    bans = BanTracker(first_ban_s=1, max_ban_s=10, tolerated=1)
    assert bans.strike("ip", now=0.0, limited_until=2.0) is None
    assert bans.strike("ip", now=2.5, limited_until=4.0) is None  # a new window: the count starts again
    assert bans.strike("ip", now=3.0, limited_until=4.0) == 4.0


def test_decaying_counter_admits_up_to_its_max_and_drains_linearly() -> None:
    counter = DecayingCounter(max_count=15, decay_per_s=0.33)  # Kraken's Starter tier
    assert all(counter.try_add("key", 1, now=100.0) for _ in range(15))
    assert not counter.try_add("key", 1, now=100.0)  # refused calls add nothing
    assert counter.level("key", now=100.0) == 15
    assert counter.wait_s("key", 1, now=100.0) == pytest.approx(1 / 0.33)
    assert not counter.try_add("key", 1, now=103.0)  # 0.99 drained: not yet room for one more
    assert counter.try_add("key", 1, now=103.1)
    assert counter.level("key", now=103.1 + 16 / 0.33) == 0.0
    assert counter.level("other", now=100.0) == 0.0


def test_decaying_counter_penalties_may_exceed_the_max_and_drained_keys_are_forgotten() -> None:
    counter = DecayingCounter(max_count=10, decay_per_s=1.0)
    assert counter.add("pair", 8, now=0.0) == 8
    assert counter.add("pair", 8, now=1.0) == 15  # a penalty is charged even beyond the max ...
    assert not counter.try_add("pair", 1, now=1.0)  # ... and keeps the key limited until it drains
    assert counter.wait_s("pair", 1, now=1.0) == pytest.approx(6.0)
    assert counter.try_add("pair", 1, now=7.0)
    counter.try_add("idle", 1, now=0.0)
    counter.try_add("idle", 0, now=5.0)
    assert "idle" not in counter._levels
