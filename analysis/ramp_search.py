"""What the ramp scenario's limit search found for an exchange, read from its plateaus (`PREFIX_ramp.csv`).

Only probes are judged long enough to call a rate sustainable (a fixed window's whole window; for buckets and
counters, long enough from an empty bucket), so the max safe rate of a ramp run is the highest clean probe's
achieved rate. The limit itself is what the limit let through while it refused, as the search measured it in
the limit's own units on plateaus well above it (the median of them); failing that, the middle of the bracket
between the highest clean probe and the lowest rate-limited plateau, times what each request draws on the
limit (its weight, or the share of requests that count toward it: see `ExchangeAdapter.counts_toward_limit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.load import RunData
from analysis.timeline import NAME_SEPARATORS, is_ws
from exchanges import get_adapter

CLOSED = 0.05  # the search's own tolerance: the bracket is closed within 5%
USABLE = 0.10  # a bracket this narrow still gives the limit within 5% at its middle
SATURATED = 1.2  # a capacity counts when it was measured at a rate at least this far above it (a full limit)


@dataclass(frozen=True, slots=True)
class SearchResult:
    plateaus: pd.DataFrame  # this exchange's rows of the ramp CSV
    best: pd.Series | None  # the highest clean probe below the lowest limited rate
    lowest_limited_rps: float | None

    @property
    def highest_clean_rps(self) -> float | None:
        return None if self.best is None else float(self.best["target_rps"])

    @property
    def ratio(self) -> float | None:
        lo, hi = self.highest_clean_rps, self.lowest_limited_rps
        return None if lo is None or hi is None or lo <= 0 else hi / lo

    @property
    def max_safe_rps(self) -> float | None:
        if self.best is None or pd.isna(self.best["achieved_rps"]):
            return None
        return round(float(self.best["achieved_rps"]), 2)

    @property
    def max_safe_window_s(self) -> int | None:
        if self.best is None:
            return None
        return round(float(self.best["ended_at"]) - float(self.best["started_at"]))

    def measured_limit(self) -> tuple[float, int] | None:
        """The median capacity (the limit's units per window, or per second for buckets and counters) measured on
        limited plateaus sent well above it, and how many there were."""
        rows = self.plateaus
        saturated = rows.loc[(rows["verdict"] == "rate_limited") & rows["capacity_units"].notna()
                             & (rows["target_rps"] >= SATURATED * rows["capacity_rps"])]
        if saturated.empty:
            return None
        return float(saturated["capacity_units"].median()), len(saturated)

    def summary(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "plateaus": len(self.plateaus),
            "highest_clean_rps": self.highest_clean_rps,
            "lowest_limited_rps": self.lowest_limited_rps,
            "closed": ratio is not None and ratio <= 1 + CLOSED + 1e-9,
        }


def ramp_search(data: RunData, exchange: str) -> SearchResult | None:
    """The search's plateaus for `exchange`; None when the run has none (not a ramp run)."""
    if data.ramp is None:
        return None
    rows = data.ramp.loc[data.ramp["exchange"] == exchange]
    if rows.empty:
        return None
    limited = rows.loc[rows["verdict"] == "rate_limited", "target_rps"]
    hi = float(limited.min()) if len(limited) else None
    clean = rows.loc[(rows["role"] == "probe") & (rows["verdict"] == "clean")]
    if hi is not None:
        clean = clean.loc[clean["target_rps"] < hi]
    best = clean.loc[clean["target_rps"].idxmax()] if len(clean) else None
    return SearchResult(rows, best, hi)


def limit_from_search(result: SearchResult, data: RunData, exchange: str, unit: str,
                      window_s: int) -> float | None:
    """The limit in the exchange's unit per `window_s`, from the middle of a narrow bracket."""
    ratio = result.ratio
    if ratio is None or ratio > 1 + USABLE:
        return None
    lo, hi = result.highest_clean_rps, result.lowest_limited_rps
    assert lo is not None and hi is not None
    if unit == "weight":
        bracket = result.plateaus.loc[result.plateaus["target_rps"].isin([lo, hi]), "weight_per_request"].dropna()
        per_request = float(bracket.mean()) if len(bracket) else None
    else:
        per_request = limit_share(data, exchange)
    if not per_request:
        return None
    return (lo + hi) / 2 * per_request * window_s


def limit_share(data: RunData, exchange: str) -> float | None:
    """The share of the exchange's REST requests that draw on the limit its adapter's `limit_unit` names."""
    try:
        adapter = get_adapter(exchange)
    except ValueError:
        return None
    totals = data.totals.loc[~is_ws(data.totals["type"])]
    counted = drawn = 0
    for row in totals.itertuples():
        endpoint = adapter.endpoints.get(endpoint_name(str(row.name), exchange))
        if endpoint is None:
            continue
        counted += int(row.requests)
        drawn += int(row.requests) if adapter.counts_toward_limit(endpoint) else 0
    return drawn / counted if counted else None


def endpoint_name(name: str, exchange: str) -> str:
    """A Locust entry name without its exchange prefix ("kraken:Ticker" -> "Ticker")."""
    for separator in NAME_SEPARATORS:
        prefix = f"{exchange}{separator}"
        if name.lower().startswith(prefix.lower()):
            return name[len(prefix):]
    return name
