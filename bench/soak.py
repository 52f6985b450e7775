"""Soak: 1,000 WebSocket subscribers and 50 pollers for 10 minutes on the simulator; the load
generator's memory must stay flat, and what users hold must be released when they stop.

    .venv/bin/python -m bench.soak [--duration-s 600]

Samples the Locust process's RSS, open file descriptors and threads every 10 s, writes
bench/results/soak.json and prints the curve.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from loadgen.runner.processes import SimulatorProcess, child_env

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results"
# The soak measures resources, not limits: raise the ones 1,050 users from one IP would hit.
SOAK_LIMITS = """
[binance.rate_limits]
request_weight = { limit = 100000000, interval_s = 60 }
[binance.ws]
connection_attempts = 1000000
"""
SAMPLE_EVERY_S = 10


def run(duration_s: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "sim.toml").write_text(SOAK_LIMITS)
        with SimulatorProcess(workdir / "sim.log", workdir / "sim.toml") as sim:
            env = child_env({"SOAK_DURATION_S": str(duration_s)})
            cmd = [
                sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "bench" / "soak_locustfile.py"), "--headless",
                "--host", f"{sim.base_url}/binance", "--ws-host", f"{sim.base_url.replace('http', 'ws')}/binance",
                "--symbols", "BTCUSDT", "--streams", "kline_1s,miniTicker", "--json-file", str(workdir / "totals"),
                "--exit-code-on-error", "0", "--only-summary", "--stop-timeout", "10",
            ]
            proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            locust = psutil.Process(proc.pid)
            samples = []
            started = time.monotonic()
            while proc.poll() is None:
                try:
                    samples.append({
                        "t_s": round(time.monotonic() - started),
                        "rss_mb": round(locust.memory_info().rss / 2**20, 1),
                        "fds": locust.num_fds(),
                        "sim_connections": sim.stats()["exchanges"]["binance"]["ws"]["connections_open"],
                    })
                except (psutil.Error, OSError):
                    break
                time.sleep(SAMPLE_EVERY_S)
            proc.wait()
            totals = json.loads((workdir / "totals.json").read_text())
    return {"duration_s": duration_s, "samples": samples, "requests": sum(e["num_requests"] for e in totals),
            "failures": sum(e["num_failures"] for e in totals), **verdict(samples, duration_s)}


def verdict(samples: list[dict], duration_s: int) -> dict:
    """Memory at the start of the second full plateau against its end: growth means a leak."""
    second_plateau = [s for s in samples if s["t_s"] >= 0.6 * duration_s]
    first_plateau = [s for s in samples if 0.15 * duration_s <= s["t_s"] < 0.45 * duration_s]
    dip = [s for s in samples if 0.47 * duration_s <= s["t_s"] < 0.55 * duration_s]
    if not (second_plateau and first_plateau):
        return {"verdict": "too short to judge"}
    first_rss = [s["rss_mb"] for s in first_plateau]
    second_rss = [s["rss_mb"] for s in second_plateau]
    return {
        "rss_first_plateau_mb": [min(first_rss), max(first_rss)],
        "rss_second_plateau_mb": [min(second_rss), max(second_rss)],
        "fds_plateau_vs_dip": [max(s["fds"] for s in first_plateau), min((s["fds"] for s in dip), default=None)],
        "rss_growth_second_plateau_mb": round(second_rss[-1] - second_rss[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=int, default=600)
    args = parser.parse_args()
    result = run(args.duration_s)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    for s in result["samples"]:
        print(f"{s['t_s']:>5} s  rss {s['rss_mb']:>7.1f} MB  fds {s['fds']:>5}  ws connections {s['sim_connections']}")
    print({k: v for k, v in result.items() if k != "samples"})


if __name__ == "__main__":
    main()
