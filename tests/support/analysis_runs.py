"""Test helper: small hand-made run directories in the formats Locust 2.47 and the suite write."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.load import SIMULATOR_COLUMNS, SIMULATOR_HISTORY
from simulator.process_usage import PROCESS_HISTORY_COLUMNS

START = 1_800_000_000  # epoch seconds of a made-up run; a multiple of 10 and 60, like real limit windows
PERCENTILES = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"]
HISTORY_HEADER = [
    "Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", *PERCENTILES,
    "Total Request Count", "Total Failure Count", "Total Median Response Time", "Total Average Response Time",
    "Total Min Response Time", "Total Max Response Time", "Total Average Content Size",
]
STATS_HEADER = [
    "Type", "Name", "Request Count", "Failure Count", "Median Response Time", "Average Response Time",
    "Min Response Time", "Max Response Time", "Average Content Size", "Requests/s", "Failures/s", *PERCENTILES,
]
EXCHANGE_HEADER = [
    "timestamp", "exchange", "requests", "weight_requested", "used_weight_last", "used_weight_max", "order_count_max",
    "weight_limit", "weight_window_s", "rate_limited", "banned", "retry_after_waits", "retry_after_wait_s",
    "weight_waits", "weight_wait_s", "ws_messages", "ws_reconnects", "ws_drops", "ws_gaps", "ws_pings",
]

# "" = not known
BLANK_BY_DEFAULT = ("used_weight_last", "used_weight_max", "order_count_max", "weight_limit", "weight_window_s")
RAMP_HEADER = ["exchange", "index", "role", "target_rps", "started_at", "ended_at", "verdict", "achieved_rps",
               "requests", "weight_per_request", "rate_limited", "first_limited_at", "capacity_rps", "capacity_units",
               "late_starts", "skipped_starts"]


@dataclass
class Entry:
    """One Locust stats entry: requests, failures and a latency per second (None: no timed samples)."""

    type: str
    name: str
    requests: list[int]
    failures: list[int]
    latency_ms: list[float | None]


@dataclass
class RunBuilder:
    seconds: int
    users: list[int] | None = None
    exchange: str | None = "binance"
    full_history: bool = True
    entries: list[Entry] = field(default_factory=list)
    exchange_rows: list[dict[str, Any]] = field(default_factory=list)
    # method, name, error, occurrences, first and last seen (seconds into the run)
    failures: list[tuple[str, str, str, int, int, int]] = field(default_factory=list)
    exceptions: list[tuple[int, str]] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    ramp: list[dict[str, Any]] = field(default_factory=list)  # the ramp scenario's plateaus (RAMP_HEADER)
    simulator_rows: list[dict[str, Any]] | None = None  # None: no simulator_history.csv (an external host)
    process_rows: list[dict[str, Any]] = field(default_factory=list)  # PREFIX_process_history.csv's rows

    def entry(self, type_: str, name: str, per_second: int | list[int], failures: int | list[int] = 0,
              latency_ms: float | list[float | None] | None = 5.0) -> RunBuilder:
        self.entries.append(Entry(type_, name, _series(per_second, self.seconds), _series(failures, self.seconds),
                                  _series(latency_ms, self.seconds)))
        return self

    def exchange_second(self, offset: int, **values: Any) -> RunBuilder:
        self.exchange_rows.append({"timestamp": START + offset, "exchange": self.exchange, **values})
        return self

    def exchange_seconds(self, **columns: list[Any] | Any) -> RunBuilder:
        for i in range(self.seconds):
            self.exchange_second(i, **{k: (v[i] if isinstance(v, list) else v) for k, v in columns.items()})
        return self

    def plateau(self, role: str, rps: float, first: int, last: int, verdict: str, achieved: float | None = None,
                weight_per_request: float = 1.0, capacity: tuple[float, float] | None = None) -> RunBuilder:
        """One plateau of the ramp's search over seconds first..last of the run; `capacity`: (in req/s, in the
        limit's units) as a limited plateau measured it."""
        self.ramp.append({
            "exchange": self.exchange, "index": len(self.ramp) + 1, "role": role, "target_rps": rps,
            "started_at": START + first, "ended_at": START + last + 1, "verdict": verdict,
            "achieved_rps": rps if achieved is None else achieved, "requests": 0,
            "weight_per_request": weight_per_request, "rate_limited": 0, "first_limited_at": "",
            "capacity_rps": capacity[0] if capacity else "", "capacity_units": capacity[1] if capacity else "",
            "late_starts": 0, "skipped_starts": 0,
        })
        return self

    def simulator_seconds(self, cpu_share: float | list[float] = 0.2, lag_p50_ms: float | list[float] = 0.5,
                          requests: int | list[int] = 10, rss_mb: float | list[float] | None = None,
                          fds: int | list[int] | None = None) -> RunBuilder:
        """The simulator's own load, one row per second of the run (as loadgen/runner/sim_history.py writes it)."""
        cpu, lag, count, rss, files = (_series(v, self.seconds) for v in (cpu_share, lag_p50_ms, requests, rss_mb, fds))
        self.simulator_rows = [
            {"t": START + i + 0.05, "span_s": 1.0, "cpu_share": cpu[i], "lag_p50_ms": lag[i],
             "lag_max_ms": lag[i] * 3, "lag_samples": 20, "requests": count[i], "ws_messages": 0,
             "rss_mb": rss[i], "fds": files[i]}
            for i in range(self.seconds)
        ]
        return self

    def process_seconds(self, process: str, rss_mb: float | list[float | None] | None,
                        fds: int | list[int | None] | None, role: str = "local", pid: int = 4242) -> RunBuilder:
        """One Locust process's memory and open files, one row per second of the run (loadgen/process_history.py)."""
        rss, files = _series(rss_mb, self.seconds), _series(fds, self.seconds)
        self.process_rows += [
            {"timestamp": START + i + 0.5, "role": role, "process": process, "pid": pid, "rss_mb": rss[i],
             "fds": files[i]}
            for i in range(self.seconds)
        ]
        return self

    def failure(self, method: str, name: str, error: str, count: int, first: int = 0, last: int = 0) -> RunBuilder:
        self.failures.append((method, name, error, count, first, last))
        return self

    def write(self, run_dir: Path) -> Path:
        run_dir.mkdir(parents=True, exist_ok=True)
        prefix = run_dir / "locust"
        users = self.users or [4] * self.seconds
        self._history(Path(f"{prefix}_stats_history.csv"), users)
        self._stats(Path(f"{prefix}_stats.csv"))
        failure_header = ["Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen"]
        _write_csv(Path(f"{prefix}_failures.csv"), failure_header,
                   [[m, n, e, c, _iso(START + f), _iso(START + last)] for m, n, e, c, f, last in self.failures])
        _write_csv(Path(f"{prefix}_exceptions.csv"), ["Count", "Message", "Traceback", "Nodes"],
                   [[c, m, "", "local"] for c, m in self.exceptions])
        if self.exchange_rows:
            rows = [[row.get(c, "" if c in BLANK_BY_DEFAULT else 0) for c in
                     EXCHANGE_HEADER] for row in self.exchange_rows]
            _write_csv(Path(f"{prefix}_exchange_history.csv"), EXCHANGE_HEADER, rows)
        if self.ramp:
            _write_csv(Path(f"{prefix}_ramp.csv"), RAMP_HEADER, [[row[c] for c in RAMP_HEADER] for row in self.ramp])
        (run_dir / "totals.json").write_text(json.dumps(self._totals()))
        manifest = {"run_id": run_dir.name, "scenario": "test", "users": max(users), "duration_s": self.seconds,
                    "workers": 1, "started_at": "2027-01-15T08:00:00+0000",
                    "finished_at": "2027-01-15T08:10:00+0000", **self.manifest}
        if self.exchange is not None:
            manifest.setdefault("exchange", self.exchange)
        (run_dir / "run.json").write_text(json.dumps(manifest))
        if self.simulator_rows is not None:
            _write_csv(run_dir / SIMULATOR_HISTORY, list(SIMULATOR_COLUMNS),
                       [["" if row.get(f) is None else row[f] for f in SIMULATOR_COLUMNS.values()]
                        for row in self.simulator_rows])
        if self.process_rows:
            _write_csv(Path(f"{prefix}_process_history.csv"), list(PROCESS_HISTORY_COLUMNS),
                       [["" if row[c] is None else row[c] for c in PROCESS_HISTORY_COLUMNS]
                        for row in self.process_rows])
        if self.log_lines:
            (run_dir / "locust.log").write_text("\n".join(self.log_lines) + "\n")
        return run_dir

    def _history(self, path: Path, users: list[int]) -> None:
        rows = []
        totals = {id(e): [0, 0, 0.0] for e in self.entries}
        for i in range(self.seconds):
            t = START + i
            for e in self.entries if self.full_history else []:
                count = totals[id(e)]
                count[0] += e.requests[i]
                count[1] += e.failures[i]
                latency = e.latency_ms[i]
                count[2] += (latency or 0.0) * e.requests[i]
                pct = [int(latency)] * len(PERCENTILES) if latency is not None and i >= 1 else [0] * len(PERCENTILES)
                avg = count[2] / count[0] if count[0] else 0.0
                rows.append([t, users[i], e.type, e.name, e.requests[i], e.failures[i], *pct, count[0], count[1],
                             int(avg), avg, 0, int(avg), 10.0])
            rows.append([t, users[i], "", "Aggregated", 0, 0, *(["N/A"] * len(PERCENTILES)), 0, 0, 0, 0.0, 0, 0, 0])
        _write_csv(path, HISTORY_HEADER, rows)

    def _stats(self, path: Path) -> None:
        rows = [[e.type, e.name, sum(e.requests), sum(e.failures), 5, 5.0, 1, 9, 10, 1.0, 0.0, *([5] * 11)]
                for e in self.entries]
        _write_csv(path, STATS_HEADER, rows)

    def _totals(self) -> list[dict[str, Any]]:
        result = []
        for e in self.entries:
            histogram: dict[str, int] = {}
            none_requests = 0
            total_ms = 0.0
            for n, latency in zip(e.requests, e.latency_ms, strict=True):
                if latency is None:
                    none_requests += n
                    continue
                key = str(int(latency))
                histogram[key] = histogram.get(key, 0) + n
                total_ms += latency * n
            result.append({
                "name": e.name, "method": e.type, "num_requests": sum(e.requests), "num_none_requests": none_requests,
                "num_failures": sum(e.failures), "total_response_time": total_ms, "max_response_time": 0,
                "min_response_time": 0, "total_content_length": 0, "response_times": histogram,
                "num_reqs_per_sec": {}, "num_fail_per_sec": {}, "start_time": START, "last_request_timestamp": START,
            })
        return result


def cpu_warning_line(offset_s: int) -> str:
    """A Locust CPU warning as locust.log has it (local time = UTC in the builder's run.json)."""
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(START + offset_s, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    return (f"[{stamp},123] vm/WARNING/locust.runners: CPU usage above 90%! This may constrain your throughput "
            "and may even give inconsistent response time measurements!")


def _series(value: Any, length: int) -> list[Any]:
    return list(value) if isinstance(value, list) else [value] * length


def _iso(t: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
