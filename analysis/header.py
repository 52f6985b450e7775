"""The report's header: when the run happened, against what, with which settings, and the overall verdict (its
thresholds' outcome as Locust recorded it in locust_junit.xml, and the worst finding)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from analysis.model import Finding

JUNIT_FILE = "locust_junit.xml"  # written by the suite's threshold gates (loadgen/gates) next to Locust's CSV
SETTINGS = ("exchanges", "scenario", "users", "spawn_rate", "duration_s", "workers", "sim_config")


def run_header(run_dir: Path, manifest: dict[str, Any], run: dict[str, Any], findings: list[Finding]) -> dict[str, Any]:
    """report.json's `header`: `run` is the report's run section (measured duration), `findings` most severe first."""
    known = {**manifest, "exchanges": manifest.get("exchanges") or run["exchanges"]}
    settings = {key: known[key] for key in SETTINGS if known.get(key) not in (None, [], "")}
    target = manifest.get("target")
    worst = findings[0] if findings else None
    gates = gate_outcome(run_dir, manifest.get("thresholds") or [])
    return {
        "started_at": manifest.get("started_at"),
        "finished_at": manifest.get("finished_at"),
        "duration_s": run["duration_s"],
        "target": {"kind": target, "host": public_url(manifest.get("host")), "simulator": target == "simulator"}
        if target else None,
        "settings": settings,
        "thresholds": gates,
        "worst_finding": None if worst is None else
        {"severity": worst.severity.value, "kind": worst.kind, "exchange": worst.exchange},
        "verdict": verdict(gates, worst),
    }


def public_url(url: str | None) -> str | None:
    """`url` without what may be secret: user and password, query and fragment."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def gate_outcome(run_dir: Path, thresholds: list[str]) -> dict[str, Any] | None:
    """The run's thresholds and how they came out: None when the run had none."""
    if not thresholds:
        return None
    path = run_dir / JUNIT_FILE
    outcome: dict[str, Any] = {"set": thresholds, "checked": None, "failed": None, "unchecked": None, "messages": []}
    try:
        cases = list(ET.parse(path).iter("testcase"))
    except (OSError, ET.ParseError):
        return outcome  # no readable outcome: the verdict says so
    problems = [(p.tag, p.get("message", "")) for case in cases for p in (*case.iter("failure"), *case.iter("error"))]
    outcome |= {
        "checked": len(cases),
        "failed": sum(1 for tag, _ in problems if tag == "failure"),
        "unchecked": sum(1 for tag, _ in problems if tag == "error"),
        "messages": [message for _, message in problems],
    }
    return outcome


def verdict(gates: dict[str, Any] | None, worst: Finding | None) -> dict[str, Any]:
    """`status`: pass / fail (thresholds), unknown (thresholds without a readable outcome), or none (no thresholds:
    the worst finding stands in); `text`: one line for people."""
    finding = "no findings" if worst is None else (
        f"worst finding: {worst.severity.value} {worst.kind}" + (f" ({worst.exchange})" if worst.exchange else ""))
    if gates is None:
        return {"status": "none", "text": f"no thresholds; {finding}"}
    if gates["checked"] is None:
        return {"status": "unknown", "text": f"{len(gates['set'])} threshold setting(s), but no readable "
                                             f"{JUNIT_FILE}: outcome unknown; {finding}"}
    total, failed, unchecked = gates["checked"], gates["failed"], gates["unchecked"]
    if failed or unchecked:
        parts = [f"{failed} of {total} thresholds failed" if failed else "",
                 f"{unchecked} of {total} could not be checked" if unchecked else ""]
        return {"status": "fail", "text": "FAIL: " + ", ".join(p for p in parts if p) + f"; {finding}"}
    return {"status": "pass", "text": f"PASS: all {total} thresholds passed; {finding}"}
