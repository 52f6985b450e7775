"""Scenario plans checked before anything starts: whether a spike's bursts fit into the run time."""

from __future__ import annotations

import pytest

from loadgen.pacing.scenarios import spike_fit_error, spike_fit_error_in_args, spike_min_s


def test_a_spike_takes_at_least_spawning_its_bursts_and_the_shortest_pauses():
    # 100 users at 100/s, 1 s before the first burst, 5 bursts of 0.5 s lead + 1 s for answers, 4 pauses of 5 s
    assert spike_min_s(100, 100, 5, 5.0) == pytest.approx(1 + 1 + 5 * 1.5 + 4 * 5)
    assert spike_fit_error(100, 100, 5, 5.0, 29.5, "-t") is None
    error = spike_fit_error(100, 100, 5, 5.0, 29, "-t")
    assert error is not None and "take at least 30 s, more than the run time 29 s (-t)" in error
    assert "\n" not in error


def test_the_runner_reads_the_spike_options_among_locusts_arguments():
    assert spike_fit_error_in_args(20, 20, 11, ["--spike-cycles=3", "--spike-pause-min-s", "2"]) is None  # 10.5 s
    assert "3 bursts of 20 users" in spike_fit_error_in_args(20, 20, 10, ["--spike-cycles", "3", "--target-rps", "5",
                                                                          "--spike-pause-min-s=2"])
    assert spike_fit_error_in_args(100, 100, 10, []) is not None  # the defaults: 5 bursts, pauses of 5 s
    assert spike_fit_error_in_args(100, 100, 10, ["--spike-cycles", "many"]) is None  # the plan refuses that itself
