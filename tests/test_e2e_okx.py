"""End to end for OKX: real Locust (locustfiles/okx.py) against the real simulator, counts reconciled; its
per-endpoint limit answered 50011 with HTTP 429 and classified; the ramp's search finds a configured limit."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from exchanges.okx import ADAPTER
from loadgen.runner.summary import HTTP_METHODS
from tests.support.e2e import REPO_ROOT, run_locust, simulator
from tests.support.http import free_port, request, wait_for_http, wait_until

pytestmark = pytest.mark.e2e

# Connections are not what a run about something else tests: OKX's 3 a second per IP would refuse some subscribers.
CONNECTIONS = "[okx.ws]\nconnections_per_s = 100\n"


def failures(run_dir: Path) -> dict[tuple[str, str], int]:
    with (run_dir / "locust_failures.csv").open() as f:
        return {(row["Name"], row["Error"]): int(row["Occurrences"]) for row in csv.DictReader(f)}


def http_sent(totals: list[dict]) -> int:
    return sum(e["num_requests"] for e in totals if e["method"] in HTTP_METHODS)


def runner(tmp_path: Path, config: str, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    config_path = tmp_path / "okx.toml"
    config_path.write_text(config, encoding="utf-8")
    cmd = [sys.executable, "-m", "loadgen", "run", "--results-dir", str(tmp_path / "results"), "--exchange", "okx",
           "--sim-config", str(config_path), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    return proc, run_dir


def test_a_run_reconciles_verifies_every_book_and_meets_thresholds_scoped_to_okx(tmp_path: Path) -> None:
    proc, run_dir = runner(tmp_path, CONNECTIONS, "--duration", "8", "--users", "6", "--spawn-rate", "6",
                           "--threshold", "p95[okx]<2000", "--threshold", "ws_gaps[okx]==0",
                           "--threshold", "requests[okx order]>=5")
    totals = json.loads((run_dir / "totals.json").read_text())
    served = json.loads((run_dir / "simulator_stats.json").read_text())["exchanges"]["okx"]
    assert http_sent(totals) == served["requests_total"] > 20
    names = {(e["method"], e["name"]): e for e in totals}
    assert names[("POST", "order")]["num_requests"] == names[("POST", "cancel-order")]["num_requests"] >= 5
    book_messages = sum(e["num_requests"] for (_, name), e in names.items() if name.startswith("books:"))
    assert book_messages > 50  # each one applied to a local book, its checksum and prevSeqId checked ...
    assert failures(run_dir) == {}  # ... with no mismatch or gap (either would be a ws_gap failure)
    assert served["ws"]["subscriptions"] >= 6 and served["by_error"] == {}
    summary = (run_dir / "locust_summary.md").read_text()
    assert "| okx |" in summary
    assert "p95[okx]<2000" in proc.stdout + proc.stderr


def test_an_endpoint_over_its_limit_is_classified_rate_limited_and_reconciles(tmp_path: Path) -> None:
    config = CONNECTIONS + "[okx.endpoint_limits.ticker]\nlimit = 1\n"
    with simulator(tmp_path, config) as sim:
        run = run_locust(sim, tmp_path / "run", ["OkxRestPoller"], users=6, run_time_s=5, exchange="okx")
        served = sim.stats()["exchanges"]["okx"]
    assert run.returncode == 0, run.output
    assert http_sent(run.totals()) == served["requests_total"]
    limited = sum(n for (name, error), n in failures(run.run_dir).items()
                  if error == "rate_limited: 50011 HTTP 429" and name == "ticker")
    assert limited == served["by_error"]["50011"] == served["rate_limited"] == served["by_status"]["429"] > 0
    assert sum(e["num_failures"] for e in run.totals()) == limited
    metrics = json.loads((tmp_path / "run" / "locust_exchange.json").read_text())["exchanges"]["okx"]
    assert metrics["rate_limited"] == limited


def test_the_ramp_finds_a_configured_limit_in_okxs_units(tmp_path: Path) -> None:
    """The ticker's limit set to 30 requests per 2 s: the search reports it in requests/2s within 10%."""
    _, run_dir = runner(tmp_path, CONNECTIONS + "[okx.endpoint_limits.ticker]\nlimit = 30\n",
                        "--scenario", "ramp", "--duration", "40")
    rate_limit = json.loads((run_dir / "analysis" / "report.json").read_text())["exchanges"]["okx"]["rate_limit"]
    assert rate_limit["estimated_limit"]["unit"] == ADAPTER.limit_unit == "requests/2s"
    assert rate_limit["estimated_limit"]["value"] == pytest.approx(30.0, rel=0.10), rate_limit
    assert rate_limit["bans"] == []


def test_the_web_uis_exchange_tab_has_okxs_row(tmp_path: Path) -> None:
    """`python -m loadgen ui` with a run started from its form on OKX: the Exchange tab's row is OKX's, in its unit."""
    port = free_port()
    cmd = [sys.executable, "-m", "loadgen", "ui", "--exchange", "okx", "--web-port", str(port), "--results-dir",
           str(tmp_path)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/")
        form = b"shape_class=ScenarioShape&scenario=light&exchange=okx&user_classes=OkxRestPoller"
        status, _, body = request(f"{base}/swarm", "POST", {"Origin": base}, form)
        assert status == 200 and json.loads(body)["success"], body
        row = wait_until(lambda: next((r for r in json.loads(request(f"{base}/exchange/stats")[2])["exchanges"]
                                       if r.get("exchange") == "okx" and r.get("requests")), None), 20)
        assert (row["weight_limit"], row["weight_window_s"], row["rate_limited"]) == (20, 2, 0), row
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=60)
