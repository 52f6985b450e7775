"""The target's own bottleneck: when the built-in simulator, not the exchange it imitates, limited the run.

Source: simulator_history.csv, the simulator's CPU share of one core and its event loop's lag per second.
A second is saturated when the CPU share or the median lag reaches its threshold (`sim_cpu_share`,
`sim_loop_lag_ms`); the simulator counts as saturated over runs of such seconds that last at least
`sim_saturated_s`. Runs against an external host have no such file: then nothing is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.load import RunData
from analysis.model import Finding, Severity, Thresholds
from analysis.timeline import PERCENTILE_WINDOW_S

MAX_SPANS_LISTED = 20


@dataclass
class TargetResult:
    summary: dict[str, Any] | None  # None: the run has no simulator history
    findings: list[Finding]
    spans: list[dict[str, Any]]  # saturated spans in run time: start_s, end_s, ...

    def suspect(self, time_s: float | None) -> bool:
        """Whether a measurement at run time `time_s` (None: the whole run) may be the simulator's doing: it was
        saturated at some time from the start of that measurement's 10 s window on."""
        if not self.spans:
            return False
        return time_s is None or any(span["end_s"] >= time_s - PERCENTILE_WINDOW_S for span in self.spans)


def analyse_target(data: RunData, thresholds: Thresholds) -> TargetResult:
    history = data.simulator_history
    if history is None:
        return TargetResult(None, [], [])
    start, end = data.start_s, data.end_s
    # the rows that overlap Locust's history, which covers the second before each of its timestamps
    rows = history.loc[(history["t"] + history["span_s"] > start - 1) & (history["t"] < end + 1)]
    rows = rows.reset_index(drop=True)
    saturated = (rows["cpu_share"] >= thresholds.sim_cpu_share) | (
        rows["lag_p50_ms"].fillna(0) >= thresholds.sim_loop_lag_ms
    )
    spans = saturated_spans(rows, saturated, start, thresholds.sim_saturated_s)
    in_spans = pd.Series(False, index=rows.index)
    for span in spans:
        in_spans.loc[span.pop("rows")] = True
    busy = rows.loc[in_spans]
    busy_s = float(busy["span_s"].sum())
    summary = {
        "seconds": len(rows),
        "cpu_share_mean": _weighted_mean(rows["cpu_share"], rows["span_s"]),
        "cpu_share_max": _round(rows["cpu_share"].max(), 3),
        "loop_lag_p50_ms_max": _round(rows["lag_p50_ms"].max(), 1),  # the highest of the per-second medians
        "loop_lag_max_ms": _round(rows["lag_max_ms"].max(), 1),
        "saturated": bool(spans),
        "saturated_s": round(busy_s, 1),
        "saturated_from_s": spans[0]["start_s"] if spans else None,
        "saturated_requests_per_s": round(float(busy["requests"].sum()) / busy_s, 2) if busy_s > 0 else None,
        "saturated_cpu_share_mean": _weighted_mean(busy["cpu_share"], busy["span_s"]),
        "saturated_loop_lag_p50_ms_median": _round(busy["lag_p50_ms"].median(), 1),
        "spans": spans[:MAX_SPANS_LISTED],
        "spans_total": len(spans),
    }
    findings = [saturation_finding(summary, thresholds)] if spans else []
    return TargetResult(summary, findings, spans)


def saturated_spans(rows: pd.DataFrame, saturated: pd.Series, start_s: float, min_s: float) -> list[dict[str, Any]]:
    """Runs of consecutive saturated rows lasting at least `min_s` (their spans summed), in run time; each
    with the index of its rows under "rows"."""
    groups = (saturated != saturated.shift()).cumsum()
    spans = []
    for _, group in rows.loc[saturated].groupby(groups[saturated], sort=True):
        length = float(group["span_s"].sum())
        if length < min_s:
            continue
        last = group.iloc[-1]
        spans.append({
            "start_s": round(float(group["t"].iloc[0]) - start_s, 1),
            "end_s": round(float(last["t"] + last["span_s"]) - start_s, 1),
            "seconds": round(length, 1),
            "cpu_share_mean": _weighted_mean(group["cpu_share"], group["span_s"]),
            "loop_lag_p50_ms_median": _round(group["lag_p50_ms"].median(), 1),
            "requests_per_s": round(float(group["requests"].sum()) / length, 2),
            "rows": group.index,
        })
    return spans


def saturation_finding(summary: dict[str, Any], thresholds: Thresholds) -> Finding:
    return Finding(
        kind="simulator_saturated",
        severity=Severity.MEDIUM,
        message=(
            f"the simulator (this run's target) was saturated for {summary['saturated_s']:g} s from "
            f"{summary['saturated_from_s']:g} s: its one process used {summary['saturated_cpu_share_mean']:.0%} of a "
            f"core on average and its event loop's lag had a median of {summary['saturated_loop_lag_p50_ms_median']:g} "
            f"ms, while it served about {summary['saturated_requests_per_s']:g} requests/s; throughput and latency "
            "then are the simulator's limits, not the exchange's"
        ),
        evidence={
            **{k: v for k, v in summary.items() if k.startswith("saturated_") or k.startswith("spans")},
            "cpu_share_max": summary["cpu_share_max"],
            "loop_lag_max_ms": summary["loop_lag_max_ms"],
            "thresholds": {"sim_cpu_share": thresholds.sim_cpu_share, "sim_loop_lag_ms": thresholds.sim_loop_lag_ms,
                           "sim_saturated_s": thresholds.sim_saturated_s},
        },
        recommendation=(
            "Lower the load (fewer users or workers, a lower rate) or give the simulator a core of its own (workers "
            "on other machines); an exchange's own capacity is measured against the exchange or its testnet."
        ),
    )


def _weighted_mean(values: pd.Series, weights: pd.Series) -> float | None:
    total = float(weights.sum())
    return round(float((values * weights).sum()) / total, 3) if total > 0 else None


def _round(value: Any, digits: int) -> float | None:
    return None if pd.isna(value) else round(float(value), digits)
