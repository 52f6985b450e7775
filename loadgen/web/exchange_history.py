"""The Exchange tab's charts' data (`GET /exchange/history`): per exchange over the last minutes of the run,
from the view's once-a-second history of the cumulative counters and the latency histogram's growth.

The points are grouped into at most `MAX_POINTS` intervals of whole seconds. Each point covers one interval,
exactly: rates are the counters' growth over it divided by its length, 429s and 418s are the answers in it,
and the event-latency p95 is the p95 of the events received in it (their histograms merged: a windowed
figure, never the run's cumulative one). Used weight is the exchange's own count at
its highest in the interval, and the weight sent in the exchange's window ending at the interval's end (our
estimate of the same count, from the requests' published weights).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from analysis.histogram import merge, percentile
from loadgen.web.exchange_view import HistoryPoint

MAX_POINTS = 120
LATENCY_PERCENTILE = 0.95


def interval_s(points: Sequence[HistoryPoint], min_interval_s: float) -> int:
    """The intervals' length in whole seconds: at least `min_interval_s`, long enough for `MAX_POINTS` chart points."""
    span = points[-1].at - points[0].at if len(points) > 1 else 0.0
    return max(math.ceil(min_interval_s), math.ceil(span / MAX_POINTS))


def boundaries(points: Sequence[HistoryPoint], step_s: int) -> list[int]:
    """Indices of the points that start and end the intervals: the newest last, then one every
    `step_s` seconds back (by the points' clock: a late one ends its interval late, never lost)."""
    picked = [len(points) - 1]
    for i in range(len(points) - 2, -1, -1):
        if points[picked[-1]].at - points[i].at >= step_s - 0.5:  # sampling jitter: a whole second is ~1.0 s
            picked.append(i)
    return picked[::-1]


def history(points: Sequence[HistoryPoint], min_interval_s: float = 1.0) -> dict[str, Any]:
    """The charts' JSON: the interval, and per exchange its limit and one list per series, oldest first."""
    if len(points) < 2:
        return {"interval_s": None, "latency": _latency_label(), "exchanges": []}
    step = interval_s(points, min_interval_s)
    ends = boundaries(points, step)
    names = sorted({name for s in points for name in s.totals})
    return {
        "interval_s": step,
        "latency": _latency_label(),
        "exchanges": [_exchange(name, points, ends) for name in names],
    }


def _latency_label() -> str:
    return f"p{LATENCY_PERCENTILE * 100:g} of the events received in each interval"


def _exchange(name: str, points: Sequence[HistoryPoint], ends: list[int]) -> dict[str, Any]:
    latest = points[-1].totals.get(name, {})
    window_s = latest.get("weight_window_s")
    series: dict[str, list[Any]] = {key: [] for key in (
        "t", "requests_per_s", "ws_messages_per_s", "rate_limited", "banned", "event_latency_p95_ms",
        "used_weight", "sent_weight_per_window")}
    for start, end in pairwise(ends):
        a, b = points[start], points[end]
        seconds = b.at - a.at
        before, after = a.totals.get(name, {}), b.totals.get(name, {})

        def grew(counter: str, before: dict[str, Any] = before, after: dict[str, Any] = after) -> int:
            return (after.get(counter) or 0) - (before.get(counter) or 0)

        used = [s.used_weight[name] for s in points[start + 1:end + 1] if name in s.used_weight]
        p95 = percentile(merge(s.latency.get(name, {}) for s in points[start + 1:end + 1]), LATENCY_PERCENTILE)
        series["t"].append(round(b.wall, 1))
        series["requests_per_s"].append(round(grew("requests") / seconds, 2))
        series["ws_messages_per_s"].append(round(grew("ws_messages") / seconds, 2))
        series["rate_limited"].append(grew("rate_limited"))
        series["banned"].append(grew("banned"))
        series["event_latency_p95_ms"].append(p95)
        series["used_weight"].append(max(used) if used else None)
        series["sent_weight_per_window"].append(_sent_in_window(name, points, end, window_s))
    return {"exchange": name, "weight_limit": latest.get("weight_limit"), "weight_window_s": window_s, **series}


def _sent_in_window(name: str, points: Sequence[HistoryPoint], end: int, window_s: float | None) -> int | None:
    """The weight sent in the `window_s` seconds up to sample `end`; all of it so far while the history does
    not reach back that far (a run younger than the window: the history starts with the test)."""
    if not window_s:
        return None
    at = points[end].at

    def sent(i: int) -> int:
        return points[i].totals.get(name, {}).get("weight_requested") or 0

    base = next((i for i in range(end, -1, -1) if at - points[i].at >= window_s - 0.5), None)
    return sent(end) - (sent(base) if base is not None else 0)
