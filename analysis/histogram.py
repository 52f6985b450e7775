"""Percentiles from Locust's response-time histograms ({bucket_ms: count}), computed as Locust does.

The one implementation: the load generator's gates and live view use it too, so every figure agrees."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

PERCENTILES = (0.5, 0.95, 0.99)


def percentile(histogram: Mapping[float, int], fraction: float) -> float | None:
    """The response time below which `fraction` of the timed samples fall; None without samples.

    Locust's own rule (stats.calculate_response_time_percentile), so the figures match its reports."""
    total = sum(histogram.values())
    if total == 0:
        return None
    wanted = int(total * fraction)
    processed = 0
    for bucket in sorted(histogram, reverse=True):
        processed += histogram[bucket]
        if total - processed <= wanted:
            return float(bucket)
    return 0.0


def percentiles(histogram: Mapping[float, int]) -> dict[str, float | None]:
    """p50, p95, p99 and max of a histogram, keyed "p50", "p95", "p99", "max"."""
    result = {f"p{round(p * 100)}": percentile(histogram, p) for p in PERCENTILES}
    result["max"] = max(histogram) if histogram and sum(histogram.values()) else None
    return result


def merge(histograms: Iterable[Mapping[float, int]]) -> dict[float, int]:
    """Several entries' histograms as one (exact: Locust's buckets are shared)."""
    total: Counter[float] = Counter()
    for histogram in histograms:
        total.update(histogram)
    return dict(total)
