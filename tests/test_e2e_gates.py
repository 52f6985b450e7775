"""End to end: CI gates through the runner (local and distributed) against the real simulator."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e

RATE_LIMITED_SIM = """
[binance.rate_limits]
request_weight = { limit = 30, interval_s = 10 }
"""


def runner(*args: str, results: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "loadgen", "run", "--results-dir", str(results), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)


def only_run_dir(results: Path) -> Path:
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


def junit_cases(run_dir: Path) -> dict[str, ET.Element]:
    return {c.get("name"): c for c in ET.parse(run_dir / "locust_junit.xml").getroot().iter("testcase")}


def test_thresholds_that_hold_pass_a_run_with_rate_limited_requests(tmp_path):
    sim_config = tmp_path / "sim.toml"
    sim_config.write_text(RATE_LIMITED_SIM)
    gates = tmp_path / "gates.toml"
    gates.write_text('thresholds = ["p99[binance depth]<2000", "ws_gaps==0"]\n')
    proc = runner("--duration", "6", "--users", "6", "--sim-config", str(sim_config), "--thresholds-file", str(gates),
                  "--threshold", "p95<2000", "--threshold", "ws_event_latency_p95<2000", "--threshold", "rps>0.5",
                  "--", "--mode", "probe", results=tmp_path / "results")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    run_dir = only_run_dir(tmp_path / "results")
    totals = json.loads((run_dir / "totals.json").read_text())
    assert sum(e["num_failures"] for e in totals) > 0  # 429s: failed requests alone do not fail the run
    cases = junit_cases(run_dir)
    assert set(cases) == {"p99[binance depth]<2000", "ws_gaps==0", "p95<2000", "ws_event_latency_p95<2000", "rps>0.5"}
    assert all(c.find("failure") is None for c in cases.values())
    summary = (run_dir / "locust_summary.md").read_text()
    assert "✅ all 5 thresholds passed" in summary and "| binance |" in summary
    assert "rps>0.5" in json.loads((run_dir / "run.json").read_text())["thresholds"]
    assert "threshold rps>0.5 passed: measured" in output


def test_a_failed_threshold_exits_3_with_its_measured_value(tmp_path):
    proc = runner("--duration", "4", "--users", "3", "--threshold", "p50<0.01", "--threshold", "ws_gaps==0",
                  results=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "thresholds failed (1; see" in proc.stderr
    assert "  p50<0.01: measured " in proc.stderr
    cases = junit_cases(only_run_dir(tmp_path))
    assert cases["p50<0.01"].find("failure") is not None and cases["ws_gaps==0"].find("failure") is None


def test_unusable_thresholds_exit_2_before_any_load(tmp_path):
    proc = runner("--duration", "30", "--threshold", "p95<fast", results=tmp_path)
    assert proc.returncode == 2 and "'fast' is not a number" in proc.stderr
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # nothing was started
    started = time.monotonic()
    proc = runner("--duration", "30", "--threshold", "p95[dpeth]<300", results=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "'dpeth' is not an exchange or request of this run" in proc.stdout
    assert time.monotonic() - started < 25  # refused at Locust's start, not after the 30 s run
    totals = only_run_dir(tmp_path) / "totals.json"
    assert not totals.exists() or json.loads(totals.read_text()) == []


def test_threshold_abort_stops_the_run_early(tmp_path):
    gates = tmp_path / "gates.toml"
    gates.write_text('thresholds = ["p50<0.01"]\nabort_on_fail = true\nabort_delay_s = 2\n')
    started = time.monotonic()
    proc = runner("--duration", "60", "--users", "3", "--thresholds-file", str(gates), results=tmp_path / "results")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert time.monotonic() - started < 40
    assert "stopping the run: a threshold failed (--threshold-abort)" in proc.stdout


def test_distributed_run_checks_thresholds_on_the_master_with_merged_data(tmp_path):
    proc = runner("--duration", "6", "--users", "6", "--workers", "2", "--threshold", "p95<2000",
                  "--threshold", "requests>20", "--threshold", "ws_gaps[binance]==0", "--threshold", "p99<0.01",
                  results=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    run_dir = only_run_dir(tmp_path)
    cases = junit_cases(run_dir)
    assert [name for name, c in cases.items() if c.find("failure") is not None] == ["p99<0.01"]
    totals = json.loads((run_dir / "totals.json").read_text())
    http = sum(e["num_requests"] for e in totals if e["method"] != "WS" and e["method"] in ("GET", "POST", "DELETE"))
    measured = cases["requests>20"].find("system-out").text
    assert f"measured: {http}" in measured  # both workers' requests, as the master merged them
