"""End to end for Coinbase orders over REST followed on the authenticated `user` feed channel: real Locust
(CoinbaseFeedTrader only) against the real simulator, every order accounted for and reconciled with the simulator's
own count."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.runner.processes import child_env
from loadgen.users.ws_order_rows import EVENT_ROW, LOST_ORDER_EVENT, REQUEST_TYPE
from tests.support.e2e import REPO_ROOT, LocustRun, simulator

pytestmark = pytest.mark.e2e

USERS = 2
STATES = ("received", "open", "match", "done")
# A private bucket small enough that the bursts meet it: some orders are refused (HTTP 429) and reconciled too.
PRIVATE_LIMIT = "[coinbase.rate_limits.private]\nrate_per_s = 30\nburst = 12\n"


def failures(run_dir: Path) -> dict[tuple[str, str, str], int]:
    with (run_dir / "locust_failures.csv").open() as f:
        return {(row["Method"], row["Name"], row["Error"]): int(row["Occurrences"]) for row in csv.DictReader(f)}


def test_rest_orders_are_acked_reported_on_the_user_channel_and_reconciled(tmp_path: Path) -> None:
    with simulator(tmp_path, PRIVATE_LIMIT) as sim:
        run = feed_orders_run(sim, tmp_path / "run", "--order-burst", "6", "--order-pause", "0.5",
                              "--order-event-timeout", "2", "--csv-full-history",
                              "--threshold", "lost_order_events==0", "--threshold", "order_ack_p99[coinbase]<5000",
                              "--threshold", "order_event_lag_p99[coinbase]<5000")
        served = sim.stats()["exchanges"]["coinbase"]
    assert run.returncode == 0, run.output
    rows = {e["name"]: e for e in run.totals() if e["method"] == REQUEST_TYPE}
    placed, lost = rows["orders"], rows.get(LOST_ORDER_EVENT)
    sent, refused = placed["num_requests"], placed["num_failures"]
    acked = sent - refused
    lost_count = lost["num_requests"] if lost else 0
    assert sent >= 24 and lost_count == 0
    # the simulator's own count: every order sent reached it; the refused ones were refused by the private bucket
    # (classified so in the failures CSV), and the simulator's rate-limit answers are all in the failures CSV
    assert sent == served["by_endpoint"]["orders"]
    found = failures(run.run_dir)
    assert found.get((REQUEST_TYPE, "orders", "rate_limited: HTTP 429 Private rate limit exceeded"), 0) == refused > 0
    assert sum(n for (_, _, error), n in found.items() if error.startswith("rate_limited")) == served["rate_limited"]
    assert set(found) <= {(method, name, error) for method, name, error in found if error.startswith("rate_limited")}
    # every acknowledged order: received on the feed (or a lost event); done, unless it is a limit order whose cancel
    # was refused (it still rests); the market orders matched, the limit orders rested first
    counts = {state: rows[EVENT_ROW.format(state)]["num_requests"] for state in STATES}
    cancels = run.entry("DELETE", "order DELETE")
    assert counts["received"] + lost_count == acked
    assert counts["done"] + cancels["num_failures"] == counts["received"]
    assert counts["open"] == cancels["num_requests"] > 0 and counts["match"] > 0
    # ... and the events seen per order are those the simulator pushed: each user's feed gets every event of the
    # shared profile (and skips the other user's), one row per order and state (matches: one per trade)
    pushed = served["ws"]
    assert USERS * acked == pushed["user received"]  # every order the simulator accepted, and only those
    for state in ("received", "open", "done"):
        assert USERS * counts[state] == pushed[f"user {state}"], state
    assert USERS * counts["match"] <= pushed["user match"]
    assert rows["subscribe"]["num_requests"] == USERS and rows["subscribe"]["num_failures"] == 0
    metrics = json.loads((run.run_dir / "locust_exchange.json").read_text())["exchanges"]["coinbase"]
    assert metrics["ws_drops"] == 0 and served["ws"]["connections_total"] == USERS
    # the order-path gates measured the run (its exit code 0: they passed)
    summary = (run.run_dir / "locust_summary.md").read_text()
    assert "order_ack_p99[coinbase]<5000" in summary and "order_event_lag_p99[coinbase]<5000" in summary
    assert_order_path_report(run.run_dir, tmp_path / "analysis")


def assert_order_path_report(run_dir: Path, out: Path) -> None:
    """The analysis' order-path section (report.json) has the figures of the run's stats and failures CSVs."""
    subprocess.run([sys.executable, "-m", "analysis", str(run_dir), "--out", str(out), "--format", "json,md"],
                   check=True, capture_output=True, timeout=60, cwd=REPO_ROOT, env=child_env())
    orders = json.loads((out / "report.json").read_text())["orders"]["coinbase"]
    with (run_dir / "locust_stats.csv").open() as f:
        stats = {row["Name"]: row for row in csv.DictReader(f) if row["Type"] == REQUEST_TYPE}
    sent, failed = int(stats["orders"]["Request Count"]), int(stats["orders"]["Failure Count"])
    assert orders["order_row"] == "orders"
    assert (orders["sent"], orders["acked"], orders["rejected"]) == (sent, sent - failed, failed)
    assert orders["lost_events"] == int(stats.get(LOST_ORDER_EVENT, {}).get("Request Count", 0))
    events = {n.removeprefix(EVENT_ROW.format("")): int(r["Request Count"]) for n, r in stats.items()
              if n.startswith(EVENT_ROW.format(""))}
    assert {s: lag["events"] for s, lag in orders["event_lag_ms"].items()} == events
    assert orders["ack_ms"]["p99"] is not None and orders["event_lag_ms"]["done"]["p99"] is not None
    assert "## Order path" in (out / "report.md").read_text()


def feed_orders_run(sim, run_dir: Path, *extra: str) -> LocustRun:
    """locustfiles/ws_orders.py's CoinbaseFeedTrader only, as README's "Orders over WebSocket" shows it, 5 s."""
    run_dir.mkdir(parents=True)
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "locustfiles" / "ws_orders.py"), "--headless",
           "-u", str(USERS), "-r", str(USERS), "-t", "5s", "--host", f"{sim.base_url}/coinbase",
           "--csv", str(run_dir / "locust"), "--json-file", str(run_dir / "totals"), "--exit-code-on-error", "0",
           "--stop-timeout", "10", "--only-summary", *extra, "CoinbaseFeedTrader"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=child_env())
    return LocustRun(proc.returncode, proc.stdout + proc.stderr, run_dir)
