"""Leaks, seen while they grow: each process's resident memory and open file descriptors over the run.

Sources: PREFIX_process_history.csv (every Locust process, one sample per second) and simulator_history.csv
(the simulator). A series is judged over the run after its warm-up (the first `leak_warmup_share` of the run:
users start, connections open, caches fill), and only with at least `leak_min_samples` samples left.

A rise is a leak when it is both steady and large:
- steady: Kendall's tau of the samples against time is at least `leak_trend` (1: every later sample is higher,
  0: no order; a one-off step halfway gives about 0.5, noise about 0);
- large: the Theil-Sen slope (the median of the slopes between every two samples, unmoved by a few outliers)
  times the judged span is at least `leak_rss_mb` MiB or `leak_fds` descriptors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.load import RunData
from analysis.model import Finding, Severity, Thresholds

MAX_POINTS = 400  # longer series are thinned evenly before the pairwise fit (its cost grows with the square)
# column, unit, words, how the leak ends a run
RESOURCES = (
    ("rss_mb", "MB", "memory", "MemoryError or the kernel's OOM killer"),
    ("fds", "fds", "open file descriptors", "'Too many open files' (EMFILE)"),
)
FIXES = (
    "Close what a user opens, in on_stop or a with-block: HTTP sessions and their connection pools, WebSocket "
    "connections, files. Keep one bounded connection pool per user (a limit per host) instead of a new client "
    "per request. Bound every queue, cache and per-request list. In a long soak, check after each batch that "
    "memory comes back (gc.collect(), then the RSS) and pause briefly so that closed connections are released. "
    "Raise the open-files limit (ulimit -n) only once descriptors stop rising: a higher limit only delays EMFILE."
)


@dataclass(frozen=True, slots=True)
class Trend:
    """A series' judged part, fitted."""

    samples: int
    from_s: float  # run time of the first judged sample
    to_s: float  # ... and of the last
    first: float
    last: float
    peak: float
    slope_per_min: float  # Theil-Sen slope, unit per minute
    rise: float  # slope times the judged span
    tau: float  # Kendall's tau against time


def fit(t: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """(Theil-Sen slope per second, Kendall's tau) of samples `v` at times `t` (sorted, at least 2, no NaN)."""
    if len(t) > MAX_POINTS:
        keep = np.unique(np.linspace(0, len(t) - 1, MAX_POINTS).round().astype(int))
        t, v = t[keep], v[keep]
    i, j = np.triu_indices(len(t), k=1)
    dt, dv = t[j] - t[i], v[j] - v[i]
    timed = dt > 0
    slope = float(np.median(dv[timed] / dt[timed])) if timed.any() else 0.0
    tau = float(np.sign(dv).sum() / len(dv)) if len(dv) else 0.0
    return slope, tau


def judge(t: np.ndarray, v: np.ndarray, run_start: float, run_end: float, thresholds: Thresholds) -> Trend | None:
    """The trend of one series after the warm-up, or None when too few samples are left to judge."""
    warmup_end = run_start + thresholds.leak_warmup_share * max(run_end - run_start, 0.0)
    mask = (t >= warmup_end) & (t <= run_end + 1) & ~np.isnan(v)
    t, v = t[mask], v[mask]
    if len(t) < max(thresholds.leak_min_samples, 2):
        return None
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    slope, tau = fit(t, v)
    return Trend(
        samples=len(t), from_s=round(float(t[0] - run_start), 1), to_s=round(float(t[-1] - run_start), 1),
        first=float(v[0]), last=float(v[-1]), peak=float(v.max()),
        slope_per_min=round(slope * 60, 2), rise=round(slope * float(t[-1] - t[0]), 1), tau=round(tau, 2),
    )


def is_leak(column: str, trend: Trend, thresholds: Thresholds) -> bool:
    limit = thresholds.leak_rss_mb if column == "rss_mb" else thresholds.leak_fds
    return trend.tau >= thresholds.leak_trend and trend.rise >= limit


def series(data: RunData) -> list[tuple[str, str, int | None, pd.DataFrame]]:
    """(process, role, pid, its rows with t, rss_mb, fds) for every process that recorded its usage."""
    out: list[tuple[str, str, int | None, pd.DataFrame]] = []
    if data.process_history is not None:
        for process, rows in data.process_history.groupby("process", sort=True):
            out.append((str(process), str(rows["role"].iloc[0]), int(rows["pid"].iloc[0]), rows))
    sim = data.simulator_history
    if sim is not None and sim[["rss_mb", "fds"]].notna().any().any():
        out.append(("simulator", "simulator", None, sim))
    return out


def analyse_resources(data: RunData, thresholds: Thresholds) -> tuple[dict[str, Any], list[Finding]]:
    """(report.json's "resources" section, resource_leak findings)."""
    start, end = data.start_s, data.start_s + data.measured_s
    processes, findings = [], []
    for process, role, pid, rows in series(data):
        t = rows["t"].to_numpy(dtype=float)
        entry: dict[str, Any] = {"process": process, "role": role, "pid": pid}
        for column, unit, words, ending in RESOURCES:
            trend = judge(t, rows[column].to_numpy(dtype=float), start, end, thresholds)
            leak = trend is not None and is_leak(column, trend, thresholds)
            entry[column] = None if trend is None else {
                "first": trend.first, "last": trend.last, "max": trend.peak, "slope_per_min": trend.slope_per_min,
                "rise": trend.rise, "trend": trend.tau, "samples": trend.samples, "from_s": trend.from_s,
                "to_s": trend.to_s, "leak": leak,
            }
            if leak and trend is not None:
                findings.append(_finding(process, role, pid, (column, unit, words, ending), trend))
        processes.append(entry)
    section = {
        "warmup_share": thresholds.leak_warmup_share,
        "processes": processes,
        "leaks": len(findings),
    }
    return section, findings


def _finding(process: str, role: str, pid: int | None, resource: tuple[str, str, str, str], trend: Trend) -> Finding:
    column, unit, words, end = resource
    who = "the simulator" if role == "simulator" else f"Locust worker process {process!r}" if role == "worker" \
        else f"the {role} Locust process"
    if pid is not None:
        who += f" (pid {pid})"
    fixes = FIXES if role != "simulator" else (
        "The simulator is this suite's own code: report it with this run's files. " + FIXES
    )
    return Finding(
        kind="resource_leak",
        severity=Severity.MEDIUM,
        message=(
            f"{who}: {words} rose steadily from {trend.from_s:g} s to {trend.to_s:g} s, by {trend.rise:g} {unit} "
            f"({trend.slope_per_min:g} {unit}/min; {trend.first:g} -> {trend.last:g} {unit}, trend {trend.tau:g}): "
            f"a leak, which ends a longer run in {end}"
        ),
        evidence={"process": process, "role": role, "pid": pid, "resource": column, "unit": unit,
                  "slope_per_min": trend.slope_per_min, "rise": trend.rise, "first": trend.first,
                  "last": trend.last, "max": trend.peak, "trend": trend.tau, "samples": trend.samples,
                  "from_s": trend.from_s, "to_s": trend.to_s},
        recommendation=fixes,
    )
