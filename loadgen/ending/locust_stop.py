"""Ctrl-C and SIGINT in the suite's Locust processes: raised in the main greenlet only.

Python's own SIGINT handler raises KeyboardInterrupt in whichever greenlet runs at that moment: a
user in the middle of a request (sent to the exchange, never recorded) or a web UI request (a
traceback). Raised in the main greenlet, Locust answers it as designed: it stops the run and writes
its results (loadgen/ending/run_end.py makes those final). The runner stops Locust this way
(loadgen/runner/stopping.py).
"""

from __future__ import annotations

import signal

import gevent
from locust.env import Environment

from loadgen import state


def install(environment: Environment) -> None:
    """Call from an init listener: Locust fires `init` in the main greenlet."""
    if not state.of(environment).first_install(__name__):
        return
    gevent.signal_handler(signal.SIGINT, gevent.kill, gevent.getcurrent(), KeyboardInterrupt)
