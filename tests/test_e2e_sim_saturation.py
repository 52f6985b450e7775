"""End to end: the simulator's own load reaches the run's files, and a saturated simulator is named as the limit."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.runner.summary import HTTP_METHODS

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


def run(results: Path, *args: str) -> Path:
    cmd = [sys.executable, "-m", "loadgen", "run", "--results-dir", str(results), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


def history(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "simulator_history.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def check_files_agree(run_dir: Path) -> list[dict[str, str]]:
    """The history's requests add up to what the simulator served and to what Locust sent."""
    rows = history(run_dir)
    stats = json.loads((run_dir / "simulator_stats.json").read_text())
    served = sum(e["requests_total"] for e in stats["exchanges"].values())
    totals = json.loads((run_dir / "totals.json").read_text())
    sent = sum(e["num_requests"] for e in totals if e["method"] in HTTP_METHODS)
    assert sum(int(r["requests"]) for r in rows) == served == sent
    ws_sent = sum(e["ws"]["messages_sent"] for e in stats["exchanges"].values())
    assert sum(int(r["ws_messages"]) for r in rows) == ws_sent
    assert {"cpu_s", "uptime_s", "lag_interval_ms", "history_s"} <= set(stats["process"])
    starts = [float(r["timestamp"]) for r in rows]
    assert starts == sorted(starts) and all(float(r["span_s"]) > 0 for r in rows)
    return rows


def findings(run_dir: Path) -> dict[str, dict]:
    report = json.loads((run_dir / "analysis" / "report.json").read_text())
    return {f["kind"]: f for f in report["findings"]}


def test_a_simulator_burning_cpu_on_every_request_is_reported_saturated(tmp_path):
    config = tmp_path / "burn.toml"
    config.write_text("[binance.faults]\ncpu_burn_ms = 150\n")  # 10 users at ~1 request/s want 1.5 cores
    run_dir = run(tmp_path / "results", "--duration", "12", "--users", "10", "--spawn-rate", "10",
                  "--sim-config", str(config), "--", "BinanceRestPoller")
    rows = check_files_agree(run_dir)
    assert max(float(r["loop_lag_p50_ms"] or 0) for r in rows) >= 100  # the sampler queued behind 150 ms handlers
    found = findings(run_dir)
    saturated = found["simulator_saturated"]
    assert saturated["severity"] == "medium" and saturated["evidence"]["saturated_s"] >= 5
    assert "not the exchange's" in saturated["message"]
    assert "rate_limit_onset" not in found
    if "high_mean_latency" in found:
        assert "simulator was saturated" in found["high_mean_latency"]["message"]
    report = json.loads((run_dir / "analysis" / "report.json").read_text())
    assert report["simulator"]["saturated"] is True


def test_a_normal_short_run_keeps_the_simulators_load_and_finds_it_not_saturated(default_run):
    assert default_run.returncode == 0, default_run.output  # --duration 8 --users 6 --spawn-rate 6 (tests/conftest.py)
    run_dir = default_run.run_dir
    rows = check_files_agree(run_dir)
    assert len(rows) >= 8
    assert sum(int(r["ws_messages"]) for r in rows) > 0
    assert "simulator_saturated" not in findings(run_dir)
    report = json.loads((run_dir / "analysis" / "report.json").read_text())
    assert report["simulator"]["saturated"] is False and report["simulator"]["seconds"] >= 8
