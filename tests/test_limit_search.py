"""The ramp's limit search as pure rules: which rate comes next, and when the search is over."""

from __future__ import annotations

import random

import pytest

from loadgen.pacing.limit_search import (
    DESCEND_FACTOR,
    Done,
    Role,
    Rules,
    Step,
    Trial,
    bracket,
    next_step,
)

BUCKET = Rules(start_rps=10, max_rps=2000, drains=True)
WINDOW = Rules(start_rps=10, max_rps=2000, drains=False)


def test_the_first_plateau_climbs_from_the_start_rate_and_climbing_doubles():
    assert next_step([], BUCKET) == Step(Role.CLIMB, 10)
    assert next_step([Trial(Role.CLIMB, 10, False)], BUCKET) == Step(Role.CLIMB, 20)
    assert next_step([], Rules(start_rps=50, max_rps=30, drains=False)) == Step(Role.CLIMB, 30)


def test_climbing_stops_at_the_highest_rate_allowed():
    trials = [Trial(Role.CLIMB, 1000, False)]
    assert next_step(trials, BUCKET) == Step(Role.CLIMB, 2000)
    done = next_step([*trials, Trial(Role.CLIMB, 2000, False)], BUCKET)
    assert isinstance(done, Done) and "no rate limit up to 2000" in done.reason


def test_a_limited_start_goes_down_to_just_below_the_measured_capacity():
    step = next_step([Trial(Role.CLIMB, 10, True, capacity=6.0)], BUCKET)
    assert step.role is Role.PROBE and step.rate == pytest.approx(6.0 * (1 - BUCKET.margin))


def test_without_a_measured_capacity_it_halves():
    assert next_step([Trial(Role.CLIMB, 10, True)], BUCKET) == Step(Role.PROBE, 10 * DESCEND_FACTOR)


def test_after_a_clean_probe_a_bucket_is_drained_before_the_probe_above_it():
    trials = [Trial(Role.CLIMB, 20, True, capacity=6.0), Trial(Role.PROBE, 6.0 * (1 - BUCKET.margin), False)]
    drain = next_step(trials, BUCKET)
    assert drain == Step(Role.DRAIN, 20)  # the highest rate sent (twice the lowest limited rate would be 40)
    trials.append(Trial(Role.DRAIN, 20, True, capacity=6.0))
    probe = next_step(trials, BUCKET)
    assert probe.role is Role.PROBE and probe.rate == pytest.approx(6.0 * (1 + BUCKET.margin))
    # a fixed window needs no drain: the next window starts empty
    assert next_step(trials[:2], WINDOW).role is Role.PROBE


def test_a_drain_that_drew_no_rate_limit_is_not_repeated():
    trials = [Trial(Role.CLIMB, 20, True), Trial(Role.PROBE, 10, False), Trial(Role.DRAIN, 20, False)]
    assert next_step(trials, BUCKET) == Step(Role.PROBE, 15)


def test_below_and_above_the_capacity_close_the_bracket_within_the_tolerance():
    m = BUCKET.margin
    trials = [Trial(Role.CLIMB, 20, True, 6.0), Trial(Role.PROBE, 6 * (1 - m), False),
              Trial(Role.DRAIN, 20, True, 6.0), Trial(Role.PROBE, 6 * (1 + m), True, 6.0)]
    b = bracket(trials)
    assert b.hi / b.lo == pytest.approx(1 + BUCKET.tolerance)
    done = next_step(trials, BUCKET)
    assert isinstance(done, Done) and done.reason.startswith("limit found between 5.854 (clean) and 6.146")


def test_a_new_capacity_reading_next_to_the_clean_probe_does_not_repeat_it():
    m = BUCKET.margin
    trials = [Trial(Role.CLIMB, 640, True, 300.0), Trial(Role.PROBE, 300 * (1 - m), False),
              Trial(Role.DRAIN, 640, True, 300.5)]
    assert next_step(trials, BUCKET).rate == pytest.approx(300.5 * (1 + m))


def test_without_capacities_it_bisects():
    trials = [Trial(Role.CLIMB, 40, True), Trial(Role.PROBE, 20, False), Trial(Role.DRAIN, 40, True)]
    assert next_step(trials, BUCKET) == Step(Role.PROBE, 30)


def test_a_clean_probe_at_or_above_a_limited_rate_does_not_count():
    trials = [Trial(Role.PROBE, 10, False), Trial(Role.PROBE, 9, True), Trial(Role.PROBE, 5, False)]
    assert bracket(trials).lo == 5 and bracket(trials).hi == 9
    assert bracket([Trial(Role.CLIMB, 10, False), Trial(Role.CLIMB, 20, True)]).lo is None  # climbs are too short


def test_a_capacity_above_a_limited_rate_aims_just_below_that_rate():
    trials = [Trial(Role.CLIMB, 16, True, 3.8), Trial(Role.PROBE, 3.7, True, 3.76)]
    step = next_step(trials, BUCKET)
    assert step.rate == pytest.approx(3.7 * (1 - BUCKET.margin))


def test_a_wider_margin_for_a_fixed_window_with_a_varied_mix():
    step = next_step([Trial(Role.CLIMB, 100, True, 2.6)], WINDOW, margin=0.2)
    assert step.rate == pytest.approx(2.6 * 0.8)


def test_limited_everywhere_ends_the_search():
    done = next_step([Trial(Role.PROBE, 0.015, True)], BUCKET)
    assert isinstance(done, Done) and "rate-limited even at" in done.reason


def search(limit: float, rules: Rules, capacity_error: float | None, seed: int = 1) -> tuple[list[Trial], Done]:
    """Runs the rules against a limit judged exactly: a plateau is limited when its rate is above `limit`;
    limited plateaus measure the capacity with a relative error up to `capacity_error` (None: not measured)."""
    rng = random.Random(seed)
    trials: list[Trial] = []
    for _ in range(60):
        step = next_step(trials, rules)
        if isinstance(step, Done):
            return trials, step
        limited = step.rate > limit
        capacity = None
        if limited and capacity_error is not None:
            capacity = limit * (1 + rng.uniform(-capacity_error, capacity_error))
        trials.append(Trial(step.role, step.rate, limited, capacity))
    raise AssertionError(f"no end after 60 plateaus: {trials}")


@pytest.mark.parametrize("limit", [1.0, 6.0, 37.0, 300.0, 999.0])
@pytest.mark.parametrize("start", [1.0, 10.0, 100.0])
@pytest.mark.parametrize("capacity_error", [0.0, 0.05, None])
@pytest.mark.parametrize("drains", [True, False])
def test_any_limit_is_bracketed_within_5_percent(limit, start, capacity_error, drains):
    rules = Rules(start_rps=start, max_rps=2000, drains=drains)
    trials, done = search(limit, rules, capacity_error)
    b = bracket(trials)
    assert b.lo is not None and b.hi is not None, done
    assert b.lo <= limit < b.hi and b.hi <= b.lo * 1.05 * (1 + 1e-6), done
    probes = sum(t.role is Role.PROBE for t in trials)
    assert probes <= (3 if capacity_error == 0 else 12), trials  # two probes when the capacity is measured exactly


def test_no_probe_above_a_known_limited_rate_and_drains_only_after_clean_ones():
    trials, _ = search(6.0, BUCKET, 0.05)
    for i, trial in enumerate(trials):
        lowest_limited = min((t.rate for t in trials[:i] if t.limited), default=None)
        if trial.role is Role.PROBE and lowest_limited is not None:
            assert trial.rate < lowest_limited
        if trial.role is Role.DRAIN:
            assert not trials[i - 1].limited and trials[i - 1].role is Role.PROBE
