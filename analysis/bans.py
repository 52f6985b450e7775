"""Bans and Retry-After from the per-second rate-limit and ban answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

LATE_ANSWER_S = 1  # rate-limit answers more than this after the first of their episode were sent while told to wait


def episodes(active: pd.Series, sent: pd.Series, max_gap_s: int = 0) -> list[tuple[int, int]]:
    """(first, last) seconds of runs of active seconds; seconds with nothing sent do not end a run,
    nor do up to `max_gap_s` seconds that were sent in but not active."""
    observed = active[(sent > 0) | active]
    flags = observed.to_numpy()
    times = observed.index.to_numpy()[flags]
    if len(times) == 0:
        return []
    inactive = observed.index.to_numpy()[~flags]  # sorted: seconds sent in without the condition
    between = np.searchsorted(inactive, times[1:]) - np.searchsorted(inactive, times[:-1], side="right")
    breaks = np.flatnonzero(between > max_gap_s) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks - 1, [len(times) - 1]))
    return [(int(times[s]), int(times[e])) for s, e in zip(starts, ends, strict=True)]


def ban_episodes(frame: pd.DataFrame, start_s: float, end_s: float) -> list[dict[str, Any]]:
    """Each ban as the client saw it: from its first refused request to its last (1 s resolution). A second
    with rate-limit answers inside a run of banned seconds means one ban ended and the next began there."""
    result = []
    for first, last in split_at(episodes(frame["banned"] > 0, frame["requests"]), frame["rate_limited"] > 0):
        result.append({
            "start_s": round(first - start_s, 1),
            "length_s": last - first + 1,
            "answers": int(frame.loc[first:last, "banned"].sum()),
            "until_end_of_run": last >= int(end_s) - 1,
        })
    return result


def split_at(spans: list[tuple[int, int]], boundary: pd.Series) -> list[tuple[int, int]]:
    """`spans` cut before every second (other than a span's first) where `boundary` holds."""
    cuts = boundary.index.to_numpy()[boundary.to_numpy()]
    result = []
    for first, last in spans:
        inner = cuts[(cuts > first) & (cuts <= last)]
        starts = [first, *inner.tolist()]
        ends = [*(s - 1 for s in inner.tolist()), last]
        result += list(zip(starts, ends, strict=True))
    return result


def retry_after_behaviour(frame: pd.DataFrame) -> dict[str, Any]:
    """Whether the client stopped sending when told to wait: rate-limit answers that came more than
    LATE_ANSWER_S after the first answer of their episode were sent after it."""
    limited = frame["rate_limited"] + frame["banned"]
    spans = episodes(limited > 0, frame["requests"], max_gap_s=1)
    cumulative = limited.cumsum()
    late = sum(int(cumulative.loc[last] - cumulative.loc[first + LATE_ANSWER_S]) for first, last in spans
               if last > first + LATE_ANSWER_S)
    total = int(limited.sum())
    waits = int(frame["retry_after_waits"].sum())
    honoured = None if total == 0 else bool(late <= 0.05 * total and frame["banned"].sum() == 0)
    return {
        "honoured": honoured,
        "episodes": len(spans),
        "answers_after_told_to_wait": late,
        "client_waits": waits,
        "client_wait_s": round(float(frame["retry_after_wait_s"].sum()), 1),
    }
