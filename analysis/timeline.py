"""Per-second series derived from the loaded tables, and which exchange a Locust entry belongs to."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from analysis.load import RunData
from exchanges import NAMES as KNOWN_EXCHANGES
from loadgen.users.ws_order_rows import EVENT_ROW, LOST_ORDER_EVENT
from loadgen.users.ws_order_rows import REQUEST_TYPE as WS_ORDER_TYPE

WS_TYPE = "WS"  # the suite's request type for WebSocket connects, messages and drops
# REST requests are the entries with an HTTP method; other types (WS, and the suite's bookkeeping rows
# such as PACE late starts or BREAKER transitions) are not requests sent to the exchange's REST API.
REST_TYPES = ("GET", "POST", "PUT", "DELETE", "PATCH")
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


def split_name(name: str, exchanges: Iterable[str]) -> tuple[str | None, str]:
    """(the exchange a Locust entry belongs to, its name without that exchange's prefix).

    A name prefixed with an exchange ("coinbase:ticker", "kraken/Depth", "binance open") belongs to that
    exchange, as side-by-side runs name every row; any other name belongs to the run's exchange when there
    is exactly one, else to none."""
    known = list(dict.fromkeys([*exchanges, *KNOWN_EXCHANGES]))
    lowered = name.lower()
    for exchange in known:
        for separator in NAME_SEPARATORS:
            prefix = f"{exchange.lower()}{separator}"
            if lowered.startswith(prefix) and len(name) > len(prefix):
                return exchange, name[len(prefix):]
    run_side = list(dict.fromkeys(exchanges))
    return (run_side[0] if len(run_side) == 1 else None), name


def exchange_of(name: str, exchanges: Iterable[str]) -> str | None:
    """The exchange a Locust entry name belongs to (see `split_name`)."""
    return split_name(name, exchanges)[0]


def entry_exchanges(names: Iterable[str], exchanges: list[str]) -> dict[str, str | None]:
    """`exchange_of` for each distinct name (a few dozen), to map whole columns at once."""
    return {name: exchange_of(name, exchanges) for name in dict.fromkeys(names)}


def base_names(names: Iterable[str], exchanges: list[str]) -> dict[str, str]:
    """Each distinct name without its exchange's prefix ("binance:connect" -> "connect")."""
    return {name: split_name(name, exchanges)[1] for name in dict.fromkeys(names)}


def is_ws(types: pd.Series) -> pd.Series:
    return types.eq(WS_TYPE)  # compares codes, not strings, on the history's categorical column


def is_rest(types: pd.Series) -> pd.Series:
    return types.isin(REST_TYPES)


def is_ws_order_request(types: pd.Series, names: pd.Series) -> pd.Series:
    """Rows of requests sent over a WebSocket order API (orders, session requests): its rows but the order events
    and the lost-event count (`loadgen.users.ws_order_rows`)."""
    names = names.astype(str)
    events = names.str.contains(EVENT_ROW.format(""), regex=False) | names.str.endswith(LOST_ORDER_EVENT)
    return types.astype(str).eq(WS_ORDER_TYPE) & ~events


def seconds(data: RunData) -> pd.RangeIndex:
    """Every second of the run, from Locust's first history row to its last."""
    return pd.RangeIndex(int(data.start_s), int(data.end_s) + 1, name="t")


def users_per_second(data: RunData) -> pd.Series:
    return data.users.reindex(seconds(data)).ffill().fillna(0)


def entry_deltas(history: pd.DataFrame) -> pd.DataFrame:
    """The history with per-row increments: `d_requests`, `d_failures` and `d_total_ms` (response time added)."""
    keys = [history["type"], history["name"]]
    total_ms = history["avg_ms"] * history["requests"]
    return history.assign(
        d_requests=history["requests"].groupby(keys, observed=True).diff().fillna(history["requests"]).clip(lower=0),
        d_failures=history["failures"].groupby(keys, observed=True).diff().fillna(history["failures"]).clip(lower=0),
        d_total_ms=total_ms.groupby(keys, observed=True).diff().fillna(total_ms),
    )


def per_second(frame: pd.DataFrame, column: str, rows: pd.Series, index: pd.RangeIndex) -> pd.Series:
    """`column` summed per second over the `rows` of `frame`, with 0 for seconds without any."""
    values = frame[column].where(rows, 0.0)
    return values.groupby(frame["t"]).sum().reindex(index, fill_value=0).astype(float)


def rest_seconds(data: RunData, deltas: pd.DataFrame) -> pd.DataFrame:
    """REST requests, failures and summed response time per second, as Locust counted them."""
    index = seconds(data)
    rest = is_rest(deltas["type"])
    return pd.DataFrame({
        "requests": per_second(deltas, "d_requests", rest, index),
        "failures": per_second(deltas, "d_failures", rest, index),
        "total_ms": per_second(deltas, "d_total_ms", rest, index),
        "users": users_per_second(data),
    })


def trailing_mean(series: pd.Series, window_s: int) -> pd.Series:
    """Mean per second over the trailing `window_s` seconds (fewer at the start of the run)."""
    return series.rolling(window_s, min_periods=1).sum() / np.minimum(np.arange(1, len(series) + 1), window_s)
