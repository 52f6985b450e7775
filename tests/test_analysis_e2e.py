"""The analysis against ground truth the real simulator sets: a non-default limit crossed by a user ramp.

Binance's published limit is 6000 weight per 60 s. Here the simulator enforces 300 weight per 2 s, and
bans are off so the prober keeps measuring. A 2 s window is used instead of the issue's example of
2400 per 60 s to fit in about 30 s: crossing a 60 s window with load steps fine enough for a 10%
answer takes several minutes, while with 2 s windows the ramp below moves the load by about 5% per
window, so the onset is resolved well inside the tolerance. The estimate must find both the window
(2 s, not Binance's 60) and the limit.
"""

from __future__ import annotations

import csv
import json

import pytest

from analysis import analyse_run
from tests.support.e2e import REPO_ROOT, run_locust, simulator

pytestmark = pytest.mark.e2e

LIMIT, WINDOW_S = 300, 2
SIM_CONFIG = f"""
[binance.rate_limits]
request_weight = {{ limit = {LIMIT}, interval_s = {WINDOW_S} }}
[binance.bans]
limited_requests_before_ban = 1000000
"""
# Burst traders with 4 orders (weight 1) after one price request (weight 2) per second: 6 weight/s per user,
# so the limit of 150 weight/s is crossed at about 25 users, half way through the ramp.
RAMP = {"RAMP_FROM_USERS": "16", "RAMP_TO_USERS": "34", "RAMP_S": "28"}
TOLERANCE = 0.10


def test_estimated_limit_and_onset_match_the_simulators_limit(tmp_path, monkeypatch):
    for key, value in RAMP.items():
        monkeypatch.setenv(key, value)
    ramp = REPO_ROOT / "tests" / "support" / "locustfiles" / "analysis_ramp.py"
    locustfiles = f"{REPO_ROOT / 'locustfiles' / 'binance.py'},{ramp}"
    with simulator(tmp_path, SIM_CONFIG) as sim:
        run = run_locust(
            sim, tmp_path / "run", ["BinanceBurstTrader"], users=1, run_time_s=60,
            extra=["-f", locustfiles, "--mode", "probe", "--order-burst", "4", "--order-pause", "1"],
        )
    assert run.returncode == 0, run.output[-2000:]

    summary = analyse_run(run.run_dir)
    report = json.loads((run.run_dir / "analysis" / "report.json").read_text())
    limit = report["exchanges"]["binance"]["rate_limit"]
    assert "binance: rate-limited from" in summary

    estimate = limit["estimated_limit"]
    assert estimate["unit"] == f"weight/{WINDOW_S}s", estimate
    assert abs(estimate["value"] - LIMIT) <= TOLERANCE * LIMIT, estimate

    onset = limit["onset"]
    assert onset is not None and onset["time_s"] > 5, onset  # the ramp crossed the limit, not the start-up
    truth = LIMIT / WINDOW_S / mean_weight_before(run.run_dir, onset["time_s"], WINDOW_S)
    assert abs(onset["requests_per_s"] - truth) <= TOLERANCE * truth, (onset, truth)
    assert abs(limit["max_safe_requests_per_s"] - truth) <= TOLERANCE * truth, (limit, truth)
    assert 20 <= onset["users"] <= 30, onset
    kinds = {f["kind"] for f in report["findings"]}
    assert {"rate_limit_onset", "retry_after_ignored"} <= kinds  # probe mode keeps sending while limited


def mean_weight_before(run_dir, onset_s: float, window_s: int) -> float:
    """Mean request weight over the limit window before the onset, from the suite's own weight catalog:
    the request rate at which `LIMIT` weight per window is reached depends on the request mix then."""
    with (run_dir / "locust_stats_history.csv").open() as f:
        start = int(next(csv.DictReader(f))["Timestamp"])  # time_s counts from Locust's first history row
    with (run_dir / "locust_exchange_history.csv").open() as f:
        rows = list(csv.DictReader(f))
    seconds = {int(r["timestamp"]) - start: r for r in rows}
    onset = int(onset_s)
    window = [seconds[s] for s in range(onset - window_s + 1, onset + 1) if s in seconds]
    return sum(float(r["weight_requested"]) for r in window) / sum(float(r["requests"]) for r in window)
