"""End to end: one run, one set of figures, on every kind of run.

Each kind of run leaves Locust's CSVs, totals.json, the suite's files, the analysis report and the
simulator's counts; `tests.support.figures.check_run_figures` asserts they all agree exactly. The runs of other
tests are checked the same way, so that no kind of run is made twice: the default run
(tests/test_e2e_runner.py), all exchanges side by side (there, and with limits, bans and drops in
tests/test_e2e_gates.py), two workers (tests/test_e2e_distributed.py), a shaped scenario
(tests/test_e2e_scenarios.py) and a run stopped by Ctrl-C (tests/test_e2e_stopping.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.e2e import run_locust, simulator
from tests.support.figures import check_run_figures

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


def run(results: Path, *args: str, timeout: float = 180) -> tuple[Path, str]:
    cmd = [sys.executable, "-m", "loadgen", "run", "--results-dir", str(results), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir, out


def test_ten_workers_count_every_request_the_simulator_served(tmp_path):
    run_dir, out = run(tmp_path, "--workers", "10", "--scenario", "medium", "--duration", "14", timeout=240)
    figures = check_run_figures(run_dir, output=out)
    workers = json.loads((run_dir / "locust_workers.json").read_text())
    assert workers["workers_seen"] == 10 and all(w["final_report"] for w in workers["workers"])
    assert figures.requests > 500  # medium holds 50 req/s


def test_a_plain_locust_run_with_csv_and_json_file_has_whole_csvs(tmp_path):
    with simulator(tmp_path) as sim:
        result = run_locust(sim, tmp_path / "run", [], users=6, run_time_s=8)
        (tmp_path / "run" / "simulator_stats.json").write_text(json.dumps(sim.stats()))
    assert result.returncode == 0, result.output
    figures = check_run_figures(tmp_path / "run", exchanges=["binance"])
    assert figures.requests > 20
