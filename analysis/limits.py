"""Rate limiting per exchange: onset, max safe rate, the effective limit, bans and backing off.

Reads the suite's per-exchange history (requests, weight, used-weight headers, rate-limit and ban
answers per second). How each exchange counts its limit (unit, window, fixed window or bucket) and
how it signals one (HTTP 429 or an error in a 200 body, a ban answer, Retry-After or none) come from
its adapter (`limit_unit`, `limit_kind`, `published_limit`, `limit_signals`); the window actually
enforced is inferred from the used-weight resets where the exchange reports its usage, so a
non-default limit is found too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.bans import LATE_ANSWER_S, ban_episodes, retry_after_behaviour
from analysis.exchange_rules import draws_on_limit, limit_signals, published_limit, signals_json, signals_seen
from analysis.limit_estimate import LimitSpec, accepted_on, estimate_limit, limit_spec, limit_window
from analysis.load import RunData
from analysis.model import Finding, Severity, Thresholds
from analysis.ramp_search import SearchResult, endpoint_name, limit_from_search, limit_share, ramp_search
from analysis.taxonomy import RATE_LIMIT_KINDS, failure_table
from analysis.timeline import (
    entry_deltas,
    entry_exchanges,
    is_rest,
    run_exchanges,
    seconds,
    trailing_mean,
    users_per_second,
)
from exchanges.base import LimitKind


@dataclass
class RateLimitResult:
    summary: dict[str, Any]  # report.json's exchanges.<name>.rate_limit
    findings: list[Finding]
    seconds: pd.DataFrame  # per second: requests, limited, used weight ... (for charts)
    window_s: int


def analyse_rate_limits(data: RunData, exchange: str, thresholds: Thresholds) -> RateLimitResult:
    spec = limit_spec(exchange)
    frame = exchange_seconds(data, exchange)
    limited = frame["rate_limited"] + frame["banned"]
    has_usage = bool(frame["used_weight_max"].notna().any())
    window_s, window_source = limit_window(frame, spec, thresholds)
    fixed_window = spec is None or spec.kind is LimitKind.FIXED_WINDOW
    # A run shorter than the window: its whole seconds when its duration is known (its history has a row more for
    # the partial second it started in), else its history's.
    whole_s = min(len(frame), max(1, int(data.run_duration_s))) if data.run_duration_s else len(frame)
    sustain_s = max(1, min(window_s if fixed_window else thresholds.sustain_window_s, whole_s))
    frame["rate"] = trailing_mean(frame["requests"], sustain_s)
    requests = float(frame["requests"].sum())
    answers = {"rate_limited": int(frame["rate_limited"].sum()), "banned": int(frame["banned"].sum())}
    share = (answers["rate_limited"] + answers["banned"]) / requests if requests else 0.0

    onset_t = first_limited_second(data, exchange, limited)
    onset = None
    if onset_t is not None:
        used = frame["used_weight_max"].get(onset_t, np.nan)
        onset = {
            "time_s": round(onset_t - data.start_s, 1),
            "users": int(frame["users"].get(onset_t, 0)),
            "requests_per_s": round(float(frame["rate"].get(onset_t, np.nan)), 2),
            "used_weight": None if pd.isna(used) else int(used),
            "window_s": min(sustain_s, int(onset_t - frame.index[0]) + 1),  # fewer seconds early in the run
        }
    search = ramp_search(data, exchange)
    if search is not None:  # a ramp run: only its probes were judged long enough to call a rate sustainable
        max_safe, safe_window_s = search.max_safe_rps, search.max_safe_window_s or sustain_s
    else:
        max_safe, safe_window_s = max_safe_rate(frame["rate"], limited, sustain_s), sustain_s
    endpoints = limited_endpoints(data, exchange)
    # Refusals only from endpoints with limits of their own (OKX's per-endpoint limits) say nothing of this one.
    own_limits_only = bool(endpoints) and all(
        draws_on_limit(exchange, endpoint_name(name, exchange)) is False for name in endpoints)
    estimate = None
    if onset_t is not None and not own_limits_only:
        # What the limit let through: buckets and counters on the refused endpoints (Kraken counts some per pair),
        # fixed windows on the endpoints that draw on it where some do not; from Locust's per-endpoint history.
        drawing = endpoints if spec is not None and spec.kind is not LimitKind.FIXED_WINDOW else (
            entries_drawing_on_limit(data, exchange))
        if drawing:
            frame["accepted_limited_endpoints"] = accepted_on(data, drawing, frame.index)
        estimate = estimate_limit(frame, spec, window_s, has_usage)
        if not drawing or frame["accepted_limited_endpoints"].isna().all():
            estimate = share_of_requests(estimate, data, exchange)
    if search is not None and (estimate is None or not estimate["method"].startswith("used-weight")):
        estimate = search_estimate(search, data, exchange, spec, window_s) or estimate
    bans = ban_episodes(frame, data.start_s, data.end_s)
    retry_after = retry_after_behaviour(frame)
    client = client_limit(frame, spec)
    # limit_spec finds a published limit only among windows of its unit's interval; the adapter's
    # published_limit also covers limits that are not windows (Kraken's decaying counter).
    published = spec.published if spec is not None and spec.published is not None else published_limit(exchange)
    summary = {
        "onset": onset,
        "max_safe_requests_per_s": max_safe,
        "max_safe_window_s": safe_window_s,
        "search": search.summary() if search is not None else None,
        "limit_reached": onset is not None,
        "estimated_limit": estimate,
        "limit_window_s": window_s,
        "limit_window_source": window_source,
        "published_limit": {"value": published, "unit": spec.label()} if spec and published else None,
        "signals": signals_json(exchange),  # how this exchange answers a client over its limits
        "client_limit": client,
        "answers": {**answers, "share": round(share, 4)},
        "bans": bans,
        "retry_after": retry_after,
        "requests": int(requests),
        "weight_requested": None if frame["weight_requested"].isna().all() else int(frame["weight_requested"].sum()),
    }
    findings = rate_limit_findings(exchange, summary, endpoints, thresholds, spec)
    return RateLimitResult(summary, findings, frame, window_s)


def entries_drawing_on_limit(data: RunData, exchange: str) -> dict[str, int] | None:
    """Locust's REST entries of `exchange` whose endpoints draw on the limit its adapter's `limit_unit` names, by
    requests; None when every entry does (or none is known), so that counting all of them is right."""
    totals = data.totals.loc[is_rest(data.totals["type"])]
    drawing, others = {}, 0
    for row in totals.itertuples():
        draws = draws_on_limit(exchange, endpoint_name(str(row.name), exchange))
        if draws:
            drawing[str(row.name)] = int(row.requests)
        elif draws is False:
            others += int(row.requests)
    return drawing if drawing and others else None


def share_of_requests(estimate: dict[str, Any] | None, data: RunData, exchange: str) -> dict[str, Any] | None:
    """An estimate counted in requests, cut to the share of requests that draw on the limit where only some do
    (the others have limits of their own): the rough way, when Locust's history does not tell endpoints apart.
    Estimates from used-weight headers are the exchange's own count."""
    if estimate is None or estimate["method"].startswith("used-weight"):
        return estimate
    share = limit_share(data, exchange)
    if share is None or share >= 1:
        return estimate
    return {**estimate, "value": round(estimate["value"] * share, 1),
            "method": f"{estimate['method']}, times the {share:.0%} of requests that draw on it"}


def search_estimate(
    search: SearchResult, data: RunData, exchange: str, spec: LimitSpec | None, window_s: int
) -> dict[str, Any] | None:
    """The limit the ramp's search measured while it was refused, else the middle of a narrow bracket, in the
    exchange's unit."""
    unit = spec.unit if spec is not None else "requests"
    label = f"{unit}/s" if window_s == 1 else f"{unit}/{window_s}s"
    measured = search.measured_limit()
    if measured is not None:
        value, plateaus = measured
        method = f"ramp search: let through while refusing (median of {plateaus} plateaus)"
    else:
        value = limit_from_search(search, data, exchange, unit, window_s)
        if value is None:
            return None
        method = (f"ramp search: between {search.highest_clean_rps:.4g} (clean) and {search.lowest_limited_rps:.4g} "
                  "requests/s (rate-limited)")
    return {"value": round(value, 1), "unit": label, "method": method, "window_s": window_s}


# --- Per-second data ------------------------------------------------------------------------------


def exchange_seconds(data: RunData, exchange: str) -> pd.DataFrame:
    """One row per second of the run for `exchange`: the suite's counters (0 when idle) and the users."""
    index = seconds(data)
    history = data.exchange_history
    counts = ["requests", "weight_requested", "rate_limited", "banned", "retry_after_waits", "retry_after_wait_s",
              "weight_waits", "weight_wait_s"]
    maxima = ["used_weight_last", "used_weight_max", "weight_limit", "weight_window_s"]
    if history is not None and exchange in set(history["exchange"]):
        rows = history.loc[history["exchange"] == exchange].set_index("t")
        frame = rows[counts + maxima].reindex(index.union(rows.index))
        frame[[c for c in counts if c != "weight_requested"]] = frame[
            [c for c in counts if c != "weight_requested"]
        ].fillna(0)
        if rows["weight_requested"].notna().any():
            frame["weight_requested"] = frame["weight_requested"].fillna(0)
        frame = frame.loc[index.min():index.max()] if len(index) else frame
    else:
        frame = pd.DataFrame(0.0, index=index, columns=counts)
        frame["weight_requested"] = np.nan
        for column in maxima:
            frame[column] = np.nan
        frame["requests"] = locust_requests(data, exchange).reindex(index, fill_value=0)
    frame.index.name = "t"
    frame["users"] = users_per_second(data).reindex(frame.index).ffill().fillna(0)
    return frame


def locust_requests(data: RunData, exchange: str) -> pd.Series:
    """REST requests per second of `exchange` as Locust counted them (when the suite's history is missing)."""
    deltas = entry_deltas(data.history)
    mapping = entry_exchanges(deltas["name"].astype(str).unique(), run_exchanges(data))
    rows = is_rest(deltas["type"]) & (deltas["name"].astype(str).map(mapping) == exchange)
    return deltas["d_requests"].where(rows, 0.0).groupby(deltas["t"]).sum()


def first_limited_second(data: RunData, exchange: str, limited: pd.Series) -> int | None:
    hits = limited.index[limited.to_numpy() > 0]
    if len(hits):
        return int(hits[0])
    if data.exchange_history is not None and exchange in set(data.exchange_history["exchange"]):
        return None
    failures = failure_table(data)  # no suite history: the failures CSV's First Seen
    mask = failures["kind"].isin(RATE_LIMIT_KINDS) & (failures["exchange"] == exchange)
    first = failures.loc[mask, "first_seen"].min()
    return None if pd.isna(first) else int(first)


def max_safe_rate(rate: pd.Series, limited: pd.Series, window_s: int) -> float | None:
    """The highest `window_s`-second mean request rate over a span with no rate-limit answer; None when
    the run has no such span."""
    clean = limited.rolling(window_s, min_periods=1).sum() == 0
    long_enough = np.arange(1, len(rate) + 1) >= window_s
    candidates = rate[clean & long_enough]
    return None if candidates.empty else round(float(candidates.max()), 2)


def client_limit(frame: pd.DataFrame, spec: LimitSpec | None) -> dict[str, Any] | None:
    """The limit the suite's polite users were told (--weight-limit / --weight-window-s), in the exchange's
    unit (weight, requests, calls)."""
    limit, window = frame["weight_limit"].dropna(), frame["weight_window_s"].dropna()
    limit, window = limit[limit > 0], window[window > 0]
    if limit.empty or window.empty:
        return None
    window_s = int(window.iloc[-1])
    unit = spec.unit if spec is not None else "weight"
    return {"value": float(limit.iloc[-1]), "unit": f"{unit}/{window_s}s" if window_s != 1 else f"{unit}/s",
            "window_s": window_s}


# --- Bans and backing off ------------------------------------------------------------------------


def limited_endpoints(data: RunData, exchange: str) -> dict[str, int]:
    """The exchange's REST endpoints that got rate-limit or ban answers, by count (order APIs over WebSocket
    have limits of their own: the order path's section reports them)."""
    failures = failure_table(data)
    mask = failures["kind"].isin(RATE_LIMIT_KINDS) & (failures["exchange"] == exchange) & is_rest(failures["type"])
    counts = failures.loc[mask].groupby("name")["count"].sum().sort_values(ascending=False)
    return {str(k): int(v) for k, v in counts.items()}


# --- Findings ------------------------------------------------------------------------------------


def rate_limit_findings(
    exchange: str, summary: dict[str, Any], endpoints: dict[str, int], thresholds: Thresholds, spec: LimitSpec | None
) -> list[Finding]:
    findings: list[Finding] = []
    signals = limit_signals(exchange)
    onset, answers, estimate = summary["onset"], summary["answers"], summary["estimated_limit"]
    safe = summary["max_safe_requests_per_s"]
    wait_advice = (
        "honour Retry-After" if signals.retry_after
        else f"back off exponentially with jitter after its rate-limit errors ({exchange} sends no Retry-After)"
    )
    if onset is not None:
        share = answers["share"]
        severity = (
            Severity.HIGH if share > thresholds.rate_limit_high_share
            else Severity.MEDIUM if share > thresholds.rate_limit_recommend_share
            else Severity.LOW
        )
        used = f", used weight {onset['used_weight']}" if onset["used_weight"] is not None else ""
        limit_text = f"; effective limit ≈ {estimate['value']:g} {estimate['unit']}" if estimate else ""
        seen = signals_seen(exchange, answers["rate_limited"], answers["banned"])
        where = ", ".join(f"{name} {count}" for name, count in list(endpoints.items())[:3])
        findings.append(Finding(
            kind="rate_limit_onset",
            exchange=exchange,
            severity=severity,
            message=(
                f"{exchange} began answering rate-limit errors ({seen}{f'; on {where}' if where else ''}) at "
                f"{onset['time_s']:g} s, "
                f"with {onset['users']} users sending {onset['requests_per_s']:g} requests/s (mean of the last "
                f"{onset['window_s']} s{used}); {answers['rate_limited'] + answers['banned']} rate-limit answers, "
                f"{share:.1%} of requests{limit_text}"
            ),
            evidence={"onset": onset, "answers": answers, "endpoints": endpoints,
                      "max_safe_requests_per_s": safe, "estimated_limit": estimate},
            recommendation=(
                f"Keep {exchange} traffic under {safe:g} requests/s"
                + (f" ({estimate['value']:g} {estimate['unit']})" if estimate else "")
                + f" with a client-side limiter (the suite's --mode polite with --weight-limit/--weight-window-s), "
                f"{wait_advice}, cache and batch REST calls, and take market data from WebSocket streams "
                "instead of polling."
                if safe is not None else
                f"Add a client-side limiter below the exchange's limit and {wait_advice}."
            ),
        ))
    for ban in summary["bans"]:
        ongoing = " (still banned when the run ended)" if ban["until_end_of_run"] else ""
        findings.append(Finding(
            kind="ip_ban",
            exchange=exchange,
            severity=Severity.HIGH,
            message=(
                f"{exchange} banned the client ({signals.banned or 'a ban answer'}) at {ban['start_s']:g} s for at "
                f"least {ban['length_s']} s{ongoing}; {ban['answers']} requests were refused"
            ),
            evidence=ban,
            recommendation=signals.ban_advice or (
                "A ban follows requests sent while rate-limited: stop on the first rate-limit answer, wait as the "
                "exchange says, and keep a client-side limiter under its limit."
            ),
        ))
    retry = summary["retry_after"]
    if retry["honoured"] is False:
        seen = signals_seen(exchange, answers["rate_limited"], answers["banned"])
        findings.append(backoff_finding(exchange, retry, bool(summary["bans"]), seen))
    mismatch = limit_mismatch(exchange, summary["client_limit"], estimate, spec)
    if mismatch is not None:
        findings.append(mismatch)
    return findings


def backoff_finding(exchange: str, retry: dict[str, Any], banned: bool, seen: str) -> Finding:
    """The client kept sending while rate-limited: Retry-After ignored where the exchange sends one, else no
    backoff after its rate-limit errors."""
    signals = limit_signals(exchange)
    late = (
        f"{retry['answers_after_told_to_wait']} rate-limit answers came more than {LATE_ANSWER_S} s into their "
        f"episode and the client recorded {retry['client_waits']} waits (expected with --mode probe, which keeps "
        "its pace on purpose)"
    )
    if signals.retry_after:
        return Finding(
            kind="retry_after_ignored",
            exchange=exchange,
            severity=Severity.HIGH if banned else Severity.MEDIUM,
            message=f"{exchange}: Retry-After was not honoured: {late}",
            evidence=retry,
            recommendation=(
                "Pause every sender sharing the IP or key until Retry-After has passed (the suite's --mode polite "
                "does), and back off exponentially with jitter when the answer carries none."
            ),
        )
    return Finding(
        kind="no_backoff_after_rate_limit",
        exchange=exchange,
        severity=Severity.HIGH if banned else Severity.MEDIUM,
        message=(
            f"{exchange}: the client did not back off after rate-limit errors ({seen}, "
            f"with no Retry-After): {late}"
        ),
        evidence=retry,
        recommendation=(
            f"{exchange} says neither how long to wait nor when its limit frees up: after its first rate-limit "
            "error pause every sender sharing the IP or key with exponential backoff and jitter (the suite's "
            "--mode polite does), and stay under its published limit."
        ),
    )


def limit_mismatch(
    exchange: str, client: dict[str, Any] | None, estimate: dict[str, Any] | None, spec: LimitSpec | None
) -> Finding | None:
    """The client's limiter set above what the exchange enforced."""
    if client is None or estimate is None or not estimate["unit"].startswith("weight"):
        return None
    client_rate = client["value"] / client["window_s"]
    enforced_rate = estimate["value"] / estimate["window_s"]
    if client_rate <= 1.1 * enforced_rate:
        return None
    return Finding(
        kind="client_limit_above_exchange_limit",
        exchange=exchange,
        severity=Severity.MEDIUM,
        message=(
            f"{exchange}: the client's limiter allows {client['value']:g} {client['unit']} "
            f"({client_rate:.1f}/s), but the exchange enforced about {estimate['value']:g} {estimate['unit']} "
            f"({enforced_rate:.1f}/s)"
        ),
        evidence={"client_limit": client, "estimated_limit": estimate,
                  "published_limit": spec.published if spec else None},
        recommendation=(
            f"Set the client's limit to the enforced one (--weight-limit {estimate['value']:.0f} "
            f"--weight-window-s {estimate['window_s']}) and keep a budget under it (--weight-budget 0.8)."
        ),
    )
