"""WebSocket findings: connect times, message rate and event latency per stream, drops, reconnects
and reconnect storms, sequence gaps and checksum failures.

The suite reports WebSocket events with request type "WS": `connect` and `reconnect` (connect time),
`connection` (drops), one entry per stream (response time = event latency, or none), and failures
`ws_drop` / `ws_gap`; in a side-by-side run every name carries its exchange ("kraken:connect"), and
each row is attributed to it. Per-second reconnects, drops and gaps come from the exchange history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.exchange_rules import limit_signals
from analysis.histogram import merge, percentiles
from analysis.load import RunData
from analysis.load_generator import LoadGeneratorResult
from analysis.model import Finding, Severity, Thresholds
from analysis.target import TargetResult
from analysis.taxonomy import failure_table
from analysis.timeline import base_names, entry_exchanges, is_ws, run_exchanges, seconds

CONNECT_NAMES = ("connect", "reconnect")
NON_STREAM_NAMES = frozenset({*CONNECT_NAMES, "connection", "subscription", "message", "error"})


@dataclass
class WebSocketResult:
    summary: dict[str, Any] | None  # None: the run had no WebSocket traffic
    findings: list[Finding]
    per_second: pd.DataFrame  # reconnects, drops, gaps per second (for charts)


def analyse_websocket(
    data: RunData, client: LoadGeneratorResult, target: TargetResult, thresholds: Thresholds
) -> WebSocketResult:
    totals = data.totals.loc[is_ws(data.totals["type"])]
    per_second = ws_seconds(data)
    if totals.empty:
        return WebSocketResult(None, [], per_second)
    duration = max(data.measured_s, 1.0)
    exchanges = run_exchanges(data)
    names = totals["name"].astype(str)
    totals = totals.assign(exchange=names.map(entry_exchanges(names, exchanges)),
                           base=names.map(base_names(names, exchanges)))
    connects = {name: connect_stats(totals, name) for name in CONNECT_NAMES}
    by_exchange = {
        str(exchange): {name: connect_stats(rows, name) for name in CONNECT_NAMES}
        for exchange, rows in totals.groupby("exchange", sort=True)
    }
    streams = []
    for row in totals.loc[~totals["base"].isin(NON_STREAM_NAMES)].itertuples():
        timed = row.requests - row.none_requests
        streams.append({
            "stream": row.name,
            "exchange": row.exchange,
            "messages": int(row.requests - row.failures),
            "per_s": round((row.requests - row.failures) / duration, 2),
            "failures": int(row.failures),
            "latency_ms": percentiles(row.histogram) if timed > 0 else None,
        })
    failures = failure_table(data)
    ws_failures = failures.loc[failures["ws"]]
    ws_failures = ws_failures.assign(base=ws_failures["name"].astype(str).map(
        base_names(ws_failures["name"].astype(str), exchanges)))
    drops = ws_failures.loc[ws_failures["kind"] == "ws_drop"]
    gaps = ws_failures.loc[ws_failures["kind"] == "ws_gap"]
    storms = reconnect_storms(per_second["reconnects"], data.start_s, thresholds)
    summary = {
        "connect": connects["connect"],
        "reconnect": connects["reconnect"],
        "connects_by_exchange": by_exchange,  # the same per exchange (side-by-side runs name them apart)
        "streams": streams,
        "reconnects": int(per_second["reconnects"].sum()) or connects["reconnect"]["attempts"],
        "drops": int(drops["count"].sum()),
        "drops_by_reason": _by_reason(drops),
        "gaps": int(gaps["count"].sum()),
        "gaps_by_stream": {str(k): int(v) for k, v in gaps.groupby("name", observed=True)["count"].sum().items()},
        "gaps_by_reason": _by_reason(gaps),  # sequence gaps and checksum mismatches
        "storms": storms,
    }
    return WebSocketResult(summary, ws_findings(summary, ws_failures, client, target, thresholds), per_second)


def connect_stats(totals: pd.DataFrame, name: str) -> dict[str, Any]:
    """Connect (or reconnect) attempts, failures and times over the rows named `name` once their exchange's
    prefix is left out (one per exchange in a side-by-side run; histograms merged)."""
    rows = totals.loc[totals["base"] == name]
    if rows.empty:
        return {"attempts": 0, "failures": 0, "time_ms": None}
    return {"attempts": int(rows["requests"].sum()), "failures": int(rows["failures"].sum()),
            "time_ms": percentiles(merge(rows["histogram"]))}


def ws_seconds(data: RunData) -> pd.DataFrame:
    index = seconds(data)
    history = data.exchange_history
    columns = {"ws_reconnects": "reconnects", "ws_drops": "drops", "ws_gaps": "gaps", "ws_messages": "messages"}
    if history is None:
        return pd.DataFrame(0.0, index=index, columns=list(columns.values()))
    summed = history.groupby("t")[list(columns)].sum().rename(columns=columns)
    return summed.reindex(index, fill_value=0).fillna(0)


def reconnect_storms(reconnects: pd.Series, start_s: float, thresholds: Thresholds) -> list[dict[str, Any]]:
    """Spans in which at least `reconnect_storm_count` reconnects fell within `reconnect_storm_window_s`."""
    window = max(1, thresholds.reconnect_storm_window_s)
    rolling = reconnects.rolling(window, min_periods=1).sum()
    stormy = rolling >= max(1, thresholds.reconnect_storm_count)
    if not stormy.any():
        return []
    starts = stormy & ~stormy.shift(fill_value=False)
    span_id = starts.cumsum()[stormy]
    storms = []
    for _, span in rolling[stormy].groupby(span_id):
        first, last = int(span.index[0]), int(span.index[-1])
        storms.append({
            "start_s": round(first - window + 1 - start_s, 1),
            "end_s": round(last - start_s, 1),
            "reconnects": int(reconnects.loc[first - window + 1:last].sum()),
            "peak_per_window": int(span.max()),
        })
    return storms


def _by_reason(failures: pd.DataFrame) -> dict[str, int]:
    """Failure counts by their code (e.g. close code 1006), or by their message when they have none."""
    reasons = failures["code"].fillna(failures["error"].str.replace(r"^\w+:\s*", "", regex=True))
    return {str(k): int(v) for k, v in failures.groupby(reasons)["count"].sum().items()}


def ws_findings(
    summary: dict[str, Any], ws_failures: pd.DataFrame, client: LoadGeneratorResult, target: TargetResult,
    thresholds: Thresholds,
) -> list[Finding]:
    findings = []
    connect_failures = ws_failures.loc[ws_failures["base"].isin(CONNECT_NAMES)]
    for exchange, rows in connect_failures.groupby(connect_failures["exchange"].fillna(""), sort=True):
        by_kind = {str(k): int(v) for k, v in rows.groupby("kind")["count"].sum().items()}
        limit = limit_signals(str(exchange)).ws_connect_limit if exchange else ""
        findings.append(Finding(
            kind="ws_connect_failures",
            exchange=str(exchange) or None,
            severity=Severity.MEDIUM,
            message=f"{int(rows['count'].sum())} WebSocket connection attempts"
            + (f" to {exchange}" if exchange else "") + f" failed ({by_kind})",
            evidence={"by_kind": by_kind, "errors": {str(r.error): int(r.count) for r in rows.itertuples()}},
            recommendation=(
                "Respect the exchange's connection-attempt limits"
                + (f" ({exchange}: {limit})" if limit else "")
                + ": reconnect with exponential backoff and jitter, and put many streams on one connection."
            ),
        ))
    if summary["drops"]:
        findings.append(Finding(
            kind="ws_drops",
            severity=Severity.MEDIUM,
            message=f"{summary['drops']} WebSocket connections dropped abnormally ({summary['drops_by_reason']})",
            evidence={"drops": summary["drops"], "by_reason": summary["drops_by_reason"]},
            recommendation=(
                "Reconnect with backoff and jitter, resubscribe, rebuild order books from a fresh snapshot, answer "
                "pings and read the socket without stalls (1006: lost without a close frame; 1008: policy, e.g. "
                "too many messages sent)."
            ),
        ))
    for storm in summary["storms"]:
        findings.append(Finding(
            kind="ws_reconnect_storm",
            severity=Severity.MEDIUM,
            message=(
                f"reconnect storm from {storm['start_s']:g} s to {storm['end_s']:g} s: {storm['reconnects']} "
                f"reconnects (threshold {thresholds.reconnect_storm_count} in {thresholds.reconnect_storm_window_s} s)"
            ),
            evidence=storm,
            recommendation=(
                "Spread reconnects out (exponential backoff with full jitter, per connection) so that a drop does "
                "not make every client reconnect at once and trip the exchange's connection limits."
            ),
        ))
    if summary["gaps"]:
        findings.append(Finding(
            kind="ws_gaps",
            severity=Severity.MEDIUM,
            message=(
                f"{summary['gaps']} sequence gaps or checksum failures on WebSocket streams "
                f"({summary['gaps_by_reason']}; {summary['gaps_by_stream']}): local order books were out of "
                "sync until rebuilt"
            ),
            evidence={"gaps": summary["gaps"], "by_stream": summary["gaps_by_stream"],
                      "by_reason": summary["gaps_by_reason"]},
            recommendation=(
                "Check every update id or checksum, and on a gap stop trading on that book, fetch a snapshot and "
                "replay the buffered diffs; gaps under load often mean the client reads too slowly."
            ),
        ))
    slow = [
        s for s in summary["streams"]
        if s["latency_ms"] and (s["latency_ms"]["p95"] or 0) > thresholds.ws_latency_p95_ms
    ]
    if slow:
        worst = max(slow, key=lambda s: s["latency_ms"]["p95"])
        suspect = client.suspect(None)
        findings.append(Finding(
            kind="ws_event_latency",
            severity=Severity.LOW,
            message=(
                f"WebSocket event latency p95 above {thresholds.ws_latency_p95_ms:g} ms on {len(slow)} streams "
                f"(worst {worst['stream']}: p95 {worst['latency_ms']['p95']:g} ms)"
                + ("; the load generator was CPU-bound, so part of it is Locust's own delay" if suspect else "")
                + ("; the simulator was saturated, so part of it is the simulator's own delay"
                   if target.suspect(None) else "")
            ),
            evidence={"streams": {s["stream"]: s["latency_ms"] for s in slow}},
            recommendation=(
                "Event latency includes clock offset and the client's own processing: keep the receive loop "
                "light, add worker processes, and run close to the exchange."
            ),
        ))
    return findings
