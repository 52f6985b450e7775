"""End to end for orders over Kraken's authenticated WebSocket v2: real Locust (KrakenWsTrader only) against the
real simulator, every order accounted for and reconciled with the simulator's own count."""

from __future__ import annotations

import csv
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.runner.processes import child_env
from loadgen.users.ws_order_rows import EVENT_ROW, LOST_ORDER_EVENT, REQUEST_TYPE
from tests.support.e2e import REPO_ROOT, LocustRun, simulator

pytestmark = pytest.mark.e2e

RATE_LIMIT = "EOrder:Rate limit exceeded"
# A small per-pair trading counter, so that the run meets it: every order adds 1, the counter drains 1 per second.
# (The public counter is raised: each burst reads the price over REST, and only the order path is under test. The
# users' concurrent signed token calls may reach it out of nonce order: a nonce window, as Kraken's key setting.)
TRADING_LIMIT = ("[kraken]\nnonce_window = 10000000\n"
                 "[kraken.rate_limits.tiers.starter]\ntrading_threshold = 12\ntrading_decay_per_s = 1\n"
                 "[kraken.rate_limits.public]\nmax_counter = 1000\n")


def failures(run_dir: Path) -> dict[tuple[str, str], int]:
    with (run_dir / "locust_failures.csv").open() as f:
        return {(row["Name"], row["Error"]): int(row["Occurrences"]) for row in csv.DictReader(f)}


def test_ws_orders_are_acked_reported_and_reconciled(tmp_path: Path) -> None:
    with simulator(tmp_path, TRADING_LIMIT) as sim:
        run = ws_orders_run(sim, tmp_path / "run", "--order-burst", "6", "--order-pause", "0.5",
                            "--order-event-timeout", "2", "--symbols", "BTC/USD", "--csv-full-history",
                            "--threshold", "lost_order_events==0")
        served = sim.stats()["exchanges"]["kraken"]
    assert run.returncode == 0, run.output
    rows = {e["name"]: e for e in run.totals() if e["method"] == REQUEST_TYPE}
    placed, lost = rows["add_order"], rows.get(LOST_ORDER_EVENT)
    sent = placed["num_requests"]
    acked = sent - placed["num_failures"]
    lost_count = lost["num_requests"] if lost else 0
    answered = served["ws_api"]["requests"]
    assert sent == sum(answered["add_order"].values()) >= 18  # the simulator's own count
    assert acked == answered["add_order"]["ok"]
    # each session: a token over REST (its own row), then the executions subscription
    tokens = run.entry("POST", "GetWebSocketsToken")
    assert tokens is not None and tokens["num_requests"] == tokens["num_requests"] - tokens["num_failures"] == 3
    assert served["by_endpoint"]["GetWebSocketsToken"] == 3
    assert rows["subscribe"]["num_requests"] == answered["subscribe"]["ok"] == 3
    # every acknowledged order: reported NEW on the executions channel, or a lost event
    new = rows[EVENT_ROW.format("NEW")]["num_requests"]
    assert new + lost_count == acked and lost_count == 0
    # market orders fill, limit IOC orders away from the price are cancelled: every reported order ends one way
    filled, canceled = (rows[EVENT_ROW.format(s)]["num_requests"] for s in ("FILLED", "CANCELED"))
    assert filled > 0 and canceled > 0 and filled + canceled == new
    # ... and the events seen per order are those the simulator pushed (one row per order and exec_type, one count
    # per event). The users share the demo account: each session gets every event of the account and times its own
    # orders' (its session subscribed before it sent them), so every event pushed is one user's row.
    pushed = served["ws_api"]["events"]
    for state in ("PENDING_NEW", "NEW", "FILLED", "CANCELED"):
        assert rows[EVENT_ROW.format(state)]["num_requests"] == pushed[f"executions {state.lower()}"], state
    # trade events: one per fill, and the row times an order's first; every filled order traded, no other did
    assert rows[EVENT_ROW.format("TRADE")]["num_requests"] == filled <= pushed["executions trade"]
    # every message the simulator sent on the sessions (answers and events) was received, on as many connections
    metrics = json.loads((run.run_dir / "locust_exchange.json").read_text())["exchanges"]["kraken"]
    assert metrics["ws_messages"] == served["ws"]["messages_sent"] and metrics["ws_drops"] == 0
    assert served["ws"]["connections_total"] == run.entry("WS", "connect")["num_requests"] == 3
    # the only refusals: the trading counter (shared with REST orders), as many as the simulator answered
    rejected = placed["num_failures"]
    assert failures(run.run_dir) == {("add_order", f"rate_limited: {RATE_LIMIT} WS"): rejected}
    assert rejected == answered["add_order"][RATE_LIMIT] == served["rate_limited"] > 0
    summary = (run.run_dir / "locust_summary.md").read_text()
    assert "lost_order_events==0" in summary
    assert_order_path_report(run.run_dir, tmp_path / "analysis", "kraken", "add_order", f"{RATE_LIMIT} WS")


def assert_order_path_report(run_dir: Path, out: Path, exchange: str, order_row: str, reason: str) -> None:
    """The analysis' order-path section (report.json) has the figures of the run's stats and failures CSVs."""
    subprocess.run([sys.executable, "-m", "analysis", str(run_dir), "--out", str(out), "--format", "json,md"],
                   check=True, capture_output=True, timeout=60, cwd=REPO_ROOT, env=child_env())
    orders = json.loads((out / "report.json").read_text())["orders"][exchange]
    with (run_dir / "locust_stats.csv").open() as f:
        stats = {row["Name"]: row for row in csv.DictReader(f) if row["Type"] == REQUEST_TYPE}
    sent, failed = int(stats[order_row]["Request Count"]), int(stats[order_row]["Failure Count"])
    assert (orders["sent"], orders["acked"], orders["rejected"]) == (sent, sent - failed, failed)
    assert orders["rejected_by_reason"] == {reason: failed}
    assert orders["lost_events"] == int(stats.get(LOST_ORDER_EVENT, {}).get("Request Count", 0))
    events = {n.removeprefix(EVENT_ROW.format("")): int(r["Request Count"]) for n, r in stats.items()
              if n.startswith(EVENT_ROW.format(""))}
    assert {s: lag["events"] for s, lag in orders["event_lag_ms"].items()} == events
    assert orders["ack_ms"]["p99"] is not None and orders["limit_onset"]["orders_per_s"] > 0
    assert "## Order path" in (out / "report.md").read_text()


def readme_command() -> list[str]:
    """README's Kraken command of "Orders over WebSocket", as written."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    (line,) = [ln for ln in readme.splitlines() if ln.startswith("locust -f locustfiles/ws_orders.py")
               and ln.endswith(" KrakenWsTrader")]
    return shlex.split(line)


def ws_orders_run(sim, run_dir: Path, *extra: str) -> LocustRun:
    """README's command (3 users of KrakenWsTrader for 5 s) against this test's simulator, with its files kept."""
    run_dir.mkdir(parents=True)
    argv = readme_command()
    argv[argv.index("--host") + 1] = f"{sim.base_url}/kraken"  # this test's simulator instead of `make sim`'s port
    cmd = [sys.executable, "-m", *argv[:-1], "-r", "3", "--csv", str(run_dir / "locust"),
           "--json-file", str(run_dir / "totals"), "--exit-code-on-error", "0", "--stop-timeout", "10",
           "--only-summary", *extra, argv[-1]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=child_env())
    return LocustRun(proc.returncode, proc.stdout + proc.stderr, run_dir)
