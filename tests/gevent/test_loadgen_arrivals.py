"""Open-model pacing: the start schedule on a fake clock, skipped starts, rate changes, and real gevent users."""

import itertools

import gevent
import pytest

from loadgen.pacing.arrivals import ArrivalPacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + 1_000_000.0

    def wait(self, event, timeout):
        assert timeout is not None, "a paused pacer would wait forever"
        self.now += timeout
        return False


def pacer(clock: FakeClock, rate: float, max_lag_s: float = 1.0) -> ArrivalPacer:
    p = ArrivalPacer(max_lag_s=max_lag_s, clock=clock, wall_clock=clock.wall, wait_for_change=clock.wait)
    p.set_rate(rate)
    return p


def test_starts_are_one_interval_apart_and_on_time():
    clock = FakeClock()
    p = pacer(clock, rate=4.0)
    starts = [p.start() for _ in range(5)]
    assert [s.intended_at - clock.wall() for s in starts] == pytest.approx([-1.0, -0.75, -0.5, -0.25, 0.0])
    assert all(s.lag_s == 0.0 and s.skipped == 0 for s in starts)


def test_a_user_that_comes_back_late_starts_at_once_and_the_lag_is_measured():
    clock = FakeClock()
    p = pacer(clock, rate=10.0)
    p.start()
    clock.now += 0.35  # every user was busy: the start due 0.1 s after the first is taken 0.25 s late
    start = p.start()
    assert start.lag_s == pytest.approx(0.25)
    assert start.skipped == 0
    assert start.intended_at == pytest.approx(clock.wall() - 0.25)
    assert p.start().lag_s == pytest.approx(0.15)  # the schedule does not move: the next one is late too


def test_starts_further_behind_than_max_lag_are_skipped_not_sent_in_a_burst():
    clock = FakeClock()
    p = pacer(clock, rate=10.0, max_lag_s=0.5)
    p.start()
    clock.now += 3.0  # the 24 starts due from +0.1 to +2.4 s are more than 0.5 s old: dropped
    start = p.start()
    assert start.skipped == 24
    assert start.lag_s == pytest.approx(0.5)
    following = [p.start() for _ in range(5)]
    assert sum(s.skipped for s in following) == 0


def test_a_new_rate_applies_from_the_next_start():
    clock = FakeClock()
    p = pacer(clock, rate=1.0)
    p.start()
    p.start()  # waited 1 s
    p.set_rate(4.0)
    before = clock.now
    p.start()
    assert clock.now - before == pytest.approx(0.25)


def test_no_rate_means_no_pacing_and_resuming_starts_fresh():
    clock = FakeClock()
    p = ArrivalPacer(clock=clock, wall_clock=clock.wall, wait_for_change=clock.wait)
    assert not p.active
    assert p.start().lag_s == 0.0  # returns at once
    p.set_rate(2.0)
    p.start()
    clock.now += 100.0
    p.set_rate(0.0)
    p.set_rate(2.0)
    start = p.start()
    assert (start.skipped, start.lag_s) == (0, 0.0)
    with pytest.raises(ValueError):
        p.set_rate(-1.0)


def test_a_paused_pacer_holds_users_until_a_rate_is_set():
    p = ArrivalPacer()
    p.set_rate(0.0)
    started = []
    waiter = gevent.spawn(lambda: started.append(p.start()))
    gevent.sleep(0.05)
    assert started == []
    p.set_rate(100.0)
    waiter.join(timeout=1)
    assert len(started) == 1


def test_many_users_together_keep_the_schedule_whatever_their_response_time():
    p = ArrivalPacer()
    p.set_rate(200.0)
    starts: list[float] = []

    def user(response_time_s: float) -> None:
        while True:
            starts.append(p.start().intended_at)
            gevent.sleep(response_time_s)

    users = [gevent.spawn(user, 0.02 + 0.01 * (i % 3)) for i in range(10)]
    gevent.sleep(1.0)
    gevent.killall(users)
    assert 100 < len(starts) <= 201  # never ahead of the schedule; behind only on a very busy machine
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == pytest.approx([0.005] * len(gaps), abs=1e-4)  # wall-clock stamps of a monotonic schedule


def test_granted_starts_go_at_once_tagged_with_their_burst_and_untaken_ones_are_withdrawn():
    clock = FakeClock()
    p = pacer(clock, rate=0.0)  # paused: only grants let users through
    p.grant(3, burst=7)
    starts = [p.start() for _ in range(2)]
    assert [(s.burst, s.lag_s, s.skipped) for s in starts] == [(7, 0.0, 0), (7, 0.0, 0)]
    assert p.withdraw(7) == 1
    assert p.withdraw(7) == 0


def test_a_pause_moves_the_schedule_without_late_or_skipped_starts():
    clock = FakeClock()
    p = pacer(clock, rate=10.0, max_lag_s=0.5)
    p.start()
    p.pause_for(5.0)  # Retry-After 5 s: the users are held, and so is the schedule
    start = p.start()
    assert start.intended_at - clock.wall() == 0.0 and clock.now == pytest.approx(505.0)
    assert start.skipped == 0 and start.lag_s == 0.0
    assert p.start().intended_at - clock.wall() == 0.0 and clock.now == pytest.approx(505.1)  # on at the same rate
    p.pause_for(1.0)
    p.pause_for(0.2)  # a shorter pause does not cut a longer one short
    p.start()
    assert clock.now == pytest.approx(506.1)


def test_a_closed_pacer_gives_no_more_starts_until_the_next_test():
    from loadgen.pacing.arrivals import PacerClosed

    clock = FakeClock()
    p = pacer(clock, rate=0.0)  # paused: a user waiting here would wait for ever
    p.close()
    with pytest.raises(PacerClosed):
        p.start()
    p.restart()
    p.set_rate(5.0)
    assert p.start().skipped == 0


def test_a_user_waiting_on_a_paused_pacer_is_released_when_the_test_stops():
    from loadgen.pacing.arrivals import PacerClosed

    p = ArrivalPacer()
    p.set_rate(0.0)
    waiter = gevent.spawn(p.start)
    gevent.sleep(0.01)
    p.close()
    waiter.join(timeout=1)
    assert isinstance(waiter.exception, PacerClosed)
