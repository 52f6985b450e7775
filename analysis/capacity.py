"""Throughput ceiling, latency knee and mean latency: how the REST side behaved as load grew.

Load and latency are compared over the same windows: Locust's full-history percentiles cover the
last 10 s, so each one is set against the REST request rate and the users of those same 10 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.load import RunData
from analysis.load_generator import LoadGeneratorResult
from analysis.model import Finding, Severity, Thresholds
from analysis.target import TargetResult
from analysis.timeline import PERCENTILE_WINDOW_S, is_rest

MIN_LEVEL_SECONDS = 2  # a user count held for a single second is a ramp step, not a load level
MIN_KNEE_POINTS = 10
MIN_WINDOW_SAMPLES = 20  # a windowed p95 of fewer samples is little more than their maximum
KNEE_MIN_LOAD_GROWTH = 1.25  # a knee needs the load to have grown at least this much from the lowest
KNEE_BINS = 10
CEILING_MIN_GROWTH = 1.2  # users must have grown at least this much past a ceiling for it to count


@dataclass
class CapacityResult:
    summary: dict[str, Any]
    findings: list[Finding]
    levels: pd.DataFrame  # per user count: seconds, requests_per_s, ok_per_s
    knee_points: pd.DataFrame  # per endpoint and second: load (REST requests/s over 10 s), users, p95, p99


def analyse_capacity(
    data: RunData,
    deltas: pd.DataFrame,
    rest: pd.DataFrame,
    client: LoadGeneratorResult,
    target: TargetResult,
    limited_from_s: float | None,
    thresholds: Thresholds,
) -> CapacityResult:
    """`rest`: REST requests, failures and response time per second; `limited_from_s`: the first rate-limit
    answer of any exchange (run time), to tell a rate limit from other ceilings; `client` and `target`: when
    the load generator or the simulator was saturated, to tell their limits from the exchange's."""
    levels = load_levels(rest)
    points = knee_points(data, deltas, rest)
    findings: list[Finding] = []
    searched = search_ceilings(data, client, target)
    if searched:
        findings.extend(search_ceiling_finding(c) for c in searched)
        ceiling = min(searched, key=lambda c: math.inf if c["requests_per_s"] is None else c["requests_per_s"])
    else:
        ceiling = throughput_ceiling(levels, thresholds)
        if ceiling is not None:
            findings.append(ceiling_finding(ceiling, rest, client, target, limited_from_s))
    knee = latency_knee(points, thresholds)
    if knee is not None:
        findings.append(knee_finding(knee, data.start_s, client, target))
    mean = mean_latency(data)
    if mean is not None and mean > thresholds.mean_latency_ms:
        caveats = [text for suspect, text in (
            (client.suspect(None), "the load generator was CPU-bound: partly Locust's own delay"),
            (target.suspect(None), "the simulator was saturated: partly its own queueing"),
        ) if suspect]
        findings.append(Finding(
            kind="high_mean_latency",
            severity=Severity.LOW,
            message=f"mean REST latency was {mean:.0f} ms (threshold {thresholds.mean_latency_ms:g} ms)"
            + "".join(f"; {caveat}" for caveat in caveats),
            evidence={"mean_ms": round(mean, 1), "threshold_ms": thresholds.mean_latency_ms},
            recommendation=(
                "Run the client close to the exchange (same region or cloud), reuse connections (keep-alive), "
                "and prefer light endpoints and WebSocket streams over heavy polling."
            ),
        ))
    summary = {
        "rest_mean_ms": None if mean is None else round(mean, 1),
        "throughput_ceiling": ceiling,
        "latency_knee": knee,
        "first_bottleneck": None if ceiling is None else {
            key: ceiling.get(key) for key in ("exchange", "cause", "requests_per_s")},
        "searched": searched,  # the capacity scenario's ceiling per exchange ([]: not a capacity run)
        "load_levels": [
            {"users": int(u), "seconds": int(r.seconds), "requests_per_s": round(r.requests_per_s, 2),
             "ok_per_s": round(r.ok_per_s, 2)}
            for u, r in levels.iterrows()
        ],
    }
    return CapacityResult(summary, findings, levels, points)


def load_levels(rest: pd.DataFrame) -> pd.DataFrame:
    """Mean REST throughput per user count held for at least MIN_LEVEL_SECONDS (first and last second left out)."""
    inner = rest.iloc[1:-1] if len(rest) > 2 else rest
    inner = inner.loc[inner["users"] > 0]
    grouped = pd.DataFrame({
        "users": inner["users"].astype(int),
        "requests_per_s": inner["requests"],
        "ok_per_s": inner["requests"] - inner["failures"],
    }).groupby("users")
    levels = grouped.mean()
    levels["seconds"] = grouped.size()
    return levels.loc[levels["seconds"] >= MIN_LEVEL_SECONDS]


def throughput_ceiling(levels: pd.DataFrame, thresholds: Thresholds) -> dict[str, Any] | None:
    """The first user count after which added users bring less than `ceiling_marginal_gain` of the
    throughput each user brought at the lowest load, provided users grew well past it."""
    if len(levels) < 3:
        return None
    users = levels.index.to_numpy(dtype=float)
    ok = levels["ok_per_s"].to_numpy()
    per_user = ok[0] / users[0] if users[0] > 0 else 0.0
    if per_user <= 0:
        return None
    allowed = thresholds.ceiling_marginal_gain * per_user * (users[None, :] - users[:, None])
    gains = ok[None, :] - ok[:, None]
    later = users[None, :] > users[:, None]
    flat = np.all(~later | (gains < allowed), axis=1)
    grown = users.max() >= CEILING_MIN_GROWTH * users
    candidates = np.flatnonzero(flat & grown)
    if len(candidates) == 0:
        return None
    i = int(candidates[0])
    return {
        "users": int(users[i]),
        "ok_per_s": round(float(ok[i:].max()), 2),
        "requests_per_s": round(float(levels["requests_per_s"].iloc[i:].max()), 2),
        "max_users": int(users.max()),
        "per_user_at_lowest_load": round(per_user, 3),
    }


def ceiling_finding(
    ceiling: dict[str, Any], rest: pd.DataFrame, client: LoadGeneratorResult, target: TargetResult,
    limited_from_s: float | None,
) -> Finding:
    """The ceiling as a finding, with its cause (also added to `ceiling`): a rate limit, the simulator, the
    generator, or the exchange."""
    at_level = rest.index[rest["users"] >= ceiling["users"]]
    reached_s = float(at_level[0] - rest.index[0]) if len(at_level) else None
    rate_limited = limited_from_s is not None and (
        reached_s is None or limited_from_s <= reached_s + PERCENTILE_WINDOW_S)
    cause, why = bottleneck_cause(reached_s, rate_limited, client, target)
    ceiling.update(method="user_levels", reached_at_s=reached_s, cause=cause)
    return Finding(
        kind="throughput_ceiling",
        severity=Severity.LOW,
        message=(
            f"successful REST throughput stopped growing at {ceiling['users']} users "
            f"(≈{ceiling['ok_per_s']:g} requests/s up to {ceiling['max_users']} users); limited by {why}"
        ),
        evidence=ceiling,
        recommendation=CEILING_RECOMMENDATIONS[cause],
    )


CEILING_RECOMMENDATIONS = {
    "rate_limit": "Plan for this ceiling: it is the exchange's limit; more users only add rate-limit answers.",
    "simulator": "This is the simulator's capacity on this machine: lower the load or give the simulator a core "
    "of its own; measure an exchange's ceiling against the exchange or its testnet.",
    "load_generator": "Add worker processes (make run WORKERS=N) and rerun to find the exchange's real ceiling.",
    "exchange": "Treat this as the exchange's capacity for this mix: keep the sustained rate well below it (latency "
    "climbs before it, see the latency knee), spread load over keys/IPs only where the exchange's terms allow, and "
    "prefer WebSocket streams for market data.",
}


def bottleneck_cause(reached_s: float | None, rate_limited: bool, client: LoadGeneratorResult,
                     target: TargetResult) -> tuple[str, str]:
    """What set a ceiling reached at run time `reached_s`: (cause, why in words). `rate_limited`: rate-limit answers
    had begun by then."""
    simulator = target.suspect(reached_s)
    if rate_limited:
        return "rate_limit", "the exchange's rate limit (rate-limit answers began by then)" + (
            "; the simulator was saturated too, so the level may be the simulator's" if simulator else "")
    if simulator:
        return "simulator", "the simulator (its one process was saturated), not the exchange" + (
            "; the load generator's CPU was saturated too" if client.suspect(reached_s) else "")
    if client.suspect(reached_s):
        return "load_generator", "the load generator (its CPU was saturated), not the exchange"
    return "exchange", "the exchange or the network: its answers, not the client, set the pace"


def search_ceilings(data: RunData, client: LoadGeneratorResult, target: TargetResult) -> list[dict[str, Any]]:
    """The capacity scenario's ceiling per exchange, from its plateaus (`PREFIX_capacity.csv`): where the successful
    answers per second stopped following the offered rate, and what they stayed at as it grew."""
    plateaus = data.capacity_search
    if plateaus is None or plateaus.empty:
        return []
    ceilings = []
    for exchange, rows in plateaus.groupby("exchange", sort=False):
        ceiling = search_ceiling(rows.sort_values("index"), data.start_s, client, target)
        if ceiling is not None:
            ceilings.append({"exchange": str(exchange), **ceiling})
    return ceilings


def search_ceiling(rows: pd.DataFrame, start_s: float, client: LoadGeneratorResult,
                   target: TargetResult) -> dict[str, Any] | None:
    saturated = rows.loc[rows["verdict"] == "saturated"]
    limited = rows.loc[rows["verdict"] == "rate_limited"]
    clean = rows.loc[rows["verdict"] == "clean"]
    first = saturated.iloc[0] if len(saturated) else limited.iloc[0] if len(limited) else None
    if first is None:
        return None
    rate_limited = len(limited) > 0 and (saturated.empty or limited["index"].min() < saturated["index"].min())
    if rate_limited:
        first = limited.iloc[0]
    reached_s = round(float(first["started_at"]) - start_s, 1)
    cause, why = bottleneck_cause(reached_s, rate_limited, client, target)
    seconds = rows["last_second"] - rows["first_second"] + 1
    if rate_limited:  # what was served cleanly is all that is known to be sustainable
        measured = clean.tail(1)
    else:
        flat = saturated.tail(2)
        measured = flat if len(flat) == 2 else saturated.tail(1)
    requests_per_s = (round(float(measured["ok_answers"].sum() / seconds[measured.index].sum()), 2)
                      if len(measured) and seconds[measured.index].sum() > 0 else None)
    return {
        "method": "capacity_search",
        "requests_per_s": requests_per_s,
        "cause": cause,
        "why": why,
        "offered_rps": round(float(first["target_rps"]), 2),
        "highest_clean_rps": float(clean["target_rps"].max()) if len(clean) else None,
        "max_offered_rps": float(rows["target_rps"].max()),
        "saturated_plateaus": len(saturated),
        "confirmed": not rate_limited and len(measured) == 2,
        "overload_answers": int(saturated["overload_answers"].sum()),
        "skipped_starts": int(saturated["skipped_starts"].sum()),
        "reached_at_s": reached_s,
    }


def search_ceiling_finding(ceiling: dict[str, Any]) -> Finding:
    exchange, rate, cause = ceiling["exchange"], ceiling["requests_per_s"], ceiling["cause"]
    served = "nothing" if rate is None else f"≈{rate:g} successful requests/s"
    if cause == "rate_limit":
        message = (f"{exchange}: a rate limit answered at {ceiling['offered_rps']:.4g} requests/s offered, before the "
                   f"exchange stopped keeping up: the rate limit is the first bottleneck ({served} served cleanly "
                   "below it)")
    else:
        refused = ceiling["overload_answers"]
        message = (
            f"{exchange}: throughput stopped at {served} from {ceiling['offered_rps']:.4g} requests/s offered"
            + (f" and stayed there up to {ceiling['max_offered_rps']:.4g}" if ceiling["confirmed"] else
               " (not confirmed by a second saturated plateau)")
            + (f"; {refused} answers refused or timed out" if refused else "")
            + f"; limited by {ceiling['why']}"
        )
    evidence = {k: v for k, v in ceiling.items() if k != "why"}
    return Finding(
        kind="throughput_ceiling",
        severity=Severity.MEDIUM if cause in ("exchange", "rate_limit") else Severity.LOW,
        message=message,
        evidence=evidence,
        recommendation=(
            "Run --scenario ramp to measure the rate limit; " + CEILING_RECOMMENDATIONS[cause][0].lower()
            + CEILING_RECOMMENDATIONS[cause][1:] if cause == "rate_limit" else CEILING_RECOMMENDATIONS[cause]
        ),
    )


def knee_points(data: RunData, deltas: pd.DataFrame, rest: pd.DataFrame) -> pd.DataFrame:
    """Per REST endpoint and second: its windowed p95/p99 with the REST load of the same 10 s window."""
    columns = ["type", "name", "t", "load", "users", "p95", "p99"]
    if not data.full_history:
        return pd.DataFrame(columns=columns)
    window = PERCENTILE_WINDOW_S
    load = rest["requests"].rolling(window, min_periods=window).sum() / window
    users = rest["users"].rolling(window, min_periods=1).mean()
    cumulative = deltas["requests"]  # Locust's running total: one row per second, so `window` rows back
    before = cumulative.groupby([deltas["type"], deltas["name"]], observed=True).shift(window)
    samples = (cumulative - before).fillna(cumulative)
    enough = is_rest(deltas["type"]) & deltas["p95"].notna() & (samples >= MIN_WINDOW_SAMPLES)
    rows = deltas.loc[enough, ["type", "name", "t", "p95", "p99"]]
    rows = rows.assign(load=rows["t"].map(load), users=rows["t"].map(users)).dropna(subset=["load"])
    return rows[columns].reset_index(drop=True)


def latency_knee(points: pd.DataFrame, thresholds: Thresholds) -> dict[str, Any] | None:
    """The lowest load at which some endpoint's p95 rose faster than load, and stayed up."""
    knees = []
    for (method, name), rows in points.groupby(["type", "name"], observed=True):
        if len(rows) < MIN_KNEE_POINTS or rows["load"].nunique() < 3:
            continue
        bins = pd.qcut(rows["load"], q=min(KNEE_BINS, rows["load"].nunique()), duplicates="drop")
        table = rows.groupby(bins, observed=True)[["load", "users", "p95", "p99", "t"]].median()
        if len(table) < 3:
            continue
        knee = _knee_in(table, thresholds)
        if knee is not None:
            knees.append({"endpoint": f"{method} {name}", **knee})
    return min(knees, key=lambda k: k["load_requests_per_s"]) if knees else None


def _knee_in(table: pd.DataFrame, thresholds: Thresholds) -> dict[str, Any] | None:
    base_load = max(float(table["load"].iloc[0]), 1e-9)
    base_p95 = max(float(table["p95"].iloc[0]), 1.0)
    p95 = table["p95"].to_numpy()
    load = table["load"].to_numpy()
    high = (p95 >= thresholds.knee_latency_factor * base_p95) & (p95 - base_p95 >= thresholds.knee_min_increase_ms)
    faster = ((p95 / base_p95) > (load / base_load)) & (load >= KNEE_MIN_LOAD_GROWTH * base_load)
    stays_high = np.flip(np.cumprod(np.flip(high))).astype(bool)  # this bin and every later one are high
    hits = np.flatnonzero(high & faster & stays_high)
    if len(hits) == 0:
        return None
    k = int(hits[0])
    return {
        "load_requests_per_s": round(float(load[k]), 2),
        "users": round(float(table["users"].iloc[k]), 1),
        "p95_ms_before": round(base_p95, 1),
        "p95_ms_at_knee": round(float(p95[k]), 1),
        "p99_ms_at_knee": None if pd.isna(table["p99"].iloc[k]) else round(float(table["p99"].iloc[k]), 1),
        "t": float(table["t"].iloc[k]),
        "bins": [
            {"load_requests_per_s": round(float(r.load), 2), "p95_ms": round(float(r.p95), 1),
             "p99_ms": None if pd.isna(r.p99) else round(float(r.p99), 1)}
            for r in table.itertuples()
        ],
    }


def knee_finding(knee: dict[str, Any], start_s: float, client: LoadGeneratorResult, target: TargetResult) -> Finding:
    time_s = round(knee.pop("t") - start_s, 1)
    knee["time_s"] = time_s
    simulator, generator = target.suspect(time_s), client.suspect(time_s)
    knee["cause"] = "simulator" if simulator else "load_generator" if generator else "exchange"
    caveat = {
        "simulator": "; the simulator was saturated then, so this is the simulator's latency, not the exchange's"
        + ("; the load generator was CPU-bound too" if generator else ""),
        "load_generator": "; the load generator was CPU-bound then, so this is not evidence of a slow exchange",
        "exchange": "",
    }[knee["cause"]]
    return Finding(
        kind="latency_knee",
        severity=Severity.LOW,
        message=(
            f"{knee['endpoint']}: p95 latency rose faster than load from about {knee['load_requests_per_s']:g} REST "
            f"requests/s ({knee['users']:g} users): {knee['p95_ms_before']:g} ms → {knee['p95_ms_at_knee']:g} ms "
            "(10 s windows)" + caveat
        ),
        evidence=knee,
        recommendation=(
            "Lower the load or give the simulator a core of its own: the knee is the simulator's, not the exchange's."
            if simulator else
            "Add worker processes and rerun: the knee is the generator's, not the exchange's."
            if generator else
            "Stay below this load for latency-sensitive work (quotes, cancels), or budget for the higher latency "
            "above it; the max safe rate and this knee together bound the useful request rate."
        ),
    )


def mean_latency(data: RunData) -> float | None:
    totals = data.totals.loc[is_rest(data.totals["type"])]
    timed = (totals["requests"] - totals["none_requests"]).sum()
    return float(totals["total_ms"].sum() / timed) if timed > 0 else None
