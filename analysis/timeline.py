"""Per-second series derived from the loaded tables, and which exchange a Locust entry belongs to."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from analysis.load import RunData
from exchanges import NAMES as KNOWN_EXCHANGES

WS_TYPE = "WS"  # the suite's request type for WebSocket connects, messages and drops
PERCENTILE_WINDOW_S = 10  # Locust's --csv-full-history percentiles cover the last ~10 s
NAME_SEPARATORS = (":", "/", " ", ".")


def run_exchanges(data: RunData) -> list[str]:
    """The exchanges in the run: run.json's, then those the suite recorded, in a stable order."""
    named = data.manifest.get("exchanges") or data.manifest.get("exchange") or []
    found = [named] if isinstance(named, str) else [str(n) for n in named]
    if data.exchange_history is not None:
        found += data.exchange_history["exchange"].unique().tolist()
    found += list(data.exchange_totals)
    return list(dict.fromkeys(found))


def exchange_of(name: str, exchanges: Iterable[str]) -> str | None:
    """The exchange a Locust entry name belongs to.

    A name prefixed with an exchange ("coinbase:ticker", "kraken/Depth") belongs to that exchange;
    any other name belongs to the run's exchange when there is exactly one, else to none."""
    known = list(dict.fromkeys([*exchanges, *KNOWN_EXCHANGES]))
    lowered = name.lower()
    for exchange in known:
        if any(lowered.startswith(f"{exchange.lower()}{sep}") for sep in NAME_SEPARATORS):
            return exchange
    run_side = list(dict.fromkeys(exchanges))
    return run_side[0] if len(run_side) == 1 else None


def entry_exchanges(names: Iterable[str], exchanges: list[str]) -> dict[str, str | None]:
    """`exchange_of` for each distinct name (a few dozen), to map whole columns at once."""
    return {name: exchange_of(name, exchanges) for name in dict.fromkeys(names)}


def is_ws(types: pd.Series) -> pd.Series:
    return types.astype(str) == WS_TYPE


def seconds(data: RunData) -> pd.RangeIndex:
    """Every second of the run, from Locust's first history row to its last."""
    return pd.RangeIndex(int(data.start_s), int(data.end_s) + 1, name="t")


def users_per_second(data: RunData) -> pd.Series:
    return data.users.reindex(seconds(data)).ffill().fillna(0)


def entry_deltas(history: pd.DataFrame) -> pd.DataFrame:
    """The history with per-row increments: `d_requests`, `d_failures` and `d_total_ms` (response time added)."""
    frame = history.copy()
    grouped = frame.groupby(["type", "name"], observed=True, sort=False)
    total_ms = frame["avg_ms"] * frame["requests"]
    frame["d_requests"] = grouped["requests"].diff().fillna(frame["requests"]).clip(lower=0)
    frame["d_failures"] = grouped["failures"].diff().fillna(frame["failures"]).clip(lower=0)
    frame["d_total_ms"] = total_ms.groupby([frame["type"], frame["name"]], observed=True).diff().fillna(total_ms)
    return frame


def per_second(frame: pd.DataFrame, column: str, index: pd.RangeIndex) -> pd.Series:
    """`column` summed per second over the rows of `frame`, with 0 for seconds without rows."""
    return frame.groupby("t")[column].sum().reindex(index, fill_value=0).astype(float)


def rest_seconds(data: RunData, deltas: pd.DataFrame) -> pd.DataFrame:
    """REST requests, failures and summed response time per second, as Locust counted them."""
    index = seconds(data)
    rest = deltas.loc[~is_ws(deltas["type"])]
    return pd.DataFrame({
        "requests": per_second(rest, "d_requests", index),
        "failures": per_second(rest, "d_failures", index),
        "total_ms": per_second(rest, "d_total_ms", index),
        "users": users_per_second(data),
    })


def trailing_mean(series: pd.Series, window_s: int) -> pd.Series:
    """Mean per second over the trailing `window_s` seconds (fewer at the start of the run)."""
    return series.rolling(window_s, min_periods=1).sum() / np.minimum(np.arange(1, len(series) + 1), window_s)
