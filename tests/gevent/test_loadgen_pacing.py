"""Weight limiter and Retry-After gate, on a fake clock (no real waiting)."""

import random

import pytest

from loadgen.pacing.backoff import Backoff
from loadgen.pacing.weight_limiter import RetryAfterGate, WeightLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_limiter_lets_weight_through_up_to_the_budget_without_waiting():
    clock = FakeClock()
    limiter = WeightLimiter(budget=100, window_s=60, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        assert limiter.acquire(5) == 0.0
    assert limiter.used() == 100
    assert clock.sleeps == []


def test_limiter_waits_until_the_oldest_weight_leaves_the_window():
    clock = FakeClock()
    limiter = WeightLimiter(budget=10, window_s=60, clock=clock, sleep=clock.sleep)
    limiter.acquire(6)
    clock.now += 10
    limiter.acquire(4)
    waited = limiter.acquire(5)  # needs the first 6 to expire: 50 s later
    assert waited == pytest.approx(50.0)
    assert limiter.used() == 9


def test_limiter_never_exceeds_the_budget_in_any_window():
    clock = FakeClock()
    limiter = WeightLimiter(budget=50, window_s=10, clock=clock, sleep=clock.sleep)
    rng = random.Random(5)
    sent: list[tuple[float, int]] = []
    for _ in range(500):
        weight = rng.choice((1, 2, 5, 10))
        limiter.acquire(weight)
        sent.append((clock.now, weight))
        clock.now += rng.random() * 0.2
    for t, _ in sent:
        assert sum(w for s, w in sent if t - 10 < s <= t) <= 50


def test_a_request_heavier_than_the_budget_goes_alone():
    clock = FakeClock()
    limiter = WeightLimiter(budget=10, window_s=60, clock=clock, sleep=clock.sleep)
    assert limiter.acquire(50) == 0.0
    assert limiter.acquire(1) == pytest.approx(60.0)


def test_limiter_budget_can_be_changed_from_outside():
    clock = FakeClock()
    limiter = WeightLimiter(budget=10, window_s=60, clock=clock, sleep=clock.sleep)
    limiter.acquire(10)
    limiter.set_budget(20)
    assert limiter.budget == 20
    assert limiter.acquire(10) == 0.0
    with pytest.raises(ValueError):
        limiter.set_budget(0)


def test_gate_holds_for_retry_after_or_backoff_whichever_is_longer():
    clock = FakeClock()
    gate = RetryAfterGate(Backoff(base_s=1.0, cap_s=8.0, rng=random.Random(6)), clock=clock, sleep=clock.sleep)
    assert gate.wait() == 0.0
    gate.hold(30.0)
    assert gate.remaining_s() == pytest.approx(30.0)
    assert gate.wait() == pytest.approx(30.0)
    assert gate.remaining_s() == 0.0


def test_gate_answers_in_flight_during_a_pause_do_not_escalate_the_backoff():
    clock = FakeClock()
    backoff = Backoff(base_s=1.0, cap_s=8.0, rng=random.Random(7))
    gate = RetryAfterGate(backoff, clock=clock, sleep=clock.sleep)
    gate.hold(5.0)
    gate.hold(None)
    gate.hold(2.0)
    assert backoff.attempt == 1
    assert gate.remaining_s() == pytest.approx(5.0)
    gate.hold(9.0)  # a longer server wait still extends the pause
    assert gate.remaining_s() == pytest.approx(9.0)
    gate.wait()
    gate.clear()
    assert backoff.attempt == 0


def test_gate_holds_for_exactly_the_servers_wait_with_backoff_retry_after():
    clock = FakeClock()
    backoff = Backoff(base_s=4.0, cap_s=8.0, rng=random.Random(8))
    gate = RetryAfterGate(backoff, clock=clock, sleep=clock.sleep)
    gate.hold_for(0.5)
    assert gate.remaining_s() == pytest.approx(0.5) and backoff.attempt == 0  # no backoff of its own
    gate.hold_for(0.2)  # an answer in flight does not shorten it
    assert gate.remaining_s() == pytest.approx(0.5)
