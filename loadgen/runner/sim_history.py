"""The simulator's own load per second (`/__sim/stats` "process"), saved during a run as simulator_history.csv.

A background thread asks the simulator once a second for the rows it closed since the last answer and
appends them to the file, so a run cut short keeps what was received. At the end, one last answer gives the
remaining seconds, the open one included, and the counters that become simulator_stats.json: both come from
the same answer, so the file's requests add up to the simulator's count.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis.load import SIMULATOR_COLUMNS as COLUMNS  # the file's format, defined once where it is read

Fetch = Callable[[float], dict[str, Any]]  # /__sim/stats?since=EPOCH_S, parsed


class SimulatorHistory:
    """Polls `fetch` every `interval_s` in a daemon thread and appends the new seconds to `path`."""

    def __init__(self, fetch: Fetch, path: Path, interval_s: float = 1.0) -> None:
        self.fetch = fetch
        self.path = path
        self.interval_s = interval_s
        self.last_t = 0.0  # the start of the last row written (epoch seconds)
        self.failed_polls = 0
        # each poll's rows in one write(2), so that a killed runner leaves no half line
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._append([list(COLUMNS)])
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulator-history", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                self._write(self.fetch(self.last_t)["process"]["seconds"])
            except (OSError, ValueError, KeyError, TypeError):  # unreachable or busy: the next poll catches up
                self.failed_polls += 1

    def finish(self) -> dict[str, Any]:
        """Stop polling, write the remaining seconds (the open one last) and return the simulator's stats
        from the same answer, without the per-second rows (they are in the file)."""
        self.stop_polling()
        try:
            stats = self.fetch(self.last_t)
            process = stats.get("process", {})
            self._write([*process.pop("seconds", []), process.pop("current")])
        finally:
            self.close()
        if self.failed_polls:
            print(f"warning: {self.failed_polls} poll(s) of the simulator's per-second load failed (busy or "
                  f"unreachable); {self.path.name} lacks no second unless they failed for more than "
                  f"{process.get('history_s')} s in a row", file=sys.stderr)
        return stats

    def stop_polling(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def close(self) -> None:
        self.stop_polling()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _write(self, rows: list[dict[str, Any]]) -> None:
        new = [row for row in rows if row["t"] > self.last_t]
        if new:
            self._append([["" if row.get(f) is None else row[f] for f in COLUMNS.values()] for row in new])
            self.last_t = new[-1]["t"]

    def _append(self, lines: list[list[Any]]) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(lines)
        data = memoryview(text.getvalue().encode("utf-8"))
        assert self._fd is not None
        while data:
            data = data[os.write(self._fd, data) :]
