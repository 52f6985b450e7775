"""Backoff: full jitter within the doubling ceiling, capped, never below a server's Retry-After."""

import random

import pytest

from loadgen.pacing.backoff import Backoff


def test_delays_stay_within_the_doubling_ceiling_and_the_cap():
    backoff = Backoff(base_s=0.5, cap_s=4.0, rng=random.Random(1))
    for attempt in range(12):
        ceiling = min(4.0, 0.5 * 2**attempt)
        assert backoff.ceiling_s() == ceiling
        assert 0.0 <= backoff.next_delay() <= ceiling


def test_jitter_spreads_delays():
    backoff = Backoff(base_s=1.0, cap_s=1.0, rng=random.Random(2))
    delays = {round(backoff.next_delay(), 3) for _ in range(20)}
    assert len(delays) > 10


def test_retry_after_wins_when_longer_even_above_the_cap():
    backoff = Backoff(base_s=0.5, cap_s=2.0, rng=random.Random(3))
    assert backoff.next_delay(retry_after_s=120.0) == 120.0
    assert backoff.next_delay(retry_after_s=0.0) <= backoff.cap_s


def test_reset_starts_again_from_the_base():
    backoff = Backoff(base_s=0.5, cap_s=30.0, rng=random.Random(4))
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.ceiling_s() == 0.5


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_bad_parameters_are_refused(base, cap):
    with pytest.raises(ValueError):
        Backoff(base_s=base, cap_s=cap)
