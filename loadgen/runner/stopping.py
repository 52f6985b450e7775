"""How the runner stops on SIGINT (a terminal's Ctrl-C) or SIGTERM (a CI system, a supervisor, `docker stop`).

The runner's children run in sessions of their own, so a signal reaches the runner alone, whether a
terminal sent it to the whole foreground group or someone ran `kill <pid>`. The runner then stops
them in order: Locust's master first (it collects its workers' last reports and writes its results),
its workers once the master has told them to quit, the simulator last, after its counts are read.

The first signal is raised as `Interrupted` while the run's processes work; once Locust has ended it
is only recorded, so that the results are still written. Either way the runner exits 128 + the
signal's number: 130 for SIGINT, 143 for SIGTERM. A repeated signal changes nothing: the children
have their bounded time to finish.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code_for(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number."""
    return 128 + signum


class Interrupted(KeyboardInterrupt):
    """The runner got SIGINT or SIGTERM while its processes were working."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.signum)


class StopSignals:
    """The runner's SIGINT and SIGTERM handlers and what they received (see the module's docstring)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._deferred = False

    def install(self) -> None:
        self.received, self._deferred = None, False
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def defer(self) -> None:
        """From now on a first signal is recorded, not raised: the run has ended and its results are
        being written."""
        self._deferred = True

    @property
    def exit_code(self) -> int | None:
        return None if self.received is None else exit_code_for(self.received)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            _say(f"{name}: already stopping; the run's processes are writing their results")
            return
        self.received = signum
        if self._deferred:
            _say(f"{name}: stopping once the results are written")
            return
        raise Interrupted(signum)


def _say(line: str) -> None:
    """One line on stderr, written directly: a handler may run while the main thread is inside a print."""
    os.write(2, f"{line}\n".encode())


STOP = StopSignals()
