"""Regression test on the cause of empty per-request rows in Locust's CSV (loadgen/ending/final_csv.py).

Locust 2.47 exports `--json-file` with `RequestStats.serialize_stats`, which resets every per-request
entry but not the total, and it does so before `quit` fires, where the suite rewrites the CSVs. If a
Locust upgrade changes that order or that reset, the first test fails: then the workaround
(`final_csv.keep_entries_on_export`) can go, or must change.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.runner.processes import child_env

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "support" / "locustfiles" / "quit_order.py"
pytestmark = pytest.mark.e2e


def run_bare_locust(tmp_path: Path, keep_entries: bool) -> tuple[dict, list[dict]]:
    report = tmp_path / "quit.json"
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "2", "-r", "2", "-t", "2s",
           "--csv", str(tmp_path / "bare"), "--json-file", str(tmp_path / "totals"), "--only-summary"]
    env = child_env({"QUIT_REPORT": str(report), "KEEP_ENTRIES": "1" if keep_entries else "0"})
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with (tmp_path / "bare_stats.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return json.loads(report.read_text()), rows


def test_locusts_json_export_still_resets_the_entries_before_quit(tmp_path):
    at_quit, _ = run_bare_locust(tmp_path, keep_entries=False)
    assert at_quit["total"] > 0
    assert at_quit["entries"] == 0, (
        "Locust no longer resets per-request stats in its --json-file export before `quit`: "
        "review loadgen/ending/final_csv.py's keep_entries_on_export"
    )


def test_the_suite_keeps_the_entries_and_the_csv_whole(tmp_path):
    at_quit, rows = run_bare_locust(tmp_path, keep_entries=True)
    assert at_quit["entries"] == at_quit["total"] > 0
    (aggregated,) = [r for r in rows if r["Name"] == "Aggregated"]
    (one,) = [r for r in rows if r["Name"] == "one"]
    assert one["Request Count"] == aggregated["Request Count"] == str(at_quit["total"])
    totals = json.loads((tmp_path / "totals.json").read_text())
    assert [e["num_requests"] for e in totals] == [at_quit["total"]]
