"""Every Locust process's resident memory and open file descriptors, once a second, in the run's files.

Each process (the single local one, or the master and each worker) samples itself every second
(`simulator.process_usage`). A worker sends its samples with each report to the master (`messages.PROCESS_USAGE_KEY`);
the process that writes results appends them to `PREFIX_process_history.csv` (columns `PROCESS_HISTORY_COLUMNS`,
flushed as the run goes) and writes `PREFIX_process.json` (first, last and highest figures per process) when Locust
quits. The analysis judges these series for leaks (`analysis/resources.py`); the Exchange tab shows the latest
sample of each process. Exported as metrics, they map to Prometheus' `process_resident_memory_bytes` and
`process_open_fds` (OpenTelemetry: `process.memory.usage`, `process.open_file_descriptor.count`), labelled with
`role` and `process`.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, TextIO

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadgen import messages, state
from loadgen.ending import run_end
from loadgen.messages import ProcessUsageReport
from simulator import process_usage
from simulator.process_usage import PROCESS_HISTORY_COLUMNS

logger = logging.getLogger(__name__)

SAMPLE_INTERVAL_S = 1.0
MAX_PENDING = 600  # a worker keeps at most this many unreported samples (its reports go every few seconds)
Row = tuple[float, float | None, int | None]  # (epoch seconds, rss_mb, fds)


class ProcessTotals:
    """One process's samples summed up: first, last and highest of each figure."""

    def __init__(self, role: str, pid: int) -> None:
        self.role, self.pid = role, pid
        self.samples = 0
        self.first: Row | None = None
        self.last: Row | None = None
        self.max_rss_mb: float | None = None
        self.max_fds: int | None = None

    def add(self, row: Row) -> None:
        self.samples += 1
        if self.first is None or row[0] < self.first[0]:
            self.first = row
        if self.last is None or row[0] >= self.last[0]:
            self.last = row
        if row[1] is not None and (self.max_rss_mb is None or row[1] > self.max_rss_mb):
            self.max_rss_mb = row[1]
        if row[2] is not None and (self.max_fds is None or row[2] > self.max_fds):
            self.max_fds = row[2]

    def to_json(self, process: str) -> dict[str, Any]:
        first, last = self.first or (None, None, None), self.last or (None, None, None)
        return {
            "process": process, "role": self.role, "pid": self.pid, "samples": self.samples,
            "first_at": first[0], "last_at": last[0],
            "rss_mb": {"first": first[1], "last": last[1], "max": self.max_rss_mb},
            "fds": {"first": first[2], "last": last[2], "max": self.max_fds},
        }


class ProcessHistory:
    """This process's samples; in the process that writes results, every process's, and the files."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        runner = environment.runner
        self.role = "worker" if isinstance(runner, WorkerRunner) else "master" if isinstance(runner, MasterRunner) \
            else "local"
        self.pid = os.getpid()
        self.pending: list[Row] = []  # a worker's samples not yet reported
        self.totals: dict[str, ProcessTotals] = {}  # process name -> its totals
        self._file: TextIO | None = None
        self._csv: Any = None
        self._finished = False  # the files are final: later samples are not written

    def sample(self) -> None:
        usage = process_usage.sample()
        row: Row = (round(time.time(), 3), usage.rss_mb, usage.fds)
        if self.role == "worker":
            self.pending.append(row)
            del self.pending[:-MAX_PENDING]
        else:
            self.add(self.role, self.role, self.pid, [row])

    def report_payload(self) -> ProcessUsageReport:
        rows, self.pending = self.pending, []
        return {"pid": self.pid, "rows": [list(r) for r in rows]}

    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        part = data.get(messages.PROCESS_USAGE_KEY)
        if part:
            self.add("worker", client_id, int(part["pid"]), [tuple(r) for r in part["rows"]])  # type: ignore[misc]

    def add(self, role: str, process: str, pid: int, rows: list[Row]) -> None:
        totals = self.totals.setdefault(process, ProcessTotals(role, pid))
        for row in rows:
            totals.add(row)
        self._write([[row[0], role, process, pid, _cell(row[1]), _cell(row[2])] for row in rows])

    def latest(self) -> list[dict[str, Any]]:
        """The last sample of each process, for the Exchange tab."""
        return [
            {"process": name, "role": t.role, "at": t.last[0], "rss_mb": t.last[1], "fds": t.last[2]}
            for name, t in sorted(self.totals.items()) if t.last is not None
        ]

    def csv_prefix(self) -> str | None:
        options = self.environment.parsed_options
        return getattr(options, "csv_prefix", None) if options is not None else None

    def _write(self, rows: list[list[Any]]) -> None:
        prefix = self.csv_prefix()
        if not rows or prefix is None or self._finished:
            return
        if self._file is None:
            path = Path(f"{prefix}_process_history.csv")
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._file)
            self._csv.writerow(PROCESS_HISTORY_COLUMNS)
        self._csv.writerows(rows)
        self._file.flush()

    def finish(self) -> None:
        """At quit, once every worker's last report is in: the last own sample, the totals, the file closed
        (once: Locust may fire `quitting` more than once)."""
        if self._finished:
            return
        run_end.settle(self.environment)
        self.sample()
        prefix = self.csv_prefix()
        if prefix is not None:
            path = Path(f"{prefix}_process.json")
            path.parent.mkdir(parents=True, exist_ok=True)
            processes = [t.to_json(name) for name, t in sorted(self.totals.items())]
            path.write_text(json.dumps({"processes": processes}, indent=2) + "\n", encoding="utf-8")
        if self._file is not None:
            self._file.close()
            self._file = None
        self._finished = True


def _cell(value: float | int | None) -> float | int | str:
    return "" if value is None else value


def process_history(environment: Environment) -> ProcessHistory | None:
    return state.of(environment).get(ProcessHistory)


def install(environment: Environment) -> None:
    """Sample every second in this process; a worker reports its samples, the master or local process writes."""
    if environment.runner is None or process_history(environment) is not None:
        return
    history = state.of(environment).set(ProcessHistory(environment))
    events = environment.events
    if isinstance(environment.runner, WorkerRunner):
        events.report_to_master.add_listener(
            lambda data, **_: data.__setitem__(messages.PROCESS_USAGE_KEY, history.report_payload())
        )
    else:
        if isinstance(environment.runner, MasterRunner):
            events.worker_report.add_listener(lambda client_id, data, **_: history.on_worker_report(client_id, data))
        events.quitting.add_listener(lambda **_: history.finish())
    gevent.spawn(_sample_every_second, history)


def _sample_every_second(history: ProcessHistory) -> None:
    while True:
        try:
            history.sample()
        except Exception:
            logger.exception("process history: sampling failed")
        gevent.sleep(SAMPLE_INTERVAL_S)
