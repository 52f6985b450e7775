"""`make bench`: run the benchmarks, print a table, write bench/results/latest.json and a dated copy."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from bench import sim_vs_worker

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "system": platform.system()}


def main() -> None:
    started = time.time()
    figures = sim_vs_worker.run()
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), **figures,
              "elapsed_s": round(time.time() - started, 1)}
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(report, indent=2) + "\n"
    (RESULTS / "latest.json").write_text(text)
    (RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text)
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    print(f"written: {RESULTS / 'latest.json'}")


if __name__ == "__main__":
    main()
