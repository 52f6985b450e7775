"""Burst tallies: one process's outcome of a burst, and the sum over processes through msgpack."""

from dataclasses import asdict, fields

import msgpack
import pytest

from exchanges.base import OK, FailureKind, Verdict
from loadgen.messages import BurstResultPayload
from loadgen.pacing.spike import BurstTally


def test_a_tally_counts_outcomes_and_spans_first_send_to_last_answer():
    tally = BurstTally(1, size=4)
    tally.record(OK, True, 100.00, 100.05)
    tally.record(Verdict(False, FailureKind.RATE_LIMITED), True, 100.01, 100.02)
    tally.record(Verdict(False, FailureKind.SERVER_ERROR), True, 100.02, 100.30)
    tally.record(Verdict(False, FailureKind.CONNECTION, message="breaker"), False, 0.0, 0.0)  # refused unsent
    assert (tally.sent, tally.succeeded, tally.rate_limited, tally.failed, tally.answered) == (3, 1, 1, 2, 4)
    assert tally.duration_ms == pytest.approx(300.0)


def test_tallies_from_two_processes_add_up():
    a, b = BurstTally(2, size=3), BurstTally(2, size=2)
    a.record(OK, True, 10.0, 10.2)
    b.record(Verdict(False, FailureKind.BANNED), True, 9.9, 10.1)
    total = BurstTally(2)
    for part in (a, b):
        total.add(BurstTally(**msgpack.loads(msgpack.dumps(asdict(part)))))
    assert (total.size, total.sent, total.succeeded, total.rate_limited) == (5, 2, 1, 1)
    assert total.duration_ms == pytest.approx(300.0)


def test_pauses_are_drawn_short_enough_for_the_bursts_still_to_come():
    import random

    from loadgen.pacing.shapes import Load, SpikePlan, SpikeSettings

    plan = SpikePlan(None, Load(20, 20.0, []), SpikeSettings(3, 2.0, 30.0, 30.0), run_time_s=20,
                     rng=random.Random(1), started_at=1000.0)
    plan.cycle = 1  # two bursts to come, 1.5 s each, and one pause of at least 2 s between them
    assert all(2.0 <= plan._pause(1003.0) <= 20 - 3 - 2 * 1.5 - 2 for _ in range(50))
    plan.cycle = 2
    assert all(plan._pause(1017.0) == pytest.approx(2.0) for _ in range(5))  # no room left: the shortest
    assert SpikePlan(None, Load(20, 20.0, []), SpikeSettings(3, 2.0, 30.0, 30.0)).deadline is None  # no run time


def test_the_burst_result_payload_is_a_whole_burst_tally() -> None:
    """The typed payload of messages.BURST_RESULT names exactly the fields a BurstTally sends."""
    assert set(BurstResultPayload.__annotations__) == {f.name for f in fields(BurstTally)}
