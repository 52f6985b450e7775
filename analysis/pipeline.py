"""One run directory in, one report out: load, run every finding family, assemble report.json's content."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.capacity import CapacityResult, analyse_capacity
from analysis.completeness import analyse_completeness
from analysis.histogram import merge, percentiles
from analysis.limits import RateLimitResult, analyse_rate_limits
from analysis.load import RunData, load_run
from analysis.load_generator import LoadGeneratorResult, analyse_load_generator
from analysis.model import Finding, Thresholds, by_severity
from analysis.orders import analyse_orders
from analysis.resources import analyse_resources
from analysis.target import TargetResult, analyse_target
from analysis.taxonomy import analyse_errors
from analysis.timeline import (
    base_names,
    entry_deltas,
    entry_exchanges,
    is_rest,
    is_ws,
    rest_seconds,
    run_exchanges,
)
from analysis.websocket import CONNECT_NAMES, NON_STREAM_NAMES, WebSocketResult, analyse_websocket

SCHEMA_VERSION = 2


@dataclass
class Analysis:
    """A run's analysis: the report's content plus the tables the charts are drawn from."""

    data: RunData
    report: dict[str, Any]
    findings: list[Finding]
    rest: pd.DataFrame  # REST requests, failures, response time and users per second
    deltas: pd.DataFrame  # the history with per-row increments
    rate_limits: dict[str, RateLimitResult]
    capacity: CapacityResult
    websocket: WebSocketResult
    client: LoadGeneratorResult
    target: TargetResult

    @cached_property
    def entry_rows(self) -> dict[tuple[str, str], pd.DataFrame]:
        """The history's rows per (type, name), indexed by second, split once for the charts."""
        columns = self.deltas[["type", "name", "t", "d_requests", "p50", "p95", "p99"]]
        groups = columns.groupby(["type", "name"], observed=True)
        return {(str(k[0]), str(k[1])): rows.set_index("t") for k, rows in groups}


def analyse(run_dir: Path, thresholds: Thresholds | None = None) -> Analysis:
    thresholds = thresholds or Thresholds()
    data = load_run(run_dir)
    deltas = entry_deltas(data.history)
    rest = rest_seconds(data, deltas)
    client = analyse_load_generator(data, thresholds)
    target = analyse_target(data, thresholds)
    rate_limits = {ex: analyse_rate_limits(data, ex, thresholds) for ex in run_exchanges(data)}
    onsets = [r.summary["onset"]["time_s"] for r in rate_limits.values() if r.summary["onset"] is not None]
    capacity = analyse_capacity(data, deltas, rest, client, target, min(onsets) if onsets else None, thresholds)
    errors, error_findings = analyse_errors(data, thresholds)
    websocket = analyse_websocket(data, client, target, thresholds)
    completeness, completeness_findings = analyse_completeness(data)
    resources, resource_findings = analyse_resources(data, thresholds)
    findings = by_severity([
        *completeness_findings,
        *(f for r in rate_limits.values() for f in r.findings),
        *client.findings,
        *target.findings,
        *capacity.findings,
        *error_findings,
        *websocket.findings,
        *resource_findings,
    ])
    report = {
        "schema_version": SCHEMA_VERSION,
        "run": run_section(data, rest),
        "latency": latency_section(data),
        "exchanges": {ex: {"rate_limit": r.summary} for ex, r in rate_limits.items()},
        "capacity": capacity.summary,
        "errors": errors,
        "websocket": websocket.summary,
        "orders": analyse_orders(data, thresholds),
        "client": client.summary,
        "simulator": target.summary,
        "completeness": completeness,
        "resources": resources,
        "findings": [f.to_json() for f in findings],
        "thresholds": thresholds.to_json(),
        "notes": data.notes + run_notes(data),
    }
    return Analysis(data, report, findings, rest, deltas, rate_limits, capacity, websocket, client, target)


def run_section(data: RunData, rest: pd.DataFrame) -> dict[str, Any]:
    manifest, totals = data.manifest, data.totals
    ws, rest_rows = is_ws(totals["type"]), is_rest(totals["type"])
    duration = data.measured_s
    requests = int(totals.loc[rest_rows, "requests"].sum())
    names = totals["name"].astype(str)
    bases = names.map(base_names(names, run_exchanges(data)))  # side-by-side rows carry their exchange
    streams = ws & ~bases.isin(NON_STREAM_NAMES)
    return {
        "run_id": manifest.get("run_id", data.run_dir.name),
        "run_dir": str(data.run_dir),
        "exchanges": run_exchanges(data),
        "scenario": manifest.get("scenario"),
        "target": manifest.get("target"),
        "started_at": manifest.get("started_at"),
        "duration_s": round(duration, 1),
        "configured_duration_s": manifest.get("duration_s"),
        "users": manifest.get("users"),
        "max_users": int(rest["users"].max()) if len(rest) else 0,
        "workers": manifest.get("workers", 1),
        "requests": requests,
        "failures": int(totals.loc[rest_rows, "failures"].sum()),
        "requests_per_s": round(requests / duration, 2) if duration > 0 else None,
        "ws_messages": int((totals.loc[streams, "requests"] - totals.loc[streams, "failures"]).sum()),
        "ws_connects": int(totals.loc[ws & bases.isin(CONNECT_NAMES), "requests"].sum()),
        "ws_failures": int(totals.loc[ws, "failures"].sum()),
        "interrupted": bool(manifest.get("interrupted", False)),
        "full_history": data.full_history,
    }


def latency_section(data: RunData) -> dict[str, Any]:
    """Whole-run REST latency (exact: merged histograms) and one row per entry."""
    totals = data.totals
    rest = totals.loc[is_rest(totals["type"])]
    timed = (rest["requests"] - rest["none_requests"]).sum()
    duration = max(data.measured_s, 1.0)
    mapping = entry_exchanges(totals["name"].astype(str), run_exchanges(data))
    endpoints = []
    for row in totals.itertuples():
        timed_row = row.requests - row.none_requests
        endpoints.append({
            "type": row.type,
            "name": row.name,
            "exchange": mapping.get(row.name),
            "requests": int(row.requests),
            "failures": int(row.failures),
            "failure_share": round(row.failures / row.requests, 4) if row.requests else None,
            "requests_per_s": round(row.requests / duration, 2),
            "mean_ms": round(row.total_ms / timed_row, 1) if timed_row > 0 else None,
            **percentiles(row.histogram),
        })
    return {
        "rest": {
            "mean_ms": round(float(rest["total_ms"].sum() / timed), 1) if timed > 0 else None,
            **percentiles(merge(rest["histogram"])),
        },
        "endpoints": endpoints,
    }


def run_notes(data: RunData) -> list[str]:
    notes = []
    if data.manifest.get("interrupted"):
        notes.append("the run was interrupted: its last seconds may be incomplete")
    if not run_exchanges(data):
        notes.append("no exchange named in run.json or the suite's history: rate limits are not analysed")
    return notes
