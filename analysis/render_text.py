"""The short summary printed after a run: headline numbers, findings by severity, where the report is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis.document import fmt, run_line

MAX_LISTED = 8


def summary_text(report: dict[str, Any], written: list[Path]) -> str:
    run = report["run"]
    lines = [f"analysis of {run['run_id']}: {run_line(run)}"]
    for exchange, entry in report["exchanges"].items():
        limit = entry["rate_limit"]
        onset, estimate, published = limit["onset"], limit["estimated_limit"], limit["published_limit"]
        if onset is None:
            safe = fmt(limit["max_safe_requests_per_s"], " requests/s")
            lines.append(f"  {exchange}: no rate limiting; up to {safe} sustained over {limit['max_safe_window_s']} s")
        else:
            lines.append(
                f"  {exchange}: rate-limited from {fmt(onset['time_s'], ' s')} at {onset['users']} users, "
                f"{fmt(onset['requests_per_s'], ' requests/s')}; max safe "
                f"{fmt(limit['max_safe_requests_per_s'], ' requests/s')}"
                + (f"; effective limit ≈ {fmt(estimate['value'])} {estimate['unit']}" if estimate else "")
                + (f" (published {fmt(published['value'])} {published['unit']})" if published else "")
            )
    findings = report["findings"]
    counts = {s: sum(1 for f in findings if f["severity"] == s) for s in ("high", "medium", "low")}
    lines.append("findings: " + (", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none"))
    for finding in findings[:MAX_LISTED]:
        lines.append(f"  [{finding['severity']}] {finding['kind']}: {finding['message']}")
    if len(findings) > MAX_LISTED:
        lines.append(f"  ... and {len(findings) - MAX_LISTED} more in the report")
    if written:
        lines.append("report: " + ", ".join(str(p) for p in written))
    return "\n".join(lines)
