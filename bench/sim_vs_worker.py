"""How fast the simulator serves ticker/price (limits on) against what one Locust worker drives.

The simulator runs pinned to one core. Its capacity is measured with wrk (a C load generator
that is faster than the simulator) on the other core; one Locust worker process is then pinned
to that core and drives the same GET as fast as it can, while the simulator's CPU use is sampled.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from loadgen.processes import SimulatorProcess

REPO_ROOT = Path(__file__).resolve().parent.parent
# Limits stay on (every request is weighed and counted), with values high enough that the
# benchmark measures serving, not 429s.
HIGH_LIMITS = """
[binance.rate_limits]
request_weight = { limit = 1000000000, interval_s = 60 }
raw_requests = { limit = 1000000000, interval_s = 300 }
"""
PATH = "/binance/api/v3/ticker/price?symbol=BTCUSDT"


def pin(pid: int, core: int) -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(pid, {core})


def wrk_rps(url: str, seconds: int, connections: int = 32) -> float | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    cmd = ["taskset", "-c", "1", wrk, "-t1", f"-c{connections}", f"-d{seconds}s", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else None


def locust_rps(base_url: str, seconds: int, users: int, workdir: Path) -> float:
    cmd = [
        "taskset", "-c", "1", sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "bench" / "locust_bare.py"),
        "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", f"{base_url}/binance",
        "--json-file", str(workdir / "bare"), "--only-summary", "--exit-code-on-error", "0",
    ]
    subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, cwd=REPO_ROOT)
    entries = json.loads((workdir / "bare.json").read_text())
    requests = sum(e["num_requests"] for e in entries)
    first = min(e["start_time"] for e in entries)
    last = max(e["last_request_timestamp"] for e in entries)
    return requests / max(last - first, 1e-9)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def run(rounds: int = 3, seconds: int = 8) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        config = workdir / "sim.toml"
        config.write_text(HIGH_LIMITS)
        with SimulatorProcess(workdir / "sim.log", config) as sim:
            assert sim.proc is not None
            pin(sim.proc.pid, 0)
            sim_proc = psutil.Process(sim.proc.pid)
            wrk_results, locust_results, sim_cpu = [], [], []
            for _ in range(rounds):
                if (rps := wrk_rps(sim.base_url + PATH, seconds)) is not None:
                    wrk_results.append(rps)
                sim_proc.cpu_percent(None)
                locust_results.append(locust_rps(sim.base_url, seconds, users=10, workdir=workdir))
                sim_cpu.append(sim_proc.cpu_percent(None))
    sim_rps = median(wrk_results) if wrk_results else None
    worker_rps = median(locust_results)
    return {
        "sim_ticker_price_rps": round(sim_rps, 1) if sim_rps else None,
        "worker_ticker_price_rps": round(worker_rps, 1),
        "sim_cpu_percent_while_worker_drives": round(median(sim_cpu), 1),
        "sim_vs_worker": round(sim_rps / worker_rps, 2) if sim_rps else None,
        "rounds": rounds,
        "seconds_per_round": seconds,
        "note": None if sim_rps else "wrk not installed: simulator capacity not measured (apt-get install wrk)",
    }
