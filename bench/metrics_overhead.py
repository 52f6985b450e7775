"""What serving the Prometheus metrics costs the generator: requests per generator CPU-second of the suite's REST
user (bench/locust_poller.py) with `--metrics-port` on and scraped once a second, over the same with metrics off.
Each round runs both, in turn, against the same target; the ratio is taken within a round, the median over rounds.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.harness import BenchError, free_port, median, run_locust
from bench.rest_generators import CONCURRENCY, fast_target

SCRAPE_INTERVAL_S = 1.0  # as a Prometheus scraping each second


@contextmanager
def scraper(port: int) -> Iterator[list[int]]:
    """GET /metrics on `port` every second while the block runs; the sizes of the answers received."""
    sizes: list[int] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(SCRAPE_INTERVAL_S):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    sizes.append(len(r.read()))
            except OSError:
                pass  # not up yet, or already gone: the run is what is measured, not the scraper

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield sizes
    finally:
        stop.set()
        thread.join()


def run(rounds: int = 5, warmup_s: float = 1.0, window_s: float = 5.0) -> dict[str, Any]:
    on_rates: list[float] = []
    off_rates: list[float] = []
    scrapes = 0
    with fast_target() as target:
        for _ in range(rounds):
            off = run_locust("bench/locust_poller.py", "TickerPoller", target.host, CONCURRENCY, CONCURRENCY,
                             warmup_s, window_s, extra_args=["--symbols", "BTCUSDT"], target_pid=target.pid)
            port = free_port()
            with scraper(port) as sizes:
                on = run_locust("bench/locust_poller.py", "TickerPoller", target.host, CONCURRENCY, CONCURRENCY,
                                warmup_s, window_s, extra_args=["--symbols", "BTCUSDT", "--metrics-port", str(port)],
                                target_pid=target.pid)
            if not sizes:
                raise BenchError("metrics overhead: no scrape of /metrics succeeded during the run")
            if on.delta("failures") or off.delta("failures"):
                raise BenchError(f"requests to {target.name} failed: the comparison would not be like for like")
            scrapes += len(sizes)
            on_rates.append(on.per_cpu_s())
            off_rates.append(off.per_cpu_s())
    return {
        "metrics_on_vs_off": round(median([a / b for a, b in zip(on_rates, off_rates, strict=True)]), 3),
        "metrics_per_cpu_s": {"on": round(median(on_rates)), "off": round(median(off_rates))},
        "metrics_scrapes": scrapes,
        "metrics_rounds": rounds,
        "metrics_window_s": window_s,
    }
