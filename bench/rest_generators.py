"""Requests per generator CPU-second: the suite's REST user against a bare FastHttpUser, a seed-style
aiohttp tester and wrk, all sending GET ticker/price to one nginx (pinned to core 0, faster than any
of them; the simulator when nginx is not installed) from core 1, 10 users or connections each. Each
round runs every generator once, in turn; ratios are taken within a round, the median over rounds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.harness import (
    GENERATOR_CORE,
    REPO_ROOT,
    TARGET_CORE,
    BenchError,
    Window,
    median,
    pin,
    pinned,
    run_locust,
    run_wrk,
)
from bench.nginx_target import NginxTicker
from bench.sim_vs_worker import HIGH_LIMITS, PATH
from loadgen.runner.processes import SimulatorProcess

CONCURRENCY = 10
NO_WRK = "wrk not installed: rest_poller_vs_wrk skipped (apt-get install wrk)"


def seed_aiohttp(url: str, warmup_s: float, window_s: float) -> Window:
    out = Path("/tmp") / f"bench-seed-{uuid.uuid4().hex}.json"
    cmd = [*pinned(GENERATOR_CORE), sys.executable, "-m", "bench.seed_aiohttp", url, "--concurrency",
           str(CONCURRENCY), "--warmup", str(warmup_s), "--window", str(window_s), "--out", str(out)]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=warmup_s + window_s + 60, cwd=REPO_ROOT)
        if not out.exists():
            raise BenchError(f"seed_aiohttp: no measurement ({run.stderr.strip().splitlines()[-1:] or run.returncode})")
        report = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    return Window(report["start"], report["end"])


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


@dataclass(frozen=True)
class Target:
    name: str
    host: str  # the users' --host
    ticker_url: str
    pid: int  # the process whose CPU is sampled


@contextmanager
def fast_target() -> Iterator[Target]:
    """nginx when it is installed; else the simulator (limits raised), which still out-runs one Python generator."""
    if NginxTicker.available():
        with NginxTicker() as nginx:
            assert nginx.worker is not None
            yield Target("nginx", nginx.host, nginx.ticker_url, nginx.worker.pid)
        return
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "sim.toml"
        config.write_text(HIGH_LIMITS)
        with SimulatorProcess(Path(tmp) / "sim.log", config) as sim:
            assert sim.proc is not None
            pin(sim.proc.pid, TARGET_CORE)
            yield Target("simulator", f"{sim.base_url}/binance", sim.base_url + PATH, sim.proc.pid)


def run(rounds: int = 5, warmup_s: float = 1.0, window_s: float = 5.0) -> dict[str, Any]:
    per_round: dict[str, list[float]] = {"bare": [], "poller": [], "seed": [], "wrk": []}
    target_share: list[float] = []
    target_share_wrk: list[float] = []
    with fast_target() as target:
        for _ in range(rounds):
            bare = run_locust("bench/locust_bare.py", "BareTickerUser", target.host, CONCURRENCY, CONCURRENCY,
                              warmup_s, window_s, target_pid=target.pid)
            poller = run_locust("bench/locust_poller.py", "TickerPoller", target.host, CONCURRENCY, CONCURRENCY,
                                warmup_s, window_s, extra_args=["--symbols", "BTCUSDT"], target_pid=target.pid)
            seed = seed_aiohttp(target.ticker_url, warmup_s, window_s)
            target_cpu_s = cpu_seconds(target.pid)
            wrk = run_wrk(target.ticker_url, window_s, CONCURRENCY)
            if wrk is not None:
                target_share_wrk.append((cpu_seconds(target.pid) - target_cpu_s) / wrk.wall_s)
            if poller.delta("failures") or bare.delta("failures") or seed.delta("failures"):
                raise BenchError(f"requests to {target.name} failed: the comparison would not be like for like")
            per_round["bare"].append(bare.per_cpu_s())
            per_round["poller"].append(poller.per_cpu_s())
            per_round["seed"].append(seed.per_cpu_s())
            target_share.append(poller.target_cpu_share())
            if wrk is not None:
                per_round["wrk"].append(wrk.per_cpu_s)
    poller_rates = per_round["poller"]

    def ratio_to(other: str) -> float | None:
        """The poller over `other`, round by round; the median."""
        values = per_round[other]
        return round(median([p / o for p, o in zip(poller_rates, values, strict=True)]), 3) if values else None

    return {
        "rest_poller_vs_bare": ratio_to("bare"),
        "rest_poller_vs_seed_aiohttp": ratio_to("seed"),
        "rest_poller_vs_wrk": ratio_to("wrk"),
        "rest_per_cpu_s": {name: round(median(values)) for name, values in per_round.items() if values},
        "rest_target": target.name,
        "rest_target_cpu_share_under_poller": round(median(target_share), 2),
        "rest_target_cpu_share_under_wrk": round(median(target_share_wrk), 2) if target_share_wrk else None,
        "rest_rounds": rounds,
        "rest_window_s": window_s,
        "rest_note": None if per_round["wrk"] else NO_WRK,
    }
