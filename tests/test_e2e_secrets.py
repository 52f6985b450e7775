"""Keys never leak: every user kind of every exchange runs with canary key values, and neither the files a
run writes, nor what it prints, nor the process list ever contain them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exchanges import NAMES
from tests.support.e2e import SIMULATOR_KEY_VARS, canary

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


def scan(paths: list[Path], texts: list[str], needles: dict[str, str]) -> list[str]:
    hits = []
    for path in paths:
        data = path.read_bytes()
        hits += [f"{var} in {path}" for var, value in needles.items() if value.encode() in data]
    for i, text in enumerate(texts):
        hits += [f"{var} in output #{i}" for var, value in needles.items() if value in text]
    return hits


def test_no_key_appears_in_results_output_or_process_list(all_exchanges_run, canary_keys):
    """Every exchange's users side by side (two users of each kind), each exchange's simulator keys set to canaries
    (tests/conftest.py)."""
    run = all_exchanges_run
    assert run.returncode == 0, run.output
    assert set(canary_keys) == {var for variables in SIMULATOR_KEY_VARS.values() for var in variables}
    assert set(SIMULATOR_KEY_VARS) == set(NAMES)  # every exchange's keys are canaries
    files = [p for p in run.run_dir.parent.rglob("*") if p.is_file()]
    assert any(p.name == "locust_failures.csv" for p in files)
    totals = json.loads((run.run_dir / "totals.json").read_text())
    for exchange in NAMES:  # every exchange's signed users did run (Kraken: AddOrder)
        assert any(e["name"].startswith(f"{exchange}:") and "order" in e["name"].lower() for e in totals), exchange
    assert run.process_list  # what `ps` showed while the run was on
    assert scan(files, [run.stdout, run.stderr, *run.process_list], canary_keys) == []


def test_a_missing_key_is_named_never_shown(tmp_path):
    """Against a named host the users read BINANCE_API_KEY/SECRET; with the secret missing, the run
    stops with one line naming the missing variable, and the key that was given is not printed."""
    key = canary("KEY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BINANCE_", "SIM_BINANCE_"))}
    env |= {"BINANCE_API_KEY": key, "HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "locustfiles" / "binance.py"), "--headless",
           "-u", "1", "-t", "3s", "--host", "http://127.0.0.1:9/binance", "BinanceBurstTrader"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "BINANCE_API_SECRET" in output
    assert key not in output
    assert "Traceback" not in output
