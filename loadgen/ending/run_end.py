"""The end of a run: every process's last requests are counted before any file is written.

Locust's own shutdown loses the end of a run in two ways:
- A master tells its workers to quit and waits a fixed 0.5 s for their final reports
  (`MasterRunner.quit`); a worker that needs longer to stop its users loses its last seconds
  (10 workers on 2 cores lost about 3 s each).
- On a signal (Ctrl-C, SIGTERM), `quitting` fires before the runner is stopped, so whatever is
  written at `quitting` misses what the users are still doing.

So, on the master, at `test_stop` (which `quit` fires before it sends the quit messages) each live
worker is asked to stop its users and send its final report, and the master waits for each, up
to the stop timeout plus `FINAL_REPORT_GRACE_S`; a worker whose final report never came is
logged and recorded (`final_report_outcomes`, read into the run's worker file). A worker stopped
by a signal of its own sends its final report before it tells the master it quits. And every
end-of-run writer calls `settle()` first: it stops a run that is still going, so that what it
writes is final.

It also keeps the run's window: from the test's start to the moment it was asked to stop (not to
its last request: a client banned halfway still ran for the whole test). Every file that states a
run's duration or its requests per second uses it (`duration_s`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import gevent
from locust.env import Environment
from locust.runners import STATE_MISSING, STATE_STOPPED, STATE_STOPPING, MasterRunner, WorkerRunner

from loadgen import messages, state

logger = logging.getLogger(__name__)

FINAL_REPORT_GRACE_S = 5.0  # beyond the stop timeout, how long the master waits for final reports
POLL_S = 0.05


class FinalReports:
    """On a master: which workers have sent their final report of the current test."""

    def __init__(self, environment: Environment, runner: MasterRunner) -> None:
        self.environment = environment
        self.runner = runner
        self.sent: set[str] = set()
        self.outcomes: dict[str, bool] = {}  # worker id -> whether its final report came, at the last collect

    def on_sent(self, client_id: str) -> None:
        self.sent.add(client_id)

    def collect(self) -> None:
        """Ask every live worker for its final report and wait, bounded, until each has come."""
        runner = self.runner
        live = [c.id for c in runner.clients.values() if c.state != STATE_MISSING and c.id not in self.sent]
        for client_id in live:
            runner.send_message(messages.FINAL_REPORT_REQUEST, None, client_id=client_id)
        stop_timeout = float(getattr(self.environment, "stop_timeout", 0) or 0)
        deadline = time.monotonic() + stop_timeout + FINAL_REPORT_GRACE_S
        pending = live
        while pending and time.monotonic() < deadline:
            gevent.sleep(POLL_S)
            pending = [c for c in pending if c not in self.sent and self._reachable(c)]
        self.outcomes = {client_id: True for client_id in self.sent}
        for client_id in live:
            came = self.outcomes[client_id] = client_id in self.sent
            if not came:
                logger.warning("worker %s: its final report never came; what it sent after its last report "
                               "is missing from the totals", client_id)

    def _reachable(self, client_id: str) -> bool:
        client = self.runner.clients.get(client_id)
        return client is not None and client.state != STATE_MISSING


@dataclass(slots=True)
class RunWindow:
    """When the current test started and when it was asked to stop (epoch seconds)."""

    started_at: float | None = None
    stopped_at: float | None = None

    def start(self) -> None:
        self.started_at, self.stopped_at = time.time(), None

    def stop(self) -> None:
        if self.started_at is not None and self.stopped_at is None:
            self.stopped_at = time.time()

    def duration_s(self) -> float:
        if self.started_at is None:
            return 0.0
        return max(0.0, (self.stopped_at or time.time()) - self.started_at)


def install(environment: Environment) -> None:
    """Hook the end of a run into `environment` (once; at init, when its runner exists)."""
    runner = environment.runner
    if runner is None or not state.of(environment).first_install(__name__):
        return
    events = environment.events
    if not isinstance(runner, WorkerRunner):
        window = state.of(environment).set(RunWindow())
        events.test_start.add_listener(lambda **_: window.start())
        events.test_stopping.add_listener(lambda **_: window.stop())
    if isinstance(runner, MasterRunner):
        reports = state.of(environment).set(FinalReports(environment, runner))
        runner.register_message(messages.FINAL_REPORT_SENT, lambda msg, **_: reports.on_sent(msg.node_id))
        events.test_start.add_listener(lambda **_: reports.sent.clear())
        events.test_stop.add_listener(lambda **_: reports.collect())
    elif isinstance(runner, WorkerRunner):
        runner.register_message(
            messages.FINAL_REPORT_REQUEST, lambda **_: _send_final_report(environment), concurrent=True
        )
        # `quitting` fires its listeners last-added first: this one runs before Locust's own, which tells
        # the master that the worker quits.
        events.quitting.add_listener(lambda **_: settle(environment))


def run_window(environment: Environment) -> RunWindow:
    """The current (or last) test's window; an empty one before any test or on a worker."""
    return state.of(environment).get(RunWindow) or RunWindow()


def final_report_outcomes(environment: Environment) -> dict[str, bool]:
    """On a master, after the run: for each worker asked, whether its final report came."""
    reports = state.of(environment).get(FinalReports)
    return dict(reports.outcomes) if reports is not None else {}


def settle(environment: Environment) -> None:
    """Stop the run if it is still going, so that its figures are final (on a master: every live worker's
    final report merged). Every end-of-run writer calls this first; it does its work once."""
    runner = environment.runner
    if runner is None or runner.state in (STATE_STOPPED, STATE_STOPPING):
        return
    if isinstance(runner, MasterRunner):
        runner.stop(send_stop_to_client=False)  # fires test_stop: the final reports are collected
    elif isinstance(runner, WorkerRunner):
        _send_final_report(environment)
    else:
        runner.stop()


def _send_final_report(environment: Environment) -> None:
    """On a worker: stop the users, report everything not yet reported, then say so."""
    runner = environment.runner
    assert isinstance(runner, WorkerRunner)
    runner.stop()
    data: dict = {}
    environment.events.report_to_master.fire(client_id=runner.client_id, data=data)
    runner.send_message("stats", data)
    runner.send_message(messages.FINAL_REPORT_SENT, None)
