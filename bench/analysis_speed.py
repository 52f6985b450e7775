"""How long `python -m analysis` takes on a 24-hour run: 86,400 s x 20 endpoints of full history.

    .venv/bin/python -m bench.analysis_speed [--hours 24] [--endpoints 20]

A synthetic run directory is written first (not timed): Locust's four CSVs with --csv-full-history,
totals.json, the suite's exchange history with used weight in 60 s windows, rate limiting in the busy
hours, a WebSocket stream. Then the whole analysis is timed, report files and charts included.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.report import write_report

START = 1_800_000_000
PERCENTILES = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"]
LIMIT, WINDOW_S = 6000, 60


def write_run(run_dir: Path, seconds: int, endpoints: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(START, START + seconds)
    users = (20 + 40 * (1 + np.sin(np.arange(seconds) / seconds * 2 * np.pi * 4)) / 2).astype(int)
    names = [("GET", f"endpoint{i}") for i in range(endpoints - 1)] + [("WS", "btcusdt@trade")]
    per_endpoint = []
    totals = []
    for i, (method, name) in enumerate(names):
        rate = rng.poisson(users * (0.2 + 0.05 * i))
        failures = rng.binomial(rate, 0.002)
        base = 5 + i
        p50 = (base + users * 0.05 + rng.integers(0, 3, seconds)).astype(int)
        frame = pd.DataFrame({"Timestamp": t, "User Count": users, "Type": method, "Name": name,
                              "Requests/s": rate.astype(float), "Failures/s": failures.astype(float)})
        for j, column in enumerate(PERCENTILES):
            frame[column] = (p50 * (1 + 0.3 * j)).astype(int)
        frame["Total Request Count"] = np.cumsum(rate)
        frame["Total Failure Count"] = np.cumsum(failures)
        frame["Total Median Response Time"] = base
        frame["Total Average Response Time"] = base + 0.5
        frame["Total Min Response Time"] = 1
        frame["Total Max Response Time"] = 900
        frame["Total Average Content Size"] = 120.0
        per_endpoint.append(frame)
        histogram = {str(int(v)): int(c) for v, c in zip(*np.unique(p50, return_counts=True), strict=True)}
        totals.append({"name": name, "method": method, "num_requests": int(rate.sum()), "num_none_requests": 0,
                       "num_failures": int(failures.sum()), "total_response_time": float((rate * p50).sum()),
                       "max_response_time": 900, "min_response_time": 1, "total_content_length": 0,
                       "response_times": histogram, "num_reqs_per_sec": {}, "num_fail_per_sec": {}})
    aggregated = per_endpoint[0].assign(Type="", Name="Aggregated", **dict.fromkeys(PERCENTILES, "N/A"))
    history = pd.concat([*per_endpoint, aggregated]).sort_values("Timestamp", kind="stable")
    history.to_csv(run_dir / "locust_stats_history.csv", index=False)
    rest = sum(f["Requests/s"].to_numpy() for f in per_endpoint[:-1])
    weight = rest * 4
    window = (t // WINDOW_S)
    used = pd.Series(weight).groupby(window).cumsum().to_numpy()
    limited = np.maximum(0, np.minimum(rest, (used - LIMIT) // 4)).astype(int)
    pd.DataFrame({
        "timestamp": t, "exchange": "binance", "requests": rest.astype(int), "weight_requested": weight.astype(int),
        "used_weight_last": used.astype(int), "used_weight_max": used.astype(int), "weight_limit": LIMIT,
        "weight_window_s": WINDOW_S, "rate_limited": limited, "banned": 0, "retry_after_waits": 0,
        "retry_after_wait_s": 0.0, "weight_waits": 0, "weight_wait_s": 0.0,
        "ws_messages": per_endpoint[-1]["Requests/s"].astype(int), "ws_reconnects": 0, "ws_drops": 0, "ws_gaps": 0,
        "ws_pings": 0,
    }).to_csv(run_dir / "locust_exchange_history.csv", index=False)
    stats = pd.DataFrame([[e["method"], e["name"], e["num_requests"], e["num_failures"], 5, 5.5, 1, 900, 120, 1.0,
                           0.0, *([5] * len(PERCENTILES))] for e in totals],
                         columns=["Type", "Name", "Request Count", "Failure Count", "Median Response Time",
                                  "Average Response Time", "Min Response Time", "Max Response Time",
                                  "Average Content Size", "Requests/s", "Failures/s", *PERCENTILES])
    stats.to_csv(run_dir / "locust_stats.csv", index=False)
    failures = [["GET", "endpoint0", "rate_limited: -1003 HTTP 429", int(limited.sum()),
                 "2027-01-15T09:00:00Z", "2027-01-16T07:00:00Z"]]
    pd.DataFrame(failures, columns=["Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen"]).to_csv(
        run_dir / "locust_failures.csv", index=False)
    (run_dir / "locust_exceptions.csv").write_text("Count,Message,Traceback,Nodes\n")
    (run_dir / "totals.json").write_text(json.dumps(totals))
    (run_dir / "run.json").write_text(json.dumps({"run_id": "bench-24h", "exchange": "binance", "workers": 1,
                                                  "duration_s": seconds, "started_at": "2027-01-15T08:00:00+0000"}))


def run(hours: float = 24, endpoints: int = 20) -> dict[str, float | int]:
    seconds = int(hours * 3600)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        write_run(run_dir, seconds, endpoints)
        size_mb = sum(p.stat().st_size for p in run_dir.iterdir()) / 1e6
        started, started_cpu = time.perf_counter(), time.process_time()
        outcome = write_report(run_dir)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    return {
        "analysis_history_seconds": seconds,
        "analysis_endpoints": endpoints,
        "analysis_input_mb": round(size_mb, 1),
        "analysis_findings": len(outcome.findings),
        "analysis_elapsed_s": round(elapsed, 2),
        "analysis_cpu_s": round(cpu, 2),  # less sensitive than elapsed time to others' load on a shared machine
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.analysis_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--endpoints", type=int, default=20)
    args = parser.parse_args()
    for key, value in run(args.hours, args.endpoints).items():
        print(f"{key:<28}{value}")


if __name__ == "__main__":
    main()
