"""Reading and validating a run directory into typed tables.

Every problem with the input (a missing directory or file, an empty or truncated file, a CSV from
another Locust version) becomes an `AnalysisError` whose message names the file and the problem.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.model import AnalysisError
from simulator.process_usage import PROCESS_HISTORY_COLUMNS

HISTORY_SUFFIX = "_stats_history.csv"
PERCENTILE_COLUMNS = {"50%": "p50", "95%": "p95", "99%": "p99", "100%": "p100"}
HISTORY_COLUMNS = {
    "Timestamp": "t",
    "User Count": "users",
    "Type": "type",
    "Name": "name",
    **PERCENTILE_COLUMNS,
    "Total Request Count": "requests",
    "Total Failure Count": "failures",
    "Total Average Response Time": "avg_ms",
}
STATS_COLUMNS = {
    "Type": "type",
    "Name": "name",
    "Request Count": "requests",
    "Failure Count": "failures",
    "Average Response Time": "avg_ms",
}
FAILURE_COLUMNS = {"Method": "type", "Name": "name", "Error": "error", "Occurrences": "count"}
FAILURE_TIME_COLUMNS = {"First Seen": "first_seen", "Last Seen": "last_seen"}
EXCEPTION_COLUMNS = {"Count": "count", "Message": "message"}
EXCHANGE_KEYS = ("timestamp", "exchange")
EXCHANGE_COUNTS = (
    "requests", "weight_requested", "rate_limited", "banned", "retry_after_waits", "retry_after_wait_s",
    "weight_waits", "weight_wait_s", "ws_messages", "ws_reconnects", "ws_drops", "ws_gaps", "ws_pings",
    "paced_starts", "late_starts", "skipped_starts",
)  # summed per exchange and second (late data in distributed runs arrives as extra rows)
EXCHANGE_MAXIMA = ("used_weight_last", "used_weight_max", "order_count_max", "weight_limit", "weight_window_s",
                   "start_lag_max_ms")
EXCHANGE_REQUIRED = (*EXCHANGE_KEYS, "requests", "rate_limited", "banned")
TOTALS_COLUMNS = ("type", "name", "requests", "failures", "none_requests", "total_ms", "histogram")
SIMULATOR_HISTORY = "simulator_history.csv"  # the simulator's own load per second (loadgen/runner/sim_history.py)
# CSV column -> field of a row under "process" in /__sim/stats (simulator/load_monitor.py), also its name here;
# loadgen/runner/sim_history.py writes the file with these columns.
SIMULATOR_COLUMNS = {
    "timestamp": "t",
    "span_s": "span_s",
    "cpu_share": "cpu_share",
    "loop_lag_p50_ms": "lag_p50_ms",
    "loop_lag_max_ms": "lag_max_ms",
    "lag_samples": "lag_samples",
    "requests": "requests",
    "ws_messages": "ws_messages",
    "rss_mb": "rss_mb",  # the simulator process's resident memory, MiB (empty: not measured)
    "fds": "fds",  # ... and its open file descriptors
}
SIMULATOR_OPTIONAL = ("rss_mb", "fds")  # absent from files written before they were recorded
# each Locust process's memory and open files per second (loadgen/process_history.py; PROCESS_HISTORY_COLUMNS)
PROCESS_SUFFIX = "_process_history.csv"
TOTALS_KEYS = ("name", "method", "num_requests", "num_failures", "total_response_time", "response_times")
RAMP_SUFFIX = "_ramp.csv"  # the ramp scenario's plateaus (loadgen/pacing/ramp.py)
RAMP_TEXT = ("exchange", "role", "verdict")
RAMP_NUMBERS = ("index", "target_rps", "started_at", "ended_at", "achieved_rps", "weight_per_request",
                "rate_limited", "capacity_rps", "capacity_units")
CAPACITY_SUFFIX = "_capacity.csv"  # the capacity scenario's plateaus (loadgen/pacing/capacity_search.py)
CAPACITY_TEXT = ("exchange", "verdict")
CAPACITY_NUMBERS = ("index", "target_rps", "started_at", "ended_at", "first_second", "last_second", "requests",
                    "ok_answers", "served_rps", "overload_answers", "rate_limited", "late_starts", "skipped_starts")
LOG_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\] [^/]*/(\w+)/[^:]*: (.*)$")
LOG_EVENTS = (  # (kind, text in Locust's message)
    ("cpu_warning", "CPU usage above"),
    ("cpu_warning", "exceeded cpu threshold"),
    ("cpu_warning_summary", "CPU usage was too high"),
    ("cpu_warning_summary", "CPU usage threshold was exceeded"),
    ("worker_missing", "setting state to missing"),
)


@dataclass
class RunData:
    """Everything read from one run directory, validated. Times are epoch seconds."""

    run_dir: Path
    manifest: dict[str, Any]
    history: pd.DataFrame  # per entry and second: t, users, type, name, requests, failures (cumulative), p50..p100
    users: pd.Series  # Locust's user count per second (index t)
    full_history: bool  # --csv-full-history: per-entry rows with 10 s windowed percentiles
    totals: pd.DataFrame  # per entry: TOTALS_COLUMNS
    failures: pd.DataFrame  # type, name, error, count, first_seen, last_seen
    exceptions: pd.DataFrame  # count, message
    exchange_history: pd.DataFrame | None  # per exchange and second: t, exchange, counters (see EXCHANGE_COUNTS)
    exchange_totals: dict[str, dict[str, Any]]
    simulator_stats: dict[str, Any] | None
    log_events: pd.DataFrame  # t, kind, message
    workers: dict[str, Any] | None = None  # PREFIX_workers.json of a distributed run's master
    # per second of the simulator's own load (t, span_s, cpu_share, lag_p50_ms, lag_max_ms, ...); None: no
    # simulator_history.csv (a run against an external host, or an older run)
    simulator_history: pd.DataFrame | None = None
    run_duration_s: float | None = None  # the test's start to its stop, from PREFIX_exchange.json (None: unknown)
    ramp: pd.DataFrame | None = None  # the ramp's plateaus: exchange, role, target_rps, verdict, ... (RAMP_*)
    capacity_search: pd.DataFrame | None = None  # the capacity scenario's plateaus (CAPACITY_*)
    # each Locust process's resident memory and open files per second: t, role, process, pid, rss_mb, fds; None: no
    # PREFIX_process_history.csv (an older run)
    process_history: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)  # what the data could not tell, for the report

    @property
    def start_s(self) -> float:
        return float(self.users.index.min())

    @property
    def end_s(self) -> float:
        return float(self.users.index.max())

    @property
    def measured_s(self) -> float:
        """How long the test ran: its start to its stop as the suite recorded them (the figure the run's summary
        and CI gates use), else the span of Locust's history."""
        return self.run_duration_s if self.run_duration_s else self.end_s - self.start_s


def load_run(run_dir: Path) -> RunData:
    """Read and validate `run_dir`; AnalysisError naming the file for anything unusable."""
    if not run_dir.exists():
        raise AnalysisError(f"{run_dir}: no such directory")
    if not run_dir.is_dir():
        raise AnalysisError(f"{run_dir}: not a directory")
    prefix = find_prefix(run_dir)
    notes: list[str] = []
    history, users, full_history = read_history(Path(f"{prefix}{HISTORY_SUFFIX}"))
    if not full_history:
        notes.append(
            "the history has no per-endpoint rows (run without --csv-full-history): its percentiles are cumulative "
            "since the start, so latency over time and the latency knee are not reported"
        )
    stats_path = Path(f"{prefix}_stats.csv")
    stats = read_stats(stats_path)
    totals_path = run_dir / "totals.json"
    if totals_path.exists():
        totals = read_totals(totals_path)
    else:
        totals = stats
        notes.append(f"no totals.json: final totals from {stats_path.name}, which lags the end of the run")
    exchange_path = Path(f"{prefix}_exchange_history.csv")
    exchange_history = read_exchange_history(exchange_path) if exchange_path.exists() else None
    if exchange_history is None:
        notes.append(
            f"no {exchange_path.name}: rate-limit answers, bans and used weight per second are unknown; "
            "rate-limit timing comes from the failures CSV only"
        )
    exceptions_path = Path(f"{prefix}_exceptions.csv")
    manifest = read_json_object(run_dir / "run.json") if (run_dir / "run.json").exists() else {}
    exchange_json = Path(f"{prefix}_exchange.json")
    suite_totals = read_json_object(exchange_json) if exchange_json.exists() else {}
    exchange_totals = suite_totals.get("exchanges", {})
    run_window = suite_totals.get("run") if isinstance(suite_totals.get("run"), dict) else {}
    run_duration = run_window.get("duration_s")
    simulator_path = run_dir / "simulator_stats.json"
    simulator_history_path = run_dir / SIMULATOR_HISTORY
    simulator_history = read_simulator_history(simulator_history_path) if simulator_history_path.exists() else None
    if simulator_history is not None and simulator_history.empty:
        notes.append(f"{SIMULATOR_HISTORY} has no rows (the run ended before the first second was saved): "
                     "whether the simulator was saturated is unknown")
        simulator_history = None
    log_path = run_dir / "locust.log"
    return RunData(
        run_dir=run_dir,
        manifest=manifest,
        history=history,
        users=users,
        full_history=full_history,
        totals=totals,
        failures=read_failures(Path(f"{prefix}_failures.csv")),
        exceptions=read_exceptions(exceptions_path) if exceptions_path.exists() else _empty_exceptions(),
        exchange_history=exchange_history,
        exchange_totals=exchange_totals if isinstance(exchange_totals, dict) else {},
        simulator_stats=read_json_object(simulator_path) if simulator_path.exists() else None,
        log_events=read_log_events(log_path, _log_utc_offset(manifest)) if log_path.exists() else _empty_log(),
        workers=read_json_object(workers_path) if (workers_path := Path(f"{prefix}_workers.json")).exists() else None,
        simulator_history=simulator_history,
        run_duration_s=float(run_duration) if isinstance(run_duration, int | float) and run_duration > 0 else None,
        ramp=read_plateaus(ramp_path, RAMP_TEXT, RAMP_NUMBERS)
        if (ramp_path := Path(f"{prefix}{RAMP_SUFFIX}")).exists() else None,
        capacity_search=read_plateaus(search_path, CAPACITY_TEXT, CAPACITY_NUMBERS)
        if (search_path := Path(f"{prefix}{CAPACITY_SUFFIX}")).exists() else None,
        process_history=read_process_history(process_path)
        if (process_path := Path(f"{prefix}{PROCESS_SUFFIX}")).exists() else None,
        notes=notes,
    )


def find_prefix(run_dir: Path) -> str:
    """The `--csv` prefix of the run's files, e.g. `<run_dir>/locust`."""
    candidates = sorted(run_dir.glob(f"*{HISTORY_SUFFIX}"))
    if not candidates:
        raise AnalysisError(f"{run_dir}: no *{HISTORY_SUFFIX} (Locust's --csv output) in this directory")
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise AnalysisError(f"{run_dir}: several Locust CSV sets ({names}); analyse one run per directory")
    return str(candidates[0])[: -len(HISTORY_SUFFIX)]


# --- CSV files ----------------------------------------------------------------------------------


def read_history(path: Path) -> tuple[pd.DataFrame, pd.Series, bool]:
    """Locust's `_stats_history.csv`: per-entry rows (without Aggregated), users per second, full-history flag."""
    frame = read_csv(
        path,
        HISTORY_COLUMNS,
        dtypes={"Timestamp": "int64", "User Count": "int64", "Type": "str", "Name": "str",
                "Total Request Count": "int64", "Total Failure Count": "int64",
                "Total Average Response Time": "float64", **dict.fromkeys(PERCENTILE_COLUMNS, "float64")},
        na_columns=tuple(PERCENTILE_COLUMNS),
    )
    if frame.empty:
        raise AnalysisError(f"{path}: no data rows (the run ended before Locust wrote any history)")
    aggregated = frame["name"] == "Aggregated"
    users = frame.groupby("t", sort=True)["users"].max()
    entries = frame.loc[~aggregated].reset_index(drop=True)
    entries["type"] = entries["type"].astype("category")
    entries["name"] = entries["name"].astype("category")
    for column in PERCENTILE_COLUMNS.values():  # no sample in the 10 s window (or none yet) is written as 0
        entries[column] = entries[column].where(entries["p100"] > 0)
    return entries, users, not entries.empty


def read_stats(path: Path) -> pd.DataFrame:
    """Locust's `_stats.csv` as totals (lags the end of the run; used when totals.json is missing)."""
    frame = read_csv(
        path,
        STATS_COLUMNS,
        dtypes={"Type": "str", "Name": "str", "Request Count": "int64", "Failure Count": "int64",
                "Average Response Time": "float64"},
    )
    frame = frame.loc[frame["name"] != "Aggregated"].reset_index(drop=True)
    frame["none_requests"] = 0
    frame["total_ms"] = frame["avg_ms"] * frame["requests"]
    frame["histogram"] = [{} for _ in range(len(frame))]
    return frame[list(TOTALS_COLUMNS)]


def read_failures(path: Path) -> pd.DataFrame:
    columns = dict(FAILURE_COLUMNS)
    header = read_header(path)
    columns.update({k: v for k, v in FAILURE_TIME_COLUMNS.items() if k in header})
    frame = read_csv(path, columns, dtypes={"Method": "str", "Name": "str", "Error": "str", "Occurrences": "int64"})
    for column in FAILURE_TIME_COLUMNS.values():
        if column in frame:
            stamps = pd.to_datetime(frame[column], utc=True, errors="coerce")
            frame[column] = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        else:
            frame[column] = np.nan
    return frame


def read_exceptions(path: Path) -> pd.DataFrame:
    return read_csv(path, EXCEPTION_COLUMNS, dtypes={"Count": "int64", "Message": "str"})


def read_exchange_history(path: Path) -> pd.DataFrame:
    """The suite's per-exchange history, one row per exchange and second (extra rows of a second summed)."""
    header = read_header(path)
    missing = [c for c in EXCHANGE_REQUIRED if c not in header]
    if missing:
        raise AnalysisError(f"{path}: missing columns {', '.join(missing)} (not the suite's exchange history)")
    present = [c for c in (*EXCHANGE_COUNTS, *EXCHANGE_MAXIMA) if c in header]
    frame = read_csv(
        path,
        {c: c for c in (*EXCHANGE_KEYS, *present)},
        dtypes={"timestamp": "int64", "exchange": "str", **dict.fromkeys(present, "float64")},
        na_columns=tuple(present),
    )
    if frame.empty:
        raise AnalysisError(f"{path}: no data rows")
    aggregations = {c: "sum" for c in EXCHANGE_COUNTS if c in frame} | {c: "max" for c in EXCHANGE_MAXIMA if c in frame}
    merged = frame.groupby(["exchange", "timestamp"], sort=True).agg(aggregations).reset_index()
    merged = merged.rename(columns={"timestamp": "t"})
    for column in (*EXCHANGE_COUNTS, *EXCHANGE_MAXIMA):
        if column not in merged:
            merged[column] = np.nan
    return merged


def read_plateaus(path: Path, text: tuple[str, ...], numbers: tuple[str, ...]) -> pd.DataFrame:
    """A search's plateaus, one row each: `text` columns as strings, `numbers` as floats (empty: not measured)."""
    return read_csv(
        path,
        {c: c for c in (*text, *numbers)},
        dtypes={**dict.fromkeys(text, "str"), **dict.fromkeys(numbers, "float64")},
        na_columns=numbers,
    )


def read_simulator_history(path: Path) -> pd.DataFrame:
    """The simulator's own load, one row per second (see SIMULATOR_COLUMNS); lag is empty for a row without
    wake-ups."""
    lags = ("loop_lag_p50_ms", "loop_lag_max_ms")
    header = read_header(path)
    columns = {c: f for c, f in SIMULATOR_COLUMNS.items() if c not in SIMULATOR_OPTIONAL or c in header}
    frame = read_csv(
        path,
        columns,
        dtypes={"timestamp": "float64", "span_s": "float64", "cpu_share": "float64", **dict.fromkeys(lags, "float64"),
                "lag_samples": "int64", "requests": "int64", "ws_messages": "int64",
                **dict.fromkeys(SIMULATOR_OPTIONAL, "float64")},
        na_columns=(*lags, *SIMULATOR_OPTIONAL),
    )
    for field_name in SIMULATOR_OPTIONAL:
        if field_name not in frame:
            frame[field_name] = np.nan
    return frame


def read_process_history(path: Path) -> pd.DataFrame:
    """Each Locust process's memory and open files, one row per process per second (PROCESS_HISTORY_COLUMNS)."""
    columns = {c: "t" if c == "timestamp" else c for c in PROCESS_HISTORY_COLUMNS}
    return read_csv(
        path,
        columns,
        dtypes={"timestamp": "float64", "role": "str", "process": "str", "pid": "int64", "rss_mb": "float64",
                "fds": "float64"},
        na_columns=("rss_mb", "fds"),
    )


def read_header(path: Path) -> list[str]:
    check_file(path)
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        return next(csv.reader(f), [])


def check_file(path: Path) -> None:
    if not path.exists():
        raise AnalysisError(f"{path}: missing")
    if not path.is_file():
        raise AnalysisError(f"{path}: not a file")
    size = path.stat().st_size
    if size == 0:
        raise AnalysisError(f"{path}: empty file")
    with path.open("rb") as f:
        f.seek(size - 1)
        if f.read(1) != b"\n":
            raise AnalysisError(f"{path}: truncated (the last line is incomplete)")


def read_csv(
    path: Path, columns: dict[str, str], dtypes: dict[str, str], na_columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """The named columns of a CSV, renamed, with dtypes checked; AnalysisError naming the file otherwise."""
    header = read_header(path)
    missing = [c for c in columns if c not in header]
    if missing:
        raise AnalysisError(
            f"{path}: missing columns {', '.join(missing)} (a CSV from another Locust version? 2.x headers expected)"
        )
    text_columns = [c for c in columns if dtypes.get(c) == "str"]
    try:
        frame = pd.read_csv(
            path,
            usecols=list(columns),
            dtype={c: "str" for c in text_columns},
            keep_default_na=False,
            na_values={c: ["N/A", ""] for c in na_columns},
            encoding="utf-8",
            encoding_errors="replace",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        raise AnalysisError(f"{path}: unreadable CSV ({_first_line(e)})") from None
    for column in columns:
        wanted = dtypes.get(column)
        if wanted in (None, "str"):
            continue
        values = frame[column]
        if values.dtype.kind not in "iuf":
            numbers = pd.to_numeric(values, errors="coerce")
            bad = numbers.isna() & values.notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
                raise AnalysisError(f"{path}: line {row}: {column} is not a number ({values[bad].iloc[0]!r})")
            values = numbers
        if wanted == "int64":
            if values.isna().any():
                row = int(np.flatnonzero(values.isna().to_numpy())[0]) + 2
                raise AnalysisError(f"{path}: line {row}: {column} is empty (a cut-off row?)")
            values = values.astype("int64")
        frame[column] = values
    return frame.rename(columns=columns)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# --- JSON files ---------------------------------------------------------------------------------


def read_json(path: Path) -> Any:
    check_file_not_empty(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise AnalysisError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}; truncated?)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise AnalysisError(f"{path}: cannot be read ({type(e).__name__})") from None


def check_file_not_empty(path: Path) -> None:
    if not path.is_file():
        raise AnalysisError(f"{path}: missing")
    if path.stat().st_size == 0:
        raise AnalysisError(f"{path}: empty file")


def read_json_object(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise AnalysisError(f"{path}: expected a JSON object")
    return data


def read_totals(path: Path) -> pd.DataFrame:
    """Locust's `--json-file` totals: exact final counts and each entry's response-time histogram."""
    data = read_json(path)
    if not isinstance(data, list):
        raise AnalysisError(f"{path}: expected a list of Locust stats entries")
    rows = []
    for index, entry in enumerate(data):
        missing = [k for k in TOTALS_KEYS if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise AnalysisError(f"{path}: entry {index} lacks {', '.join(missing)} (not Locust's --json-file output)")
        histogram = entry["response_times"]
        if not isinstance(histogram, dict):
            raise AnalysisError(f"{path}: entry {index}: response_times is not an object")
        try:
            rows.append({
                "type": str(entry["method"] or ""),
                "name": str(entry["name"]),
                "requests": int(entry["num_requests"]),
                "failures": int(entry["num_failures"]),
                "none_requests": int(entry.get("num_none_requests") or 0),
                "total_ms": float(entry["total_response_time"]),
                "histogram": {float(k): int(v) for k, v in histogram.items()},
            })
        except (TypeError, ValueError):
            raise AnalysisError(f"{path}: entry {index} has a value that is not a number") from None
    return pd.DataFrame(rows, columns=list(TOTALS_COLUMNS))


# --- locust.log ---------------------------------------------------------------------------------


def read_log_events(path: Path, utc_offset: timedelta) -> pd.DataFrame:
    """Locust's CPU warnings and missing workers, with their times (the log's local time made epoch)."""
    rows = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if "CPU" not in line and "cpu" not in line and "missing" not in line:
                continue
            match = LOG_LINE.match(line.rstrip("\n"))
            if match is None:
                continue
            stamp, millis, _level, message = match.groups()
            kind = next((k for k, text in LOG_EVENTS if text in message), None)
            if kind is None:
                continue
            local = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone(utc_offset))
            rows.append({"t": local.timestamp() + int(millis) / 1000, "kind": kind, "message": message.strip()})
    return pd.DataFrame(rows, columns=["t", "kind", "message"])


def _log_utc_offset(manifest: dict[str, Any]) -> timedelta:
    """Locust logs local time: the runner's UTC offset from run.json, else this machine's."""
    started = manifest.get("started_at")
    if isinstance(started, str):
        try:
            offset = datetime.strptime(started, "%Y-%m-%dT%H:%M:%S%z").utcoffset()
            if offset is not None:
                return offset
        except ValueError:
            pass
    return datetime.now().astimezone().utcoffset() or timedelta(0)


def _empty_log() -> pd.DataFrame:
    return pd.DataFrame({"t": pd.Series(dtype="float64"), "kind": pd.Series(dtype="str"),
                         "message": pd.Series(dtype="str")})


def _empty_exceptions() -> pd.DataFrame:
    return pd.DataFrame({"count": pd.Series(dtype="int64"), "message": pd.Series(dtype="str")})
