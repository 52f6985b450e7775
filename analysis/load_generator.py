"""The load generator's own bottlenecks: when the generator, not the exchange, limited the run.

Sources: Locust's CPU warnings and missing-worker lines in locust.log, and from the suite's exchange
history the polite users' own waits and, for open-model (paced) users, starts that came late or were
skipped because no user was free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.load import RunData
from analysis.model import Finding, Severity, Thresholds


@dataclass
class LoadGeneratorResult:
    summary: dict[str, Any]
    findings: list[Finding]
    saturated_from_s: float | None  # run time from which the generator was CPU-bound; None if it never was

    def suspect(self, time_s: float | None) -> bool:
        """Whether a measurement at run time `time_s` (None: the whole run) may be the generator's doing."""
        if self.saturated_from_s is None:
            return False
        return time_s is None or time_s >= self.saturated_from_s - 10  # Locust samples CPU every 10 s


def analyse_load_generator(data: RunData, thresholds: Thresholds) -> LoadGeneratorResult:
    events = data.log_events
    start = data.start_s
    warnings = events.loc[events["kind"] == "cpu_warning"]
    summary_lines = events.loc[events["kind"] == "cpu_warning_summary"]
    missing = events.loc[events["kind"] == "worker_missing"]
    saturated_from = None
    if len(warnings):
        saturated_from = round(float(warnings["t"].min()) - start, 1)
    elif len(summary_lines):
        saturated_from = 0.0  # Locust said so at the end without a time: the whole run is suspect
    findings: list[Finding] = []
    cpu = {
        "saturated": saturated_from is not None,
        "from_s": saturated_from,
        "warnings": [{"time_s": round(float(r.t) - start, 1), "message": str(r.message)}
                     for r in warnings.itertuples()],
    }
    if saturated_from is not None:
        findings.append(Finding(
            kind="client_cpu_saturated",
            severity=Severity.MEDIUM,
            message=(
                f"the load generator's CPU was above 90% from about {saturated_from:g} s: latency and throughput "
                "measured after that describe Locust, not the exchange"
            ),
            evidence=cpu,
            recommendation=(
                "Spread the users over more worker processes (make run WORKERS=N), or run fewer users per "
                "process, and run again before drawing conclusions about the exchange."
            ),
        ))
    workers = [{"time_s": round(float(r.t) - start, 1), "message": str(r.message)} for r in missing.itertuples()]
    if workers and data.workers is None:  # with the master's worker record, completeness reports each loss
        findings.append(Finding(
            kind="client_worker_missing",
            severity=Severity.MEDIUM,
            message=(
                f"{len(workers)} time(s) a Locust worker stopped sending heartbeats, "
                f"first at {workers[0]['time_s']:g} s"
            ),
            evidence={"events": workers},
            recommendation=(
                "A worker starved of CPU or killed takes its users with it: give workers headroom and rerun; "
                "numbers from that part of the run are not the exchange's."
            ),
        ))
    pacing = pacing_lag(data)
    if pacing is not None and (pacing["late_share"] > thresholds.late_start_share or pacing["skipped_starts"]):
        # Without a CPU-bound generator, a start is late only because every user was still waiting on an answer.
        cpu_bound = saturated_from is not None and pacing["first_late_s"] >= saturated_from - 10
        pacing["cause"] = "generator_cpu" if cpu_bound else "users_waiting_on_answers"
        starts = (f"{pacing['late_starts']} of {pacing['paced_starts']} paced requests started late "
                  f"({pacing['late_share']:.1%}, worst {pacing['max_lag_ms']:g} ms) and {pacing['skipped_starts']} "
                  f"were skipped, from {pacing['first_late_s']:g} s")
        findings.append(Finding(
            kind="client_pacing_lag",
            severity=Severity.MEDIUM if cpu_bound else Severity.LOW,
            message=(
                f"the load generator could not keep the asked rate (its CPU was saturated): {starts}" if cpu_bound
                else f"the asked rate was not sent because every user was waiting on an answer: {starts}; the "
                "generator's CPU was not saturated, so the answers slowed down (see the latency and any ceiling)"
            ),
            evidence=pacing,
            recommendation=(
                "Add worker processes or lower the target rate: the asked load was not sent, so throughput and "
                "latency from then on understate what the exchange would have seen." if cpu_bound else
                "Add users (-u) to keep the asked rate at this latency; where the exchange itself stopped keeping up "
                "(a throughput ceiling with cause exchange), more users only lengthen its queue."
            ),
        ))
    waits = own_waits(data)
    if waits["weight_waits"] > 0:
        findings.append(Finding(
            kind="client_throttled",
            severity=Severity.LOW,
            message=(
                f"the suite's own weight limiter held requests back {waits['weight_waits']} times "
                f"({waits['weight_wait_s']:g} s in all): throughput was capped by the client's budget, not the exchange"
            ),
            evidence=waits,
            recommendation="Expected in --mode polite; raise --weight-budget or the limit only if the exchange allows.",
        ))
    summary = {"cpu": cpu, "workers_missing": workers, "pacing": pacing, "own_waits": waits}
    return LoadGeneratorResult(summary, findings, saturated_from)


def pacing_lag(data: RunData) -> dict[str, Any] | None:
    """Paced starts that came late or were skipped (`paced_starts`, `late_starts`, `skipped_starts`,
    `start_lag_max_ms` in the exchange history); None when the run had no paced users."""
    history = data.exchange_history
    if history is None or not history["paced_starts"].fillna(0).any():
        return None
    paced = int(history["paced_starts"].fillna(0).sum())
    late = int(history["late_starts"].fillna(0).sum())
    lagging = history.loc[(history["late_starts"].fillna(0) > 0) | (history["skipped_starts"].fillna(0) > 0), "t"]
    max_lag = history["start_lag_max_ms"].max()
    return {
        "paced_starts": paced,
        "late_starts": late,
        "skipped_starts": int(history["skipped_starts"].fillna(0).sum()),
        "late_share": round(late / paced, 4) if paced else 0.0,
        "max_lag_ms": None if pd.isna(max_lag) else round(float(max_lag), 1),
        "first_late_s": None if lagging.empty else round(float(lagging.min()) - data.start_s, 1),
    }


def own_waits(data: RunData) -> dict[str, Any]:
    history = data.exchange_history
    if history is None:
        return {"weight_waits": 0, "weight_wait_s": 0.0}
    return {
        "weight_waits": int(history["weight_waits"].fillna(0).sum()),
        "weight_wait_s": round(float(pd.to_numeric(history["weight_wait_s"]).fillna(0).sum()), 1),
    }
