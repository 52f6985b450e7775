"""The runner's copy of the simulator's per-second load: appended while the run goes, completed at its end."""

from __future__ import annotations

import csv
import threading
import time
from typing import Any

from loadgen.runner.sim_history import COLUMNS, SimulatorHistory

T0 = 1_800_000_000.25


def row(i: int, requests: int = 5) -> dict[str, Any]:
    return {"t": T0 + i, "span_s": 1.0, "cpu_share": 0.1, "lag_p50_ms": 0.4, "lag_max_ms": 2.0, "lag_samples": 20,
            "requests": requests, "ws_messages": 1}


class FakeSimulator:
    """Answers like /__sim/stats?since=: one more closed second per poll; the first poll fails."""

    def __init__(self) -> None:
        self.closed: list[dict[str, Any]] = []
        self.polls = 0
        self.lock = threading.Lock()

    def fetch(self, since: float) -> dict[str, Any]:
        with self.lock:
            self.polls += 1
            if self.polls == 1:
                raise OSError("timed out")
            self.closed.append(row(len(self.closed)))
            current = {**row(len(self.closed), requests=2), "span_s": 0.3, "lag_p50_ms": None}
            return {"exchanges": {"binance": {"requests_total": 5 * len(self.closed) + 2}},
                    "process": {"cpu_s": 1.0, "history_s": 600, "current": current,
                                "seconds": [r for r in self.closed if r["t"] > since]}}

    def wait_for_polls(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while self.polls < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.polls >= count


def read(path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_rows_are_on_disk_while_the_run_goes_and_complete_at_its_end(tmp_path, capsys):
    sim = FakeSimulator()
    path = tmp_path / "simulator_history.csv"
    history = SimulatorHistory(sim.fetch, path, interval_s=0.01)
    assert path.read_text() == ",".join(COLUMNS) + "\n"  # a run cut off at once still leaves a readable file
    history.start()
    sim.wait_for_polls(4)
    history.stop_polling()  # what a killed runner leaves: every row received so far, whole lines only
    so_far = read(path)
    assert len(so_far) == sim.polls - 1 and path.read_text().endswith("\n")
    assert [float(r["timestamp"]) for r in so_far] == [T0 + i for i in range(len(so_far))]

    stats = history.finish()
    rows = read(path)
    assert len(rows) == len(so_far) + 2  # the second closed by the last answer, then the open one
    assert rows[-1]["span_s"] == "0.3" and rows[-1]["loop_lag_p50_ms"] == ""
    assert sum(int(r["requests"]) for r in rows) == stats["exchanges"]["binance"]["requests_total"]
    assert "seconds" not in stats["process"] and "current" not in stats["process"]
    assert "1 poll(s) of the simulator's per-second load failed" in capsys.readouterr().err
