"""End to end for Bybit: real Locust (locustfiles/bybit.py) against the real simulator, counts reconciled.

Bybit answers its per-UID limit with retCode 10006 in an HTTP 200 body and its IP limit with HTTP 403 and a ban:
Locust's classified failures are reconciled with the simulator's `by_error` (retCodes, and `403`)."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.runner.summary import HTTP_METHODS
from tests.support.e2e import REPO_ROOT, run_locust, simulator
from tests.support.figures import check_run_figures
from tests.support.http import free_port, request, wait_for_http, wait_until

pytestmark = pytest.mark.e2e


def failures(run_dir: Path) -> dict[tuple[str, str], int]:
    with (run_dir / "locust_failures.csv").open() as f:
        return {(row["Name"], row["Error"]): int(row["Occurrences"]) for row in csv.DictReader(f)}


def http_sent(totals: list[dict]) -> int:
    return sum(e["num_requests"] for e in totals if e["method"] in HTTP_METHODS)


def run(tmp_path: Path, *args: str) -> tuple[Path, str]:
    cmd = [sys.executable, "-m", "loadgen", "run", "--results-dir", str(tmp_path / "results"), "--exchange", "bybit",
           *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=150, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    return run_dir, proc.stdout + proc.stderr


def test_a_bybit_run_reconciles_checks_every_book_delta_and_meets_scoped_thresholds(tmp_path: Path) -> None:
    run_dir, out = run(tmp_path, "--duration", "8", "--users", "6", "--spawn-rate", "6",
                       "--threshold", "p95[bybit]<5000", "--threshold", "ws_gaps[bybit]==0",
                       "--threshold", "banned[bybit]==0", "--threshold", "p95[bybit order/create]<5000")
    figures = check_run_figures(run_dir, output=out)
    totals = json.loads((run_dir / "totals.json").read_text())
    served = json.loads((run_dir / "simulator_stats.json").read_text())["exchanges"]["bybit"]
    assert http_sent(totals) == served["requests_total"] == figures.requests > 20
    names = {(e["method"], e["name"]): e for e in totals}
    assert names[("POST", "order/create")]["num_requests"] >= 5  # signed, placed and cancelled
    assert names[("POST", "order/cancel")]["num_requests"] == names[("POST", "order/create")]["num_requests"]
    book_messages = sum(e["num_requests"] for (_, name), e in names.items() if name.startswith("orderbook.50."))
    assert book_messages > 50  # each delta's update id checked against the one before it ...
    assert failures(run_dir) == {}  # ... with no gap (it would be a ws_gap failure), and no other failure
    assert served["ws"]["subscriptions"] >= 6 and served["by_error"] == {}
    metrics = json.loads((run_dir / "locust_exchange.json").read_text())["exchanges"]["bybit"]
    assert metrics["ws_gaps"] == 0
    assert "thresholds: all 4 thresholds passed" in out  # scoped to the venue and to one of its endpoints
    summary = (run_dir / "locust_summary.md").read_text()
    assert "| ✅ | `p95[bybit order/create]<5000` | bybit order/create |" in summary
    assert f"| bybit | {figures.requests} | 0 | 0 |" in summary  # the Exchange table's row


def test_10006_and_the_ip_ban_are_classified_and_reconcile(tmp_path: Path) -> None:
    config = ("[bybit.ip_limit]\nrequests = 60\nwindow_s = 5\nban_s = 2.0\n"
              "[bybit.uid_limits_per_s]\n\"order/create\" = 2\n")
    with simulator(tmp_path, config) as sim:
        run = run_locust(sim, tmp_path / "run", ["BybitRestPoller", "BybitBurstTrader"], users=4, run_time_s=6,
                         exchange="bybit", extra=["--order-burst", "5", "--order-pause", "0.5"])
        served = sim.stats()["exchanges"]["bybit"]
    assert run.returncode == 0, run.output
    assert http_sent(run.totals()) == served["requests_total"]
    found = failures(run.run_dir)
    limited = sum(n for (_, error), n in found.items() if error == "rate_limited: 10006 HTTP 200")
    banned = sum(n for (_, error), n in found.items() if error == "banned: HTTP 403 access too frequent")
    assert limited == served["by_error"]["10006"] == served["rate_limited"] > 0
    assert banned == served["by_status"]["403"] == served["by_error"]["403"] > 0 and served["bans"] >= 1
    assert sum(found.values()) == limited + banned == sum(e["num_failures"] for e in run.totals())
    metrics = json.loads((tmp_path / "run" / "locust_exchange.json").read_text())["exchanges"]["bybit"]
    assert (metrics["rate_limited"], metrics["banned"]) == (limited, banned)


def test_the_ramp_finds_the_configured_ip_limit_in_requests_per_5s(tmp_path: Path) -> None:
    """An IP limit of 100 requests per 5 s (20 req/s), far below the published 600 the search starts from. Over
    the limit Bybit bans at once (a short ban here): the bans are the search's signal."""
    config = tmp_path / "limits.toml"
    config.write_text("[bybit.ip_limit]\nrequests = 100\nwindow_s = 5\nban_s = 2.0\n")
    run_dir, out = run(tmp_path, "--scenario", "ramp", "--duration", "45", "--sim-config", str(config))
    check_run_figures(run_dir, output=out)
    rate_limit = json.loads((run_dir / "analysis" / "report.json").read_text())["exchanges"]["bybit"]["rate_limit"]
    assert rate_limit["estimated_limit"]["unit"] == "requests/5s"
    assert rate_limit["estimated_limit"]["value"] == pytest.approx(100.0, rel=0.10), rate_limit
    safe = rate_limit["max_safe_requests_per_s"]
    assert safe is not None and 0.70 * 20.0 <= safe <= 20.0 * 1.005, rate_limit
    assert rate_limit["search"]["closed"], rate_limit["search"]
    served = json.loads((run_dir / "simulator_stats.json").read_text())["exchanges"]["bybit"]
    assert rate_limit["answers"]["rate_limited"] == 0 and rate_limit["answers"]["banned"] == served["by_status"]["403"]


def test_the_web_uis_exchange_tab_has_a_bybit_row(tmp_path: Path) -> None:
    port = free_port()
    with simulator(tmp_path) as sim:
        rest_base = f"{sim.base_url}/bybit"
        cmd = [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "locustfiles" / "bybit.py"), "--host", rest_base,
               "--web-port", str(port), "--autostart", "-u", "3", "-r", "3", "BybitRestPoller", "BybitWsSubscriber"]
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_http(f"{base}/")

            def bybit_row() -> dict[str, str] | None:
                stats = json.loads(request(f"{base}/stats/requests")[2])
                rows = [row for table in stats.get("extended_stats", []) for row in table["data"]]
                row = next((r for r in rows if r["exchange"] == "bybit"), None)
                streaming = row is not None and int(row["requests"]) > 0 and row["messages"] not in ("-", "0.0")
                return row if streaming else None

            row = wait_until(bybit_row, 20)
            assert row["limited"] == row["banned"] == row["gaps"] == "0" and row["connections"] != "0"
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)
