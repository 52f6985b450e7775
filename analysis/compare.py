"""--compare: what got better or worse between a baseline run and this one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from analysis.model import Finding, Severity, Thresholds

Getter = Callable[[dict[str, Any]], float | None]


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    get: Getter
    higher_is_better: bool
    headline: bool  # a change beyond the threshold is a regression finding (others are only listed)


def compare_reports(
    current: dict[str, Any], baseline: dict[str, Any], thresholds: Thresholds
) -> tuple[dict[str, Any], list[Finding]]:
    """(report.json's "comparison" section, regression findings) for `current` against `baseline`."""
    rows = []
    findings = []
    for metric in metrics(current, baseline):
        base, now = metric.get(baseline), metric.get(current)
        change, verdict = judge(base, now, metric.higher_is_better, thresholds.regression_share)
        rows.append({"metric": metric.name, "baseline": base, "current": now,
                     "change": None if change is None else round(change, 4), "verdict": verdict})
        if verdict == "worse" and metric.headline:
            findings.append(Finding(
                kind="regression",
                severity=Severity.MEDIUM,
                message=f"{metric.name} got worse: {base:g} → {now:g}"
                + (f" ({change:+.0%})" if change is not None else ""),
                evidence=rows[-1],
                recommendation=(
                    "Compare what changed between the two runs (client version, settings, load, target); "
                    "rerun both if the machine was busy, since single runs are noisy."
                ),
            ))
    section = {"baseline_run": baseline["run"]["run_id"], "baseline_dir": baseline["run"]["run_dir"],
               "metrics": rows}
    return section, findings


def judge(base: float | None, now: float | None, higher_is_better: bool, tolerance: float) -> tuple[float | None, str]:
    if base is None or now is None:
        return None, "n/a"
    if base == now:
        return 0.0, "same"
    change = (now - base) / abs(base) if base else None
    if change is not None and abs(change) <= tolerance:
        return change, "same"
    improved = (now > base) == higher_is_better
    return change, "better" if improved else "worse"


def metrics(current: dict[str, Any], baseline: dict[str, Any]) -> list[Metric]:
    result = [
        Metric("REST requests/s", lambda r: r["run"]["requests_per_s"], True, True),
        Metric("REST failure share", _failure_share, False, True),
        Metric("REST mean ms", lambda r: r["latency"]["rest"]["mean_ms"], False, False),
        Metric("REST p50 ms", lambda r: r["latency"]["rest"]["p50"], False, False),
        Metric("REST p95 ms", lambda r: r["latency"]["rest"]["p95"], False, True),
        Metric("REST p99 ms", lambda r: r["latency"]["rest"]["p99"], False, True),
    ]
    for exchange in _common(current["exchanges"], baseline["exchanges"]):
        result += [
            Metric(f"{exchange} max safe requests/s",
                   lambda r, e=exchange: r["exchanges"][e]["rate_limit"]["max_safe_requests_per_s"], True, True),
            Metric(f"{exchange} rate-limit share",
                   lambda r, e=exchange: r["exchanges"][e]["rate_limit"]["answers"]["share"], False, True),
        ]
    kinds = sorted(set(current["errors"]["by_kind"]) | set(baseline["errors"]["by_kind"]))
    result += [Metric(f"{kind} share", lambda r, k=kind: _kind_share(r, k), False, True) for kind in kinds]
    endpoints = _common({_key(e): e for e in current["latency"]["endpoints"] if e["type"] != "WS"},
                        {_key(e): e for e in baseline["latency"]["endpoints"] if e["type"] != "WS"})
    result += [Metric(f"{key} p95 ms", lambda r, k=key: _endpoint_p95(r, k), False, False) for key in endpoints]
    if current["websocket"] is not None and baseline["websocket"] is not None:
        result += [
            Metric("WS connect p95 ms", _connect_p95, False, False),
            Metric("WS reconnects", lambda r: r["websocket"]["reconnects"], False, True),
            Metric("WS drops", lambda r: r["websocket"]["drops"], False, True),
            Metric("WS gaps", lambda r: r["websocket"]["gaps"], False, True),
        ]
    return result


def _common(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [k for k in a if k in b]


def _key(entry: dict[str, Any]) -> str:
    return f"{entry['type']} {entry['name']}"


def _failure_share(report: dict[str, Any]) -> float | None:
    run = report["run"]
    return round(run["failures"] / run["requests"], 4) if run["requests"] else None


def _kind_share(report: dict[str, Any], kind: str) -> float:
    entry = report["errors"]["by_kind"].get(kind)
    return 0.0 if entry is None else entry["share"] or 0.0


def _endpoint_p95(report: dict[str, Any], key: str) -> float | None:
    return next((e["p95"] for e in report["latency"]["endpoints"] if _key(e) == key), None)


def _connect_p95(report: dict[str, Any]) -> float | None:
    return (report["websocket"]["connect"]["time_ms"] or {}).get("p95")
