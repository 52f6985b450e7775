"""End to end for Coinbase: real Locust (locustfiles/coinbase.py) against the real simulator, counts reconciled."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.runner.summary import HTTP_METHODS
from tests.support.e2e import REPO_ROOT, run_locust, simulator

pytestmark = pytest.mark.e2e


def failures(run_dir: Path) -> dict[tuple[str, str], int]:
    with (run_dir / "locust_failures.csv").open() as f:
        return {(row["Name"], row["Error"]): int(row["Occurrences"]) for row in csv.DictReader(f)}


def http_sent(totals: list[dict]) -> int:
    return sum(e["num_requests"] for e in totals if e["method"] in HTTP_METHODS)


def test_make_run_coinbase_reconciles_with_the_simulator(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "loadgen", "run", "--results-dir", str(tmp_path / "results"),
           "--exchange", "coinbase", "--duration", "8", "--users", "6", "--spawn-rate", "6"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    totals = json.loads((run_dir / "totals.json").read_text())
    served = json.loads((run_dir / "simulator_stats.json").read_text())["exchanges"]["coinbase"]
    assert http_sent(totals) == served["requests_total"] > 20
    assert f"simulator (coinbase): {served['requests_total']} HTTP requests served" in proc.stdout
    names = {(e["method"], e["name"]): e for e in totals}
    assert names[("POST", "orders")]["num_requests"] >= 5  # signed, post-only, cancelled again
    assert names[("DELETE", "order DELETE")]["num_requests"] >= 5
    feed = sum(e["num_requests"] for (method, name), e in names.items() if method == "WS" and ":" in name)
    assert feed > 100  # every message checked for order and completeness ...
    assert failures(run_dir) == {}  # ... without a gap, and no other failure
    assert served["ws"]["subscriptions"] >= 8 and served["ws"]["connections_total"] >= 1


def test_a_small_public_bucket_gives_classified_429s_that_reconcile(tmp_path: Path) -> None:
    config = "[coinbase.rate_limits]\npublic = { rate_per_s = 2, burst = 4 }\n"
    with simulator(tmp_path, config) as sim:
        run = run_locust(sim, tmp_path / "run", ["CoinbaseRestPoller"], users=6, run_time_s=6, exchange="coinbase")
        served = sim.stats()["exchanges"]["coinbase"]
    assert run.returncode == 0, run.output
    assert http_sent(run.totals()) == served["requests_total"]
    limited = sum(n for (_, error), n in failures(run.run_dir).items()
                  if error == "rate_limited: HTTP 429 Public rate limit exceeded")
    assert limited == served["by_status"]["429"] == served["rate_limited"] > 0
    assert sum(e["num_failures"] for e in run.totals()) == limited
    metrics = json.loads((tmp_path / "run" / "locust_exchange.json").read_text())["exchanges"]["coinbase"]
    assert metrics["rate_limited"] == limited


def test_polite_users_stay_under_the_bucket(tmp_path: Path) -> None:
    config = "[coinbase.rate_limits]\npublic = { rate_per_s = 5, burst = 5 }\n"
    with simulator(tmp_path, config) as sim:
        run = run_locust(sim, tmp_path / "run", ["CoinbaseRestPoller"], users=8, run_time_s=6, exchange="coinbase",
                         extra=["--mode", "polite", "--weight-limit", "5", "--weight-budget", "0.8"])
        served = sim.stats()["exchanges"]["coinbase"]
    assert run.returncode == 0, run.output
    assert http_sent(run.totals()) == served["requests_total"] > 10
    assert served["rate_limited"] == 0 and failures(run.run_dir) == {}


def test_injected_faults_are_failures_on_both_sides(tmp_path: Path) -> None:
    config = ("[coinbase.faults]\nerror_rate = 0.2\n"
              "[coinbase.rate_limits]\npublic = { rate_per_s = 1000, burst = 1000 }\n")
    with simulator(tmp_path, config) as sim:
        run = run_locust(sim, tmp_path / "run", ["CoinbaseRestPoller"], users=4, run_time_s=5, exchange="coinbase")
        served = sim.stats()["exchanges"]["coinbase"]
    assert run.returncode == 0, run.output
    assert http_sent(run.totals()) == served["requests_total"]
    server_errors = sum(n for (_, error), n in failures(run.run_dir).items() if error.startswith("server_error:"))
    assert server_errors == served["faults"]["http_5xx"] > 0
