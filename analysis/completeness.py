"""Whether the run is whole: cut short (interrupted or killed) or short of workers it lost.

Sources: run.json (written by the runner at start and again at the end: a killed run has no
`finished_at`, an interrupted one says `interrupted`), whether Locust's final totals exist, and
`PREFIX_workers.json` from the master of a distributed run (which workers were lost, when, and what
share of users and requests went with them, and whose final report never came).
"""

from __future__ import annotations

from typing import Any

from analysis.load import RunData
from analysis.model import Finding, Severity


def analyse_completeness(data: RunData) -> tuple[dict[str, Any], list[Finding]]:
    findings = []
    cut = cut_short(data)
    if cut is not None:
        findings.append(Finding(
            kind="run_cut_short",
            severity=Severity.MEDIUM,
            message=(
                f"the run was {cut['how']} after {cut['ran_s']:g} s"
                + (f" of the planned {cut['planned_s']:g} s" if cut["planned_s"] else "")
                + ": these results cover only that part, up to the last write of Locust's files"
            ),
            evidence=cut,
            recommendation="Rerun to the end before comparing its totals, ceilings or percentiles with other runs.",
        ))
    lost = [w for w in (data.workers or {}).get("workers", []) if w.get("lost_at_s") is not None]
    for worker in lost:
        back = worker.get("back_at_s")
        findings.append(Finding(
            kind="worker_lost",
            severity=Severity.MEDIUM,
            message=(
                f"worker {worker['id']} was lost at {worker['lost_at_s']:g} s with {worker['users_at_loss']} users "
                f"({worker['user_share_at_loss']:.0%} of users, {worker['request_share_at_loss']:.0%} of the "
                "requests until then)" + (f"; it came back at {back:g} s" if back is not None else "")
            ),
            evidence=worker,
            recommendation=(
                "Its users were moved to the other workers; what it sent after its last report is missing from "
                "the totals. Check that worker's machine (CPU, memory, network) before trusting that part of the run."
            ),
        ))
    workers = (data.workers or {}).get("workers", [])
    reported = sum(w.get("requests", 0) for w in workers) or 1
    unreported = [w for w in workers if w.get("final_report") is False and w.get("lost_at_s") is None]
    for worker in unreported:
        share = worker.get("requests", 0) / reported
        findings.append(Finding(
            kind="worker_report_missing",
            severity=Severity.MEDIUM,
            message=(
                f"worker {worker['id']}'s final report never came: what it sent after its last report is missing "
                f"from the totals (it ran up to {worker.get('users', 0)} users and reported {share:.0%} of the "
                "requests)"
            ),
            evidence={**worker, "request_share": round(share, 4)},
            recommendation=(
                "The master waited --stop-timeout plus 5 s for it. Check that worker's log and load: a worker too "
                "busy to stop its users in time also measures late."
            ),
        ))
    summary = {"cut_short": cut, "workers_lost": len(lost), "final_reports_missing": len(unreported)}
    return summary, findings


def cut_short(data: RunData) -> dict[str, Any] | None:
    manifest = data.manifest
    if not manifest:
        return None  # not started by the runner: nothing says what was planned
    if manifest.get("interrupted"):
        how = "interrupted"
    elif "finished_at" not in manifest:
        how = "killed"  # the runner never got to record the end
    else:
        return None
    return {"how": how, "ran_s": round(data.measured_s, 1), "planned_s": manifest.get("duration_s")}
