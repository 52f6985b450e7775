"""The measuring side of the benchmarks' Locust runs, imported by their locustfiles.

Once every user is spawned (and, with `BENCH_SETTLE_KEY`, once that sampled figure has reached
`BENCH_SETTLE_VALUE`, waiting at most `BENCH_SETTLE_MAX_S`) it waits `BENCH_WARMUP_S`, then measures for
`BENCH_WINDOW_S`: wall time,
this process's CPU time (psutil: user + system), the requests (or messages) Locust counted, and
optionally the CPU time of a target process (`BENCH_TARGET_PID`, e.g. the simulator). It writes what
it saw as JSON to `BENCH_METER_FILE` and ends the run. Without `BENCH_METER_FILE` it does nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import psutil
from locust import events
from locust.env import Environment

Sampler = Callable[[Environment], dict[str, float]]
_samplers: list[Sampler] = []


def add_sampler(sampler: Sampler) -> None:
    """Have `sampler(environment)` add figures (e.g. connections open, RSS) at both ends of the window."""
    _samplers.append(sampler)


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def snapshot(environment: Environment, target: psutil.Process | None) -> dict[str, float]:
    figures: dict[str, float] = {
        "wall_s": time.perf_counter(),
        "cpu_s": cpu_seconds(psutil.Process()),
        "count": environment.stats.total.num_requests,
        "failures": environment.stats.total.num_failures,
    }
    if target is not None:
        figures["target_cpu_s"] = cpu_seconds(target)
    for sampler in _samplers:
        figures.update(sampler(environment))
    return figures


def settle(environment: Environment, key: str, value: float, limit_s: float) -> float:
    """Wait until the sampled figure `key` reaches `value` (at most `limit_s`); return the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        if snapshot(environment, None).get(key, 0) >= value:
            break
        gevent.sleep(0.5)
    return time.perf_counter() - started


def _measure(environment: Environment, out: Path, warmup_s: float, window_s: float) -> None:
    pid = os.environ.get("BENCH_TARGET_PID")
    target = psutil.Process(int(pid)) if pid else None
    settled_s = 0.0
    if key := os.environ.get("BENCH_SETTLE_KEY"):
        limit_s = float(os.environ.get("BENCH_SETTLE_MAX_S", "60"))
        settled_s = settle(environment, key, float(os.environ["BENCH_SETTLE_VALUE"]), limit_s)
    gevent.sleep(warmup_s)
    start = snapshot(environment, target)
    gevent.sleep(window_s)
    end = snapshot(environment, target)
    report: dict[str, Any] = {"start": start, "end": end, "settled_s": settled_s}
    out.write_text(json.dumps(report))
    assert environment.runner is not None
    environment.runner.quit()


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    path = os.environ.get("BENCH_METER_FILE")
    if not path:
        return
    warmup_s = float(os.environ.get("BENCH_WARMUP_S", "1"))
    window_s = float(os.environ.get("BENCH_WINDOW_S", "5"))
    started = False

    def on_spawned(**_: Any) -> None:
        nonlocal started
        if not started:
            started = True
            gevent.spawn(_measure, environment, Path(path), warmup_s, window_s)

    environment.events.spawning_complete.add_listener(on_spawned)
