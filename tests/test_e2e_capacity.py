"""End to end for the capacity scenario: the documented `make run`, a simulator whose venues saturate at capacities
nobody tuned for, and one that never saturates; the throughput ceiling and latency knee checked against what was
configured and what the simulator counted."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from exchanges import NAMES
from tests.support.e2e import REPO_ROOT
from tests.support.figures import check_run_figures

pytestmark = pytest.mark.e2e

EXAMPLE = REPO_ROOT / "simulator" / "examples" / "capacity.toml"
CAPACITY_LINE = re.compile(r"^(\[(\w+)\.capacity\]\nrequests_per_s = )[\d.]+", re.MULTILINE)


def run(command: list[str], timeout_s: int = 400) -> tuple[Path, str]:
    """Run `command` from the repository; the run directory it reports and its output."""
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=REPO_ROOT)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    found = re.search(r"^results: (.+)$", proc.stdout, re.MULTILINE)
    assert found, output[-4000:]
    return Path(found.group(1).strip()), output


def report(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "analysis" / "report.json").read_text())


def capacity_section(run_dir: Path) -> dict[str, Any]:
    return report(run_dir)["capacity"]


def test_the_documented_make_run_finds_the_capacity_and_a_knee_below_it():
    run_dir, output = run(["make", "run", "SCENARIO=capacity", f"SIM_CONFIG={EXAMPLE.relative_to(REPO_ROOT)}"])
    try:
        capacity = capacity_section(run_dir)
        ceiling, knee = capacity["throughput_ceiling"], capacity["latency_knee"]
        assert ceiling is not None and knee is not None, output[-3000:]
        assert ceiling["cause"] == "exchange" and ceiling["confirmed"], ceiling
        assert ceiling["requests_per_s"] == pytest.approx(400, rel=0.10), ceiling
        assert knee["load_requests_per_s"] < ceiling["requests_per_s"], (knee, ceiling)
        assert capacity["first_bottleneck"] == {"exchange": "binance", "cause": "exchange",
                                                "requests_per_s": ceiling["requests_per_s"]}
        # What users read: the printed summary, the findings, the charts; and the figures agree with the simulator's.
        assert "throughput_ceiling: binance: throughput stopped at" in output
        findings = {f["kind"]: f for f in report(run_dir)["findings"]}
        assert findings["throughput_ceiling"]["severity"] == "medium"
        assert findings.get("client_pacing_lag", {}).get("severity", "low") == "low"  # users waiting, not the CPU
        assert {"capacity.png", "latency_throughput.png"} <= {c["file"] for c in report(run_dir)["charts"]}
        check_run_figures(run_dir, output=output)
        served = json.loads((run_dir / "simulator_stats.json").read_text())["exchanges"]["binance"]
        assert served["capacity"]["rest"]["requests_per_s"] == 400
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def test_capacities_nobody_tuned_for_are_found_side_by_side_within_10_percent(tmp_path):
    rng = random.Random()
    chosen = {venue: round(rng.uniform(50, 2000)) for venue in NAMES}
    config = CAPACITY_LINE.sub(lambda m: f"{m.group(1)}{chosen[m.group(2)]}", EXAMPLE.read_text())
    parsed = tomllib.loads(config)
    assert {v: parsed[v]["capacity"]["requests_per_s"] for v in chosen} == chosen, config
    path = tmp_path / "untuned.toml"
    path.write_text(config)
    run_dir, output = run(["make", "run", "EXCHANGE=all", "SCENARIO=capacity", f"SIM_CONFIG={path}"])
    try:
        searched = {c["exchange"]: c for c in capacity_section(run_dir)["searched"]}
        assert set(searched) == set(chosen), (chosen, searched)
        for venue, capacity in chosen.items():
            ceiling = searched[venue]
            assert ceiling["cause"] == "exchange" and ceiling["confirmed"], (chosen, ceiling)
            assert ceiling["requests_per_s"] == pytest.approx(capacity, rel=0.10), (chosen, ceiling)
        lowest = min(searched.values(), key=lambda c: c["requests_per_s"])
        assert capacity_section(run_dir)["throughput_ceiling"]["exchange"] == lowest["exchange"]
        check_run_figures(run_dir, exchanges=list(chosen), output=output)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def test_without_a_capacity_no_ceiling_no_knee_and_no_false_bottleneck(tmp_path):
    lifted = EXAMPLE.read_text().split("# --- Coinbase")[0]
    config = re.sub(r"\[binance\.capacity\][^\[]*", "", lifted)
    assert "capacity" not in tomllib.loads(config)["binance"] and "request_weight" in config
    (tmp_path / "lifted.toml").write_text(config)
    run_dir, output = run([sys.executable, "-m", "loadgen", "run", "--scenario", "capacity", "--sim-config",
                           str(tmp_path / "lifted.toml"), "--results-dir", str(tmp_path / "results"), "--",
                           "--capacity-start-rps", "300", "--capacity-max-rps", "2500"])
    capacity = capacity_section(run_dir)
    assert capacity["throughput_ceiling"] is None and capacity["latency_knee"] is None, capacity
    assert capacity["first_bottleneck"] is None and capacity["searched"] == []
    outcome = json.loads((run_dir / "locust_scenario.json").read_text())["exchanges"]["binance"]
    assert "without saturating" in outcome["stop_reason"] and outcome["highest_clean_rps"] == 2500
    kinds = {f["kind"] for f in report(run_dir)["findings"]}
    assert not kinds & {"throughput_ceiling", "latency_knee", "client_pacing_lag", "high_mean_latency",
                        "server_errors", "timeouts", "simulator_saturated", "client_cpu_saturated"}, kinds
    check_run_figures(run_dir, output=output)


def test_a_rate_limit_below_the_capacity_is_reported_as_the_first_bottleneck(tmp_path):
    config = ("[coinbase.capacity]\nrequests_per_s = 1000\n"
              "[coinbase.rate_limits]\npublic = { rate_per_s = 60, burst = 60 }\n")
    (tmp_path / "both.toml").write_text(config)
    run_dir, output = run([sys.executable, "-m", "loadgen", "run", "--exchange", "coinbase", "--scenario", "capacity",
                           "--sim-config", str(tmp_path / "both.toml"), "--results-dir", str(tmp_path / "results")])
    capacity = capacity_section(run_dir)
    ceiling = capacity["throughput_ceiling"]
    assert ceiling is not None and ceiling["cause"] == "rate_limit", capacity
    assert capacity["first_bottleneck"]["cause"] == "rate_limit"
    # The limit answered above its rate; below, a bucket's burst may hide it for a plateau (the ramp measures it).
    assert ceiling["offered_rps"] > 60 and ceiling["offered_rps"] > ceiling["requests_per_s"] > 0
    outcome = json.loads((run_dir / "locust_scenario.json").read_text())["exchanges"]["coinbase"]
    assert "rate limit" in outcome["stop_reason"] and outcome["capacity_rps"] is None
    served = json.loads((run_dir / "simulator_stats.json").read_text())["exchanges"]["coinbase"]
    assert served["capacity"]["rest"]["refused"] == 0 and served["rate_limited"] > 0
    assert "the rate limit is the first bottleneck" in output
    check_run_figures(run_dir, output=output)
