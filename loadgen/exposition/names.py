"""The metrics' fixed parts, without Locust (the tests that check a scrape import them): the name prefix, the
histograms' bucket bounds and the failure kinds."""

from __future__ import annotations

from exchanges.base import FailureKind

PREFIX = "exchange_stress_"
# Histogram bucket upper bounds in milliseconds (exposed in seconds). Locust keeps latencies rounded to
# about 2 significant digits (1 ms below 100 ms, 10 ms below 1 s, 100 ms below 10 s), so these bounds,
# fixed and coarser than that, lose nothing more than the bucket a value falls in.
BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
UNCLASSIFIED = "unclassified"  # a failure text without one of the FailureKind prefixes
KINDS = frozenset(k.value for k in FailureKind)


def failure_kind(error: str) -> str:
    """The failure kind that prefixes a Locust error text ("rate_limited: HTTP 429" -> rate_limited)."""
    head, sep, _ = error.strip().partition(":")
    return head if sep and head in KINDS else UNCLASSIFIED
