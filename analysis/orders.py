"""The order path per exchange, from the WebSocket order users' rows (`loadgen.users.ws_order_rows`): order->ack
times, order->event lag per order state, orders sent / acknowledged / rejected by reason / lost, and where the
exchange's order-count limit began refusing orders, and that limit's value where the exchange reports its count.

The order row is named after the adapter's `ws_order_method` (or, for orders sent over REST and followed on a feed,
its `feed_order_endpoint`): its requests are the orders sent, its failures the refused or unanswered ones
(classified), its response times order->ack. `order→STATE` rows time each order's first
event in that state; `lost_order_event` counts acknowledged orders never reported on the stream.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from analysis.exchange_rules import adapter_of
from analysis.histogram import merge, percentiles
from analysis.load import RunData
from analysis.model import Thresholds
from analysis.taxonomy import RATE_LIMIT_KINDS, failure_table
from analysis.timeline import base_names, entry_deltas, entry_exchanges, run_exchanges
from exchanges.base import order_row_name
from loadgen.users.ws_order_rows import EVENT_ROW, LOST_ORDER_EVENT, REQUEST_TYPE

EVENT_PREFIX = EVENT_ROW.format("")


def order_method(exchange: str | None) -> str | None:
    """The name of the exchange's order row (`exchanges.base.order_row_name`: its adapter's `ws_order_method`, or
    the REST endpoint whose orders it follows on a feed); None when it has none."""
    adapter = adapter_of(exchange) if exchange else None
    return order_row_name(adapter) if adapter is not None else None


def plain_owner(totals: pd.DataFrame, exchanges: list[str]) -> str | None:
    """The exchange of the order rows without an exchange in their name (a run whose suite knows several
    exchanges but whose order users traded on one): the one exchange whose order row is among them."""
    plain = set(totals.loc[totals["exchange"].isna(), "base"])
    owners = [ex for ex in exchanges if order_method(ex) in plain]
    return owners[0] if len(owners) == 1 else None


def analyse_orders(data: RunData, thresholds: Thresholds) -> dict[str, Any]:
    """report.json's "orders" section: one entry per exchange with order-path rows (empty: none in the run)."""
    totals = data.totals.loc[data.totals["type"].astype(str) == REQUEST_TYPE]
    if totals.empty:
        return {}
    exchanges = run_exchanges(data)
    names = totals["name"].astype(str)
    totals = totals.assign(exchange=names.map(entry_exchanges(names, exchanges)),
                           base=names.map(base_names(names, exchanges)))
    totals["exchange"] = totals["exchange"].fillna(plain_owner(totals, exchanges) or "")
    failures = failure_table(data)
    failures = failures.loc[failures["type"].astype(str) == REQUEST_TYPE]
    deltas = entry_deltas(data.history)
    deltas = deltas.loc[deltas["type"].astype(str) == REQUEST_TYPE]
    section = {}
    for exchange, rows in totals.groupby(totals["exchange"].fillna(""), sort=True):
        method = order_method(str(exchange))
        orders = rows.loc[rows["base"] == method] if method else rows.iloc[0:0]
        if orders.empty:
            continue
        section[str(exchange)] = exchange_orders(data, str(exchange), rows, orders, failures, deltas, thresholds)
    return section


def exchange_orders(data: RunData, exchange: str, rows: pd.DataFrame, orders: pd.DataFrame, failures: pd.DataFrame,
                    deltas: pd.DataFrame, thresholds: Thresholds) -> dict[str, Any]:
    order_names = set(orders["name"].astype(str))
    sent, failed = int(orders["requests"].sum()), int(orders["failures"].sum())
    lost = int(rows.loc[rows["base"] == LOST_ORDER_EVENT, "requests"].sum())
    refused = failures.loc[failures["name"].astype(str).isin(order_names)]
    reasons = refused["error"].astype(str).str.replace(r"^\w+:\s*", "", regex=True)
    events = rows.loc[rows["base"].str.startswith(EVENT_PREFIX)]
    onset = limit_onset(data, refused, deltas.loc[deltas["name"].astype(str).isin(order_names)], thresholds)
    return {
        "order_row": str(orders["name"].iloc[0]),
        "sent": sent,
        "acked": sent - failed,
        "rejected": failed,
        "rejected_by_reason": {str(k): int(v) for k, v in refused.groupby(reasons, sort=True)["count"].sum().items()},
        "lost_events": lost,
        "ack_ms": percentiles(merge(orders["histogram"])),
        "event_lag_ms": {
            str(state): {"events": int(group["requests"].sum()), **percentiles(merge(group["histogram"]))}
            for state, group in events.groupby(events["base"].str.removeprefix(EVENT_PREFIX), sort=True)
        },
        "limit_onset": onset,
        "order_limit": order_count_limit(data, exchange, refused_by_limit=onset is not None),
    }


def order_count_limit(data: RunData, exchange: str, refused_by_limit: bool) -> dict[str, Any] | None:
    """The exchange's unfilled-order limit as the run found it, without being told: the highest unfilled-order
    count its answers reported (in the shortest window they report). A count never passes the limit, and an order
    is refused only once the count has reached it, so while orders were refused by a rate limit that count is the
    limit; otherwise it is a lower bound. None when the exchange reported no counts."""
    history = data.exchange_history
    if history is None:
        return None
    counts = history.loc[history["exchange"] == exchange, "order_count_max"].dropna()
    if counts.empty:
        return None
    published = getattr(adapter_of(exchange), "order_count_limit", None)
    return {
        "value": int(counts.max()),
        "reached": refused_by_limit,
        "window_s": published.interval_s if published is not None else None,
        "published": published.limit if published is not None else None,
        "method": "highest unfilled-order count the exchange reported",
    }


def limit_onset(data: RunData, refused: pd.DataFrame, order_seconds: pd.DataFrame,
                thresholds: Thresholds) -> dict[str, Any] | None:
    """The first refusal by a rate limit (the failures' first-seen time) and the mean order rate over the
    `sustain_window_s` seconds up to it (fewer at the run's start: `window_s`), from the history (None without
    per-request history rows); None when no order was refused by a limit."""
    limited = refused.loc[refused["kind"].isin(RATE_LIMIT_KINDS)]
    if limited.empty:
        return None
    first = limited["first_seen"].min()
    sent = order_seconds.groupby("t")["d_requests"].sum()
    if isinstance(first, float) and math.isnan(first):  # a failures CSV without first-seen times
        failed = order_seconds.loc[order_seconds["d_failures"] > 0, "t"]
        # the first history row with failed orders (refused or not: it does not tell them apart) counts those of
        # the second before it
        first = float(failed.min()) - 1 if len(failed) else None
    if first is None:
        return {"time_s": None, "orders_per_s": None, "window_s": None, "refusals": int(limited["count"].sum())}
    window = max(1, thresholds.sustain_window_s)
    # first-seen times are whole seconds (floored); the history row a second later counts the orders sent by then
    second = int(first) + 1
    span = max(1, min(window, second - int(data.start_s) + 1))  # fewer seconds at the start of the run
    before = sent.loc[second - span + 1:second]
    return {
        "time_s": round(float(first) - data.start_s, 1),
        "orders_per_s": round(float(before.sum()) / span, 2) if len(sent) else None,
        "window_s": span,
        "refusals": int(limited["count"].sum()),
    }
