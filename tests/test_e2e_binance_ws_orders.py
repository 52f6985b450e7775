"""End to end for orders over Binance's WebSocket API: real Locust (BinanceWsTrader only) against the real
simulator, every order accounted for and reconciled with the simulator's own count."""

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


def failures(run_dir: Path) -> dict[tuple[str, str], int]:
    with (run_dir / "locust_failures.csv").open() as f:
        return {(row["Name"], row["Error"]): int(row["Occurrences"]) for row in csv.DictReader(f)}


# Few unfilled orders allowed, so that the run meets the limit: the MARKET orders fill and give their count back,
# the LIMIT IOC orders that expire unfilled use it up. The adapter publishes 100: the analysis is not told this one.
UNANNOUNCED_ORDERS_LIMIT = 13
ORDERS_LIMIT = f"[binance.rate_limits.orders_10s]\nlimit = {UNANNOUNCED_ORDERS_LIMIT}\ninterval_s = 10\n"


def test_ws_orders_are_acked_reported_and_reconciled(tmp_path: Path) -> None:
    with simulator(tmp_path, ORDERS_LIMIT) as sim:
        run = ws_orders_run(sim, tmp_path / "run", "--order-burst", "6", "--order-pause", "0.5",
                            "--order-event-timeout", "2", "--csv-full-history",
                            "--threshold", "lost_order_events==0", "--threshold", "order_ack_p99[binance]<5000")
        served = sim.stats()["exchanges"]["binance"]
    assert run.returncode == 0, run.output
    rows = {e["name"]: e for e in run.totals() if e["method"] == REQUEST_TYPE}
    placed, lost = rows["order.place"], rows.get(LOST_ORDER_EVENT)
    sent = placed["num_requests"]
    acked = sent - placed["num_failures"]
    lost_count = lost["num_requests"] if lost else 0
    answered = served["ws_api"]["requests"]
    assert sent == sum(answered["order.place"].values()) >= 18  # the simulator's own count
    assert acked == answered["order.place"]["200"]
    assert rows["session.logon"]["num_requests"] == answered["session.logon"]["200"] == 3
    assert served["ws"]["api_ed25519_logons"] == 3  # on the simulator the sessions log on with its demo Ed25519 key
    # every acknowledged order: reported NEW on the stream, or a lost event
    assert rows[EVENT_ROW.format("NEW")]["num_requests"] + lost_count == acked
    # MARKET orders fill, LIMIT IOC orders away from the price expire: every reported order ends one way or the other
    filled, expired = (rows[EVENT_ROW.format(s)]["num_requests"] for s in ("FILLED", "EXPIRED"))
    assert filled > 0 and expired > 0 and filled + expired == rows[EVENT_ROW.format("NEW")]["num_requests"]
    # ... and the events seen per order are those the simulator pushed (one row per order and state; the simulator
    # counts each event once, though the users share the demo account and every session of it gets every event)
    pushed = served["ws_api"]["events"]
    for state in ("NEW", "FILLED", "EXPIRED"):
        assert rows[EVENT_ROW.format(state)]["num_requests"] == pushed[f"executionReport {state}"], state
    assert served["requests_total"] == _rest(served)  # the HTTP figures hold only the REST requests
    # every message the simulator sent on the sessions (answers and events) was received, on as many connections
    metrics = json.loads((run.run_dir / "locust_exchange.json").read_text())["exchanges"]["binance"]
    assert metrics["ws_messages"] == served["ws"]["messages_sent"] and metrics["ws_drops"] == 0
    assert served["ws"]["connections_total"] == run.entry("WS", "connect")["num_requests"] == 3
    # the only refusals: the account's ORDERS limit per 10 s (-1015), as many as the simulator answered
    rejected = placed["num_failures"]
    assert failures(run.run_dir) == {("order.place", "rate_limited: -1015 HTTP 429"): rejected}
    assert rejected == answered["order.place"]["429"] == served["rate_limited"] > 0 and lost_count == 0
    # the order-path gates measured the run: no lost event, and the ack p99 as Locust's histogram has it
    summary = (run.run_dir / "locust_summary.md").read_text()
    assert "lost_order_events==0" in summary and "order_ack_p99[binance]<5000" in summary
    assert_order_path_report(run.run_dir, tmp_path / "analysis")


def assert_order_path_report(run_dir: Path, out: Path) -> None:
    """The analysis' order-path section (report.json) has the figures of the run's stats and failures CSVs."""
    subprocess.run([sys.executable, "-m", "analysis", str(run_dir), "--out", str(out), "--format", "json,md"],
                   check=True, capture_output=True, timeout=60, cwd=REPO_ROOT, env=child_env())
    orders = json.loads((out / "report.json").read_text())["orders"]["binance"]
    with (run_dir / "locust_stats.csv").open() as f:
        stats = {row["Name"]: row for row in csv.DictReader(f) if row["Type"] == REQUEST_TYPE}
    sent, failed = int(stats["order.place"]["Request Count"]), int(stats["order.place"]["Failure Count"])
    assert (orders["sent"], orders["acked"], orders["rejected"]) == (sent, sent - failed, failed)
    assert orders["rejected_by_reason"] == {"-1015 HTTP 429": failures(run_dir)[("order.place",
                                                                                "rate_limited: -1015 HTTP 429")]}
    assert orders["lost_events"] == int(stats.get(LOST_ORDER_EVENT, {}).get("Request Count", 0))
    events = {n.removeprefix(EVENT_ROW.format("")): int(r["Request Count"]) for n, r in stats.items()
              if n.startswith(EVENT_ROW.format(""))}
    assert {s: lag["events"] for s, lag in orders["event_lag_ms"].items()} == events
    assert orders["ack_ms"]["p99"] is not None and orders["limit_onset"]["orders_per_s"] > 0
    # the order-count limit nobody told the analysis about, found within 10% (exactly, from the reported counts)
    found = orders["order_limit"]
    assert found["reached"] and found["published"] == 100 and found["window_s"] == 10
    assert abs(found["value"] - UNANNOUNCED_ORDERS_LIMIT) <= 0.1 * UNANNOUNCED_ORDERS_LIMIT, found
    report = (out / "report.md").read_text()
    assert "## Order path" in report and f"The limit: {found['value']} orders per 10 s" in report


def ws_orders_run(sim, run_dir: Path, *extra: str) -> LocustRun:
    """Plain headless Locust with locustfiles/ws_orders.py's BinanceWsTrader only, 3 users for 5 s."""
    run_dir.mkdir(parents=True)
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "locustfiles" / "ws_orders.py"), "--headless",
           "-u", "3", "-r", "3", "-t", "5s", "--host", f"{sim.base_url}/binance", "--csv", str(run_dir / "locust"),
           "--json-file", str(run_dir / "totals"), "--exit-code-on-error", "0", "--stop-timeout", "10",
           "--only-summary", *extra, "BinanceWsTrader"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=child_env())
    return LocustRun(proc.returncode, proc.stdout + proc.stderr, run_dir)


def _rest(served: dict) -> int:
    """REST requests (the traders read the symbol's filters, the time and the price over REST)."""
    return sum(served["by_endpoint"].values())


# Few raw requests allowed (WS API requests count too, successful orders included), and a ban soon after the
# first refusals: the run meets 429, then 418.
BAN_SOON = """
[binance.rate_limits.raw_requests]
limit = 40
interval_s = 300
[binance.bans]
limited_requests_before_ban = 2
"""


def test_a_banned_ip_loses_its_sessions_and_every_order_is_accounted_for(tmp_path: Path) -> None:
    """The ban comes from the traders' REST price requests or their orders, whichever crosses the limit; the
    simulator then closes every WS API session of the IP, as Binance disconnects a banned IP, and the users wait
    the ban out (no backoff: plain Locust's default here)."""
    with simulator(tmp_path, BAN_SOON) as sim:
        run = ws_orders_run(sim, tmp_path / "run", "--order-burst", "6", "--order-pause", "0.3",
                            "--order-event-timeout", "2")
        served = sim.stats()["exchanges"]["binance"]
    assert run.returncode == 0, run.output
    assert served["bans"] == 1 and served["ws"]["api_ban_closes"] == served["ws"]["connections_total"] == 3
    seen = failures(run.run_dir)
    assert seen[("connection", "ws_drop: closed by server 1008")] == 3  # every session, as a classified drop
    assert sum(n for (_, error), n in seen.items() if error == "banned: -1003 HTTP 418 IP banned") >= 1
    placed = next(e for e in run.totals() if e["method"] == REQUEST_TYPE and e["name"] == "order.place")
    answered = served["ws_api"]["requests"]["order.place"]
    # orders sent = those the simulator answered (200, 429, 418) + those in flight at the close (ws_drop failures)
    dropped = sum(n for (name, error), n in seen.items() if name == "order.place" and error.startswith("ws_drop"))
    assert placed["num_requests"] == sum(answered.values()) + dropped
    assert placed["num_requests"] - placed["num_failures"] == answered["200"] > 0
