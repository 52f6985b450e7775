"""The limit an exchange enforced, estimated from a run: its window and its value in the exchange's unit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.load import RunData
from analysis.model import Thresholds
from analysis.timeline import entry_deltas, is_rest
from exchanges import get_adapter
from exchanges.base import LimitKind, parse_limit_unit


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """How an exchange counts its limit: `unit` per `interval_s` seconds; `published` where the adapter has it."""

    unit: str
    interval_s: int
    kind: LimitKind
    published: float | None

    def label(self, interval_s: int | None = None) -> str:
        seconds_ = self.interval_s if interval_s is None else interval_s
        return f"{self.unit}/s" if seconds_ == 1 else f"{self.unit}/{seconds_}s"


def limit_spec(exchange: str) -> LimitSpec | None:
    """The exchange's limit as its adapter describes it (`limit_unit`, `limit_kind`); None for unknown exchanges."""
    try:
        adapter = get_adapter(exchange)
    except ValueError:
        return None
    parsed = parse_limit_unit(str(getattr(adapter, "limit_unit", "")))
    if parsed is None:
        return None
    unit, interval_s = parsed
    published = next(
        (float(w.limit) for w in getattr(adapter, "rate_limits", {}).values() if w.interval_s == interval_s), None
    )
    return LimitSpec(unit, interval_s, getattr(adapter, "limit_kind", LimitKind.FIXED_WINDOW), published)


def limit_window(frame: pd.DataFrame, spec: LimitSpec | None, thresholds: Thresholds) -> tuple[int, str]:
    """The limit's window in seconds and where it came from: for fixed windows the used-weight resets seen
    in the run, the client's configured window, or the adapter's; for buckets and counters the adapter's
    rate period; the default sustain window when the exchange is unknown."""
    if spec is not None and spec.kind is not LimitKind.FIXED_WINDOW:
        return spec.interval_s, "adapter"
    resets = window_resets(frame["used_weight_last"])
    if len(resets) >= 2:
        gaps = np.diff(resets)
        return int(pd.Series(gaps).mode().min()), "used-weight resets"
    configured = frame["weight_window_s"].dropna()
    configured = configured[configured > 0]
    if len(configured):
        return int(configured.iloc[-1]), "client --weight-window-s"
    if spec is not None:
        return spec.interval_s, "adapter"
    return thresholds.sustain_window_s, "default"


def window_resets(used: pd.Series) -> np.ndarray:
    """Seconds at which the reported used weight dropped: a new limit window began."""
    values = used.dropna()
    drops = values.to_numpy()[1:] < values.to_numpy()[:-1]
    return values.index.to_numpy()[1:][drops]


# --- Max safe rate and the effective limit ----------------------------------------------------------


def estimate_limit(
    frame: pd.DataFrame, spec: LimitSpec | None, window_s: int, has_usage: bool
) -> dict[str, Any] | None:
    """The limit the exchange enforced, in its own unit.

    From used-weight headers where present: in each limit window the highest used weight at its first
    rate-limit answer, less the weight of the rejected requests in that second (they are charged too;
    each counted at the mean weight of the unthrottled seconds), never below the highest used weight
    seen on a clean second. Otherwise from what was accepted while
    throttled: per saturated fixed window, or per second for buckets and decaying counters. Units other
    than weight count each request as 1."""
    unit = spec.unit if spec is not None else "requests"
    per_request = frame["weight_requested"] / frame["requests"].where(frame["requests"] > 0)
    if unit != "weight" or frame["weight_requested"].isna().all():
        per_request = pd.Series(1.0, index=frame.index)
        unit = "requests" if unit == "weight" else unit
    if has_usage and unit == "weight":
        value, during_bans = limit_from_usage(frame, per_request)
        method = "used-weight headers" + (" (only seconds with bans: rough)" if during_bans else "")
    elif spec is None or spec.kind is LimitKind.FIXED_WINDOW:
        value = limit_from_saturated_windows(frame, per_request, window_s)
        method = "accepted per saturated window"
    else:
        value = limit_from_throttled_seconds(frame, per_request) * window_s
        method = "accepted per second while throttled"
    if value is None or not np.isfinite(value):
        return None
    label = f"{unit}/s" if window_s == 1 else f"{unit}/{window_s}s"
    return {"value": round(float(value), 1), "unit": label, "method": method, "window_s": window_s}


def limit_from_usage(frame: pd.DataFrame, per_request: pd.Series) -> tuple[float | None, bool]:
    """(estimate, whether it rests on a second with bans). Only windows up to the first ban are used:
    after a ban a client's traffic is skewed (retries, book snapshots), and so is the rejected weight."""
    used_last, used_max = frame["used_weight_last"], frame["used_weight_max"]
    window_id = pd.Series(0, index=frame.index)
    window_id.loc[window_resets(used_last)] = 1
    window_id = window_id.cumsum()
    throttled = (frame["rate_limited"] > 0) & used_max.notna()
    if not throttled.any():
        return None, False
    first = frame.index[throttled].to_series().groupby(window_id[throttled]).min().to_numpy()
    bans = frame.index[frame["banned"] > 0]
    if len(bans):
        first = first[first <= bans[0]]
    during_bans = bool((frame.loc[first, "banned"] > 0).any())
    clean = (frame["rate_limited"] == 0) & (frame["banned"] == 0)
    # The refused requests' weight: the mean weight of the mix while nothing was refused. (That second's own
    # mean is skewed by whatever heavy requests it also carried, e.g. start-up or book snapshots.)
    clean_requests = frame.loc[clean, "requests"].sum()
    usual = frame.loc[clean, "weight_requested"].sum() / clean_requests if clean_requests else np.nan
    rejected_weight = per_request[first].fillna(1.0) if pd.isna(usual) else usual
    estimates = used_max[first] - frame["rate_limited"][first] * rejected_weight
    floor = used_max[clean].max()
    value = float(estimates.median())
    return (max(value, float(floor)) if pd.notna(floor) else value), during_bans


def limit_from_saturated_windows(frame: pd.DataFrame, per_request: pd.Series, window_s: int) -> float | None:
    """Units accepted per full window that refused some (and banned none), the median over such windows. Only
    the endpoints that draw on the limit count, when Locust's per-endpoint history tells them apart."""
    accepted = frame.get("accepted_limited_endpoints")
    if accepted is None or accepted.isna().all():
        accepted = accepted_units(frame, per_request)
    window_id = frame.index.to_numpy() // window_s  # fixed windows aligned to the epoch, as Binance counts
    grouped = pd.DataFrame({"accepted": accepted, "limited": frame["rate_limited"], "banned": frame["banned"],
                            "seconds": 1}).groupby(window_id)
    windows = grouped.sum()
    full = windows["seconds"] == window_s
    saturated = windows.loc[full & (windows["limited"] > 0) & (windows["banned"] == 0), "accepted"]
    return float(saturated.median()) if len(saturated) else None


def limit_from_throttled_seconds(frame: pd.DataFrame, per_request: pd.Series) -> float | None:
    """Units accepted per second while the bucket was empty (the first second of each throttled span,
    which also spends what was left of the burst, is left out). Only the endpoints that were refused
    count, when Locust's per-endpoint history tells them apart: others may be limited separately
    (Kraken counts Trades and OHLC per pair)."""
    throttled = (frame["rate_limited"] > 0) & (frame["banned"] == 0)
    steady = throttled & throttled.shift(fill_value=False)
    if not steady.any():
        steady = throttled
    if not steady.any():
        return None
    accepted = frame.get("accepted_limited_endpoints")
    if accepted is None or accepted.isna().all():
        accepted = accepted_units(frame, per_request)
    return float(accepted[steady].mean())


def accepted_units(frame: pd.DataFrame, per_request: pd.Series) -> pd.Series:
    rejected = frame["rate_limited"] + frame["banned"]
    return ((frame["requests"] - rejected).clip(lower=0) * per_request.fillna(0)).fillna(0)


def accepted_on(data: RunData, endpoints: dict[str, int], index: pd.Index) -> pd.Series:
    """Successful requests per second on `endpoints`, from Locust's per-endpoint history (NaN without it)."""
    if not data.full_history or not endpoints:
        return pd.Series(np.nan, index=index)
    deltas = entry_deltas(data.history)
    rows = is_rest(deltas["type"]) & deltas["name"].isin(list(endpoints))
    ok = (deltas["d_requests"] - deltas["d_failures"]).where(rows, 0.0)
    return ok.groupby(deltas["t"]).sum().reindex(index, fill_value=0.0)
