"""On the master of a distributed run: which workers took part, which were lost, when, and what
share of the load went with them.

Locust marks a worker "missing" after a few seconds without heartbeats and logs one INFO line; it
keeps no record a report can use. This tracker watches the master's worker list once a second,
logs a WARNING when a worker is lost (and when it comes back), counts each worker's requests from
its reports, and writes `PREFIX_workers.json` (with Locust's `--csv PREFIX`) when the run ends.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner

from loadgen import state
from loadgen.ending import run_end

logger = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0


@dataclass
class WorkerRecord:
    id: str
    first_seen_s: float  # seconds since the test started
    requests: int = 0  # requests and messages the worker reported
    users: int = 0  # the most users it ran at once
    final_report: bool | None = None  # whether its final report came at the end (None: not asked, e.g. lost)
    lost_at_s: float | None = None
    users_at_loss: int = 0
    user_share_at_loss: float = 0.0  # its users over all users, when it was lost
    request_share_at_loss: float = 0.0  # its requests over all requests, until it was lost
    back_at_s: float | None = None


class WorkerTracker:
    def __init__(self, environment: Environment, runner: MasterRunner) -> None:
        self.environment = environment
        self.runner = runner
        self.started = time.monotonic()
        self.workers: dict[str, WorkerRecord] = {}
        self.users_now: dict[str, int] = {}  # users each worker ran at its last report
        self._watch: gevent.Greenlet | None = None

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def record(self, client_id: str) -> WorkerRecord:
        rec = self.workers.get(client_id)
        if rec is None:
            rec = self.workers[client_id] = WorkerRecord(client_id, self.elapsed())
        return rec

    def on_report(self, client_id: str, data: dict[str, Any]) -> None:
        rec = self.record(client_id)
        rec.requests += int(data.get("stats_total", {}).get("num_requests", 0))
        users = self.users_now[client_id] = int(data.get("user_count", self.users_now.get(client_id, 0)))
        rec.users = max(rec.users, users)

    def check(self) -> None:
        total_users = sum(self.users_now.get(r.id, 0) for r in self.workers.values() if r.lost_at_s is None) or 1
        total_requests = sum(r.requests for r in self.workers.values()) or 1
        for client in list(self.runner.clients.values()):
            rec = self.record(client.id)
            missing = client.state == STATE_MISSING
            if missing and (rec.lost_at_s is None or rec.back_at_s is not None):
                rec.lost_at_s, rec.back_at_s = self.elapsed(), None
                rec.users_at_loss = self.users_now.get(rec.id, 0)
                rec.user_share_at_loss = round(rec.users_at_loss / total_users, 4)
                rec.request_share_at_loss = round(rec.requests / total_requests, 4)
                logger.warning(
                    "worker %s lost at +%.0f s: it ran %d users (%.0f%% of users) and had sent %.0f%% of the "
                    "requests so far", rec.id, rec.lost_at_s, rec.users_at_loss, rec.user_share_at_loss * 100,
                    rec.request_share_at_loss * 100,
                )
            elif not missing and rec.lost_at_s is not None and rec.back_at_s is None:
                rec.back_at_s = self.elapsed()
                logger.warning("worker %s is back at +%.0f s", rec.id, rec.back_at_s)

    def watch(self) -> None:
        while True:
            gevent.sleep(CHECK_INTERVAL_S)
            try:
                self.check()
            except Exception:  # a bookkeeping bug must not stop the run
                logger.exception("worker tracking failed")

    def start(self) -> None:
        """At test start: times in the record count from here."""
        self.started = time.monotonic()
        if self._watch is None:
            self._watch = gevent.spawn(self.watch)

    def summary(self) -> dict[str, Any]:
        workers = [asdict(r) for r in self.workers.values()]
        return {
            "workers_seen": len(workers),
            "workers_lost": sum(1 for w in workers if w["lost_at_s"] is not None and w["back_at_s"] is None),
            "final_reports_missing": sum(1 for w in workers if w["final_report"] is False),
            "workers": workers,
        }

    def write(self) -> None:
        """At quit, once the run is settled (every final report in): the run's worker file."""
        self.check()
        for client_id, came in run_end.final_report_outcomes(self.environment).items():
            self.record(client_id).final_report = came
        prefix = getattr(self.environment.parsed_options, "csv_prefix", None)
        if prefix:
            Path(f"{prefix}_workers.json").write_text(json.dumps(self.summary(), indent=2) + "\n", encoding="utf-8")


def track(environment: Environment) -> None:
    """Install the tracker on a master (once per environment); a no-op elsewhere."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner) or state.of(environment).get(WorkerTracker) is not None:
        return
    tracker = state.of(environment).set(WorkerTracker(environment, runner))
    events = environment.events
    events.worker_report.add_listener(lambda client_id, data, **_: tracker.on_report(client_id, data))
    events.test_start.add_listener(lambda **_: tracker.start())

    def on_quitting(**_: Any) -> None:
        run_end.settle(environment)
        tracker.write()

    events.quitting.add_listener(on_quitting)
