"""Keys never leak: every user kind of every exchange runs with canary key values, and neither the files a
run writes, nor what it prints, nor the process list ever contain them."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from exchanges import NAMES

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


def canary(label: str, b64: bool = False) -> str:
    raw = f"CANARY{label}{secrets.token_hex(12)}"
    return base64.b64encode(raw.encode() * 2).decode() if b64 else raw


# The simulator's demo-account variables per exchange (the users sign with them on the simulator).
SIMULATOR_KEY_VARS: dict[str, dict[str, bool]] = {  # variable -> value is base64
    "binance": {"SIM_BINANCE_API_KEY": False, "SIM_BINANCE_API_SECRET": False},
    "coinbase": {"SIM_COINBASE_API_KEY": False, "SIM_COINBASE_API_SECRET": True, "SIM_COINBASE_API_PASSPHRASE": False},
    "kraken": {"SIM_KRAKEN_API_KEY": False, "SIM_KRAKEN_API_SECRET": True},
}


def scan(paths: list[Path], texts: list[str], needles: dict[str, str]) -> list[str]:
    hits = []
    for path in paths:
        data = path.read_bytes()
        hits += [f"{var} in {path}" for var, value in needles.items() if value.encode() in data]
    for i, text in enumerate(texts):
        hits += [f"{var} in output #{i}" for var, value in needles.items() if value in text]
    return hits


def test_no_key_appears_in_results_output_or_process_list(tmp_path):
    """Every exchange's users side by side (`--exchange all`, two users of each kind) in one run, each exchange's
    simulator keys set to canaries."""
    needles = {var: canary(var.split("_")[-1], b64)
               for variables in SIMULATOR_KEY_VARS.values() for var, b64 in variables.items()}
    env = {**os.environ, **needles, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "loadgen", "run", "--exchange", "all", "--results-dir", str(tmp_path / "r"),
           "--duration", "8", "--users", "18", "--spawn-rate", "18"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen_args: list[str] = []
    while proc.poll() is None:  # what `ps` shows while the run is on
        for p in psutil.process_iter(["cmdline"]):
            seen_args.append(" ".join(p.info["cmdline"] or []))
        time.sleep(1)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    files = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    assert any(p.name == "locust_failures.csv" for p in files)
    run_dir = next(p for p in (tmp_path / "r").iterdir() if p.is_dir())
    totals = json.loads((run_dir / "totals.json").read_text())
    for exchange in NAMES:  # every exchange's signed users did run (Kraken: AddOrder)
        assert any(e["name"].startswith(f"{exchange}:") and "order" in e["name"].lower() for e in totals), exchange
    assert scan(files, [out, err, *seen_args], needles) == []


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
