"""A seed-style asyncio/aiohttp load tester, the kind this suite replaces (the seed's test_concurrent):
one ClientSession, a semaphore bounding concurrency, tasks created in batches and gathered, each
request timed, its status sorted into counters and a 200's JSON parsed.

    python -m bench.seed_aiohttp URL --concurrency 10 --warmup 1 --window 5 --out FILE

After `--warmup` seconds it measures for `--window` seconds (wall time, this process's CPU time via
psutil, requests completed) and writes that as JSON to `--out`, in the form bench/meter.py writes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import psutil


class SeedStyleTester:
    """The seed's ExchangeStressTester, reduced to one endpoint and no target rate (as fast as it goes)."""

    def __init__(self, url: str, concurrency: int) -> None:
        self.url = url
        self.concurrency = concurrency
        self.results: dict[str, Any] = {"success": 0, "failed": 0, "errors": defaultdict(int), "latencies": [],
                                        "rate_limit_hits": 0}
        self.running = True

    @property
    def completed(self) -> int:
        return self.results["success"] + self.results["failed"]

    async def make_request(self, session: aiohttp.ClientSession, sem: asyncio.Semaphore) -> Any:
        async with sem:
            start = time.time()
            try:
                async with session.get(self.url, timeout=aiohttp.ClientTimeout(total=10)) as response:
                    self.results["latencies"].append((time.time() - start) * 1000)
                    if response.status == 200:
                        self.results["success"] += 1
                        return await response.json()
                    if response.status == 429:
                        self.results["rate_limit_hits"] += 1
                    self.results["errors"][f"HTTP_{response.status}"] += 1
                    self.results["failed"] += 1
            except Exception as e:
                self.results["errors"][type(e).__name__] += 1
                self.results["failed"] += 1
            return None

    async def run(self) -> None:
        sem = asyncio.Semaphore(self.concurrency)
        async with aiohttp.ClientSession() as session:
            while self.running:
                tasks = [asyncio.create_task(self.make_request(session, sem)) for _ in range(self.concurrency * 10)]
                await asyncio.gather(*tasks, return_exceptions=True)


def snapshot(tester: SeedStyleTester, process: psutil.Process) -> dict[str, float]:
    times = process.cpu_times()
    return {"wall_s": time.perf_counter(), "cpu_s": times.user + times.system, "count": tester.completed,
            "failures": tester.results["failed"]}


async def measure(url: str, concurrency: int, warmup_s: float, window_s: float) -> dict[str, dict[str, float]]:
    tester = SeedStyleTester(url, concurrency)
    process = psutil.Process()
    load = asyncio.create_task(tester.run())
    await asyncio.sleep(warmup_s)
    start = snapshot(tester, process)
    await asyncio.sleep(window_s)
    end = snapshot(tester, process)
    tester.running = False
    await load
    return {"start": start, "end": end}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.seed_aiohttp", description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    report = asyncio.run(measure(args.url, args.concurrency, args.warmup, args.window))
    args.out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
