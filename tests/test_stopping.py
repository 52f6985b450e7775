"""The runner's SIGINT/SIGTERM handling (loadgen/runner/stopping.py), with real signals sent to this process."""

from __future__ import annotations

import os
import signal

import pytest

from loadgen.runner.stopping import Interrupted, StopSignals


@pytest.fixture
def stop():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signals = StopSignals()
    signals.install()
    yield signals
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_first_signal_interrupts_and_sets_the_exit_code(stop, signum, code):
    with pytest.raises(Interrupted) as caught:
        os.kill(os.getpid(), signum)
    assert caught.value.exit_code == code and stop.exit_code == code
    assert str(caught.value) == signal.Signals(signum).name


def test_a_repeated_signal_does_not_interrupt_the_stop(stop, capfd):
    with pytest.raises(Interrupted):
        os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGTERM)  # e.g. a supervisor's SIGTERM after a Ctrl-C: no second exception
    assert stop.exit_code == 130  # the first one counts
    assert "already stopping" in capfd.readouterr().err


def test_after_the_run_a_signal_is_recorded_not_raised(stop, capfd):
    stop.defer()
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop.exit_code == 143
    assert "stopping once the results are written" in capfd.readouterr().err


def test_installing_again_starts_afresh(stop):
    stop.defer()
    os.kill(os.getpid(), signal.SIGTERM)
    stop.install()
    assert stop.exit_code is None
    with pytest.raises(Interrupted):
        os.kill(os.getpid(), signal.SIGINT)
