"""`make bench`: run every benchmark, print a table, write bench/results/latest.json and a dated copy.

    python -m bench [--only rest,sim,ws,orders,capacity,analysis,metrics] [--wait-quiet SECONDS]

`--wait-quiet` first waits (at most that long, not counted in the run) for the 1-minute load average to
fall below 1.0: the machine is shared, and the figures are steadier on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import analysis_speed, metrics_overhead, rest_generators, sim_vs_worker, ws_benchmarks
from bench.harness import load_average, wait_for_quiet

RESULTS = Path(__file__).resolve().parent / "results"
QUIET_LOAD = 1.0


def analysis() -> dict[str, Any]:
    """The 24-hour, 20-endpoint analysis, timed by bench/analysis_speed.py."""
    figures = analysis_speed.run()
    return {"analysis_24h_s": figures["analysis_elapsed_s"], **figures}


BENCHMARKS: dict[str, Callable[[], dict[str, Any]]] = {
    "rest": rest_generators.run,
    "sim": sim_vs_worker.run,
    "ws": ws_benchmarks.throughput,
    "orders": ws_benchmarks.orders,
    "capacity": ws_benchmarks.capacity,
    "analysis": analysis,
    "metrics": metrics_overhead.run,
}
# (key, goal, whether the value must be at least the goal (else at most)), in the order
GOALS: tuple[tuple[str, float | None, bool], ...] = (
    ("rest_poller_vs_bare", 0.90, True),
    ("rest_poller_vs_seed_aiohttp", 1.25, True),
    ("rest_poller_vs_wrk", None, True),
    ("ws_max_subscribers", 10_000, True),
    ("ws_rss_mb", 1_500, False),
    ("ws_accounted_vs_bare", 0.80, True),
    ("ws_orders_per_cpu_s", None, True),
    ("ws_orders_vs_bare", 0.80, True),
    ("sim_vs_worker", 1.5, True),
    ("sim_vs_worker_ws", 1.5, True),
    ("analysis_24h_s", 5.0, False),
    ("metrics_on_vs_off", 0.95, True),
)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "system": platform.system()}


def goals(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, goal, at_least in GOALS:
        value = figures.get(key)
        met = None if goal is None or value is None else (value >= goal if at_least else value <= goal)
        out[key] = {"value": value, "goal": None if goal is None else f"{'>=' if at_least else '<='} {goal:g}",
                    "met": met}
    return out


def print_table(checked: dict[str, dict[str, Any]]) -> None:
    width = max(len(k) for k in checked)
    print(f"{'figure':<{width}}  {'value':>10}  {'goal':>9}  met")
    for key, row in checked.items():
        met = {True: "yes", False: "NO", None: "-"}[row["met"]]
        value = "-" if row["value"] is None else row["value"]
        print(f"{key:<{width}}  {value:>10}  {row['goal'] or '-':>9}  {met}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated: " + ", ".join(BENCHMARKS))
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    if args.wait_quiet > 0:
        wait_for_quiet(QUIET_LOAD, args.wait_quiet)
    started = time.time()
    figures: dict[str, Any] = {}
    loads: dict[str, list[float]] = {}
    for name in chosen:
        before = load_average()
        figures.update(BENCHMARKS[name]())
        loads[name] = [round(before, 2), round(load_average(), 2)]
        print(f"{name}: done in {time.time() - started:.0f} s", flush=True)
    checked = goals(figures)
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), **figures, "goals": checked,
              "load_1m_before_after": loads, "elapsed_s": round(time.time() - started, 1)}
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(report, indent=2) + "\n"
    (RESULTS / "latest.json").write_text(text)
    (RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text)
    print_table({k: v for k, v in checked.items() if k in figures})
    print(f"written: {RESULTS / 'latest.json'} ({report['elapsed_s']:.0f} s)")


if __name__ == "__main__":
    main()
