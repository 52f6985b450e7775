"""End to end for Kraken: real Locust (locustfiles/kraken.py) against the real simulator, counts reconciled.

Kraken answers errors with HTTP 200, so the simulator's `by_status` cannot tell them apart: its `by_error`
(error texts) is what Locust's classified failures are reconciled with.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.runner.summary import HTTP_METHODS
from tests.support.e2e import REPO_ROOT, run_locust, simulator

pytestmark = pytest.mark.e2e

# Public calls unthrottled and a nonce window for the demo key: a run about something else stays clean.
UNTHROTTLED = "[kraken]\nnonce_window = 10000000\n[kraken.rate_limits.public]\nmax_counter = 100000.0\n"


def failures(run_dir: Path) -> dict[tuple[str, str], int]:
    with (run_dir / "locust_failures.csv").open() as f:
        return {(row["Name"], row["Error"]): int(row["Occurrences"]) for row in csv.DictReader(f)}


def http_sent(totals: list[dict]) -> int:
    return sum(e["num_requests"] for e in totals if e["method"] in HTTP_METHODS)


def test_make_run_kraken_reconciles_and_verifies_every_book_checksum(tmp_path: Path) -> None:
    config = tmp_path / "kraken.toml"
    config.write_text(UNTHROTTLED, encoding="utf-8")
    cmd = [sys.executable, "-m", "loadgen", "run", "--results-dir", str(tmp_path / "results"), "--exchange", "kraken",
           "--duration", "8", "--users", "6", "--spawn-rate", "6", "--sim-config", str(config)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    totals = json.loads((run_dir / "totals.json").read_text())
    served = json.loads((run_dir / "simulator_stats.json").read_text())["exchanges"]["kraken"]
    assert http_sent(totals) == served["requests_total"] > 20
    names = {(e["method"], e["name"]): e for e in totals}
    assert names[("POST", "AddOrder")]["num_requests"] >= 5  # validate=true orders, signed
    book_messages = sum(e["num_requests"] for (method, name), e in names.items() if name.startswith("book:"))
    assert book_messages > 50  # each one applied to a local book and its checksum verified ...
    assert failures(run_dir) == {}  # ... with no mismatch (it would be a ws_gap failure), and no other failure
    assert served["ws"]["subscriptions"] >= 6 and served["by_error"] == {}


def test_rate_limit_errors_with_http_200_are_classified_failures_and_reconcile(tmp_path: Path) -> None:
    config = "[kraken.rate_limits.public]\nmax_counter = 3.0\ndecay_per_s = 0.5\n"
    with simulator(tmp_path, config) as sim:
        run = run_locust(sim, tmp_path / "run", ["KrakenRestPoller"], users=4, run_time_s=6, exchange="kraken")
        served = sim.stats()["exchanges"]["kraken"]
    assert run.returncode == 0, run.output
    assert http_sent(run.totals()) == served["requests_total"]
    assert set(served["by_status"]) == {"200"}  # every answer, errors included, is an HTTP 200
    limited = sum(n for (_, error), n in failures(run.run_dir).items()
                  if error == "rate_limited: EGeneral:Too many requests HTTP 200")
    assert limited == served["by_error"]["EGeneral:Too many requests"] == served["rate_limited"] > 0
    assert sum(e["num_failures"] for e in run.totals()) == limited
    metrics = json.loads((tmp_path / "run" / "locust_exchange.json").read_text())["exchanges"]["kraken"]
    assert metrics["rate_limited"] == limited


def test_live_orders_meet_the_trading_counter(tmp_path: Path) -> None:
    with simulator(tmp_path, UNTHROTTLED) as sim:
        run = run_locust(sim, tmp_path / "run", ["KrakenBurstTrader"], users=1, run_time_s=6, exchange="kraken",
                         extra=["--order-endpoint", "live", "--order-burst", "5", "--order-pause", "0.5"])
        served = sim.stats()["exchanges"]["kraken"]
    assert run.returncode == 0, run.output
    assert http_sent(run.totals()) == served["requests_total"]
    placed, cancelled = run.entry("POST", "AddOrder"), run.entry("POST", "CancelOrder")
    assert placed is not None and cancelled is not None and cancelled["num_requests"] > 5
    # Each order costs 1 to place and 8 to cancel within 5 s: the Starter tier's 60 per pair soon runs out.
    limited = sum(n for (_, error), n in failures(run.run_dir).items()
                  if error == "rate_limited: EOrder:Rate limit exceeded HTTP 200")
    assert limited == served["by_error"]["EOrder:Rate limit exceeded"] > 0


def test_a_default_kraken_run_is_reported_in_krakens_own_terms(tmp_path: Path) -> None:
    """Kraken signals rate limits with errors in HTTP 200 bodies and sends no Retry-After: no finding or column
    may say otherwise, and its published limit is shown in its unit."""
    cmd = [sys.executable, "-m", "loadgen", "run", "--results-dir", str(tmp_path / "results"), "--exchange", "kraken",
           "--duration", "12"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    report = json.loads((run_dir / "analysis" / "report.json").read_text())
    kinds = {f["kind"] for f in report["findings"]}
    assert "rate_limit_onset" in kinds  # the default pace goes over Kraken's public limit ...
    assert "retry_after_ignored" not in kinds and "no_backoff_after_rate_limit" in kinds  # ... and keeps it up
    limit = report["exchanges"]["kraken"]["rate_limit"]
    assert limit["published_limit"] == {"value": 1.0, "unit": "calls/s"}
    assert limit["signals"]["retry_after"] is False
    markdown = (run_dir / "analysis" / "report.md").read_text()
    assert "| 1 calls/s |" in markdown and "Retry-After honoured" not in markdown
    assert "- kraken: rate limited = EAPI:Rate limit exceeded" in markdown
    assert "Retry-After was not honoured" not in markdown + proc.stdout
    summary = (run_dir / "locust_summary.md").read_text()
    assert "| Exchange | Requests | Rate limited | Banned |" in summary and "(429)" not in summary
    assert "kraken: EAPI:Rate limit exceeded" in summary
    with (run_dir / "locust_failures.csv").open() as f:
        limited = sum(int(r["Occurrences"]) for r in csv.DictReader(f) if r["Error"].startswith("rate_limited:"))
    assert limited > 0 and re.search(rf"\| kraken \| \d+ \| {limited} \| 0 \|", summary), summary
