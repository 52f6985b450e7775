"""Circuit breaker transitions on a fake clock."""

import pytest

from exchanges.base import FailureKind
from loadgen.pacing.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, changes: list[BreakerState]) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=3, open_s=5.0, on_change=changes.append, clock=clock)


def test_unhealthy_answers_in_a_row_open_it_and_requests_are_refused_while_open():
    clock, changes = Clock(), []
    b = breaker(clock, changes)
    for kind in (FailureKind.SERVER_ERROR, None, FailureKind.SERVER_ERROR, FailureKind.TIMEOUT):
        assert b.allow()
        b.record(kind)
    assert b.state is BreakerState.CLOSED  # the success in between reset the count
    assert b.allow()
    b.record(FailureKind.CONNECTION)
    assert b.state is BreakerState.OPEN and changes == [BreakerState.OPEN]
    clock.now += 4.9
    assert not b.allow()


def test_client_errors_do_not_open_it():
    clock, changes = Clock(), []
    b = breaker(clock, changes)
    for _ in range(10):
        b.record(FailureKind.BAD_REQUEST)
        b.record(FailureKind.ORDER_REJECTED)
    assert b.state is BreakerState.CLOSED and changes == []


def test_half_open_lets_one_trial_through_and_its_answer_decides():
    clock, changes = Clock(), []
    b = breaker(clock, changes)
    for _ in range(3):
        b.record(FailureKind.RATE_LIMITED)
    clock.now += 5.0
    assert b.allow()  # the trial
    assert b.state is BreakerState.HALF_OPEN
    assert not b.allow()  # everyone else still waits
    b.record(FailureKind.SERVER_ERROR)
    assert b.state is BreakerState.OPEN
    assert not b.allow()
    clock.now += 5.0
    assert b.allow()
    b.record(None)
    assert b.state is BreakerState.CLOSED and b.allow()
    assert changes == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


@pytest.mark.parametrize(("threshold", "open_s"), [(0, 1.0), (1, 0.0)])
def test_bad_parameters_are_refused(threshold, open_s):
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=threshold, open_s=open_s)
