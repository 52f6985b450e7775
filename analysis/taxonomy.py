"""Error taxonomy: Locust's failure texts classified by kind and status, each as a share of requests,
with the seed tutorial's six common errors mapped to their causes and fixes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import pandas as pd

from analysis.load import RunData
from analysis.model import Finding, Severity, Thresholds
from analysis.timeline import entry_exchanges, is_rest, is_ws, is_ws_order_request, run_exchanges
from exchanges.base import FailureKind

KINDS = frozenset(k.value for k in FailureKind)
RATE_LIMIT_KINDS = frozenset({FailureKind.RATE_LIMITED.value, FailureKind.BANNED.value})
WS_KINDS = frozenset({FailureKind.WS_DROP.value, FailureKind.WS_GAP.value})
UNCLASSIFIED = "unclassified"
ERROR_TEXT = re.compile(r"^(?P<kind>[a-z_]+):\s*(?P<rest>.*)$", re.DOTALL)
STATUS = re.compile(r"\bHTTP (\d{3})\b")
CODE = re.compile(r"^(-?\d+)\b")
EXHAUSTION = re.compile(
    r"MemoryError|Too many open files|EMFILE|Cannot allocate memory|No buffer space|out of memory", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class CommonError:
    """One of the seed tutorial's six common errors: how it shows in this suite, its cause and fix."""

    key: str
    title: str
    kinds: frozenset[str]
    cause: str
    fix: str


COMMON_ERRORS = (
    CommonError(
        "connection_timeout", "Connection timeout", frozenset({FailureKind.TIMEOUT.value}),
        "the exchange or a gateway answered too slowly under concurrency, or the client's connection pool ran out",
        "set explicit timeouts, retry idempotent reads with exponential backoff and jitter, size the connection "
        "pool to the concurrency; never resend an order blindly: its status is unknown, query it first",
    ),
    CommonError(
        "invalid_key_or_signature", "Invalid API key / signature (HTTP 401 or the exchange's own code)",
        frozenset({FailureKind.AUTH.value, FailureKind.TIMESTAMP.value}),
        "a wrong key or secret, missing permissions or IP whitelist, a signature over other bytes than those sent, "
        "or a clock outside the exchange's receive window",
        "check the key's permissions and IP whitelist, sign exactly the query and body sent, keep the clock "
        "synchronised (NTP) and the receive window small",
    ),
    CommonError(
        "rate_limit", "Rate limit (HTTP 429 or the exchange's own signal)", RATE_LIMIT_KINDS,
        "more requests or request weight than the exchange allows per window",
        "a client-side limiter under the limit, honour Retry-After where the exchange sends one and back off "
        "with jitter where it does not, cache and batch requests, WebSocket streams instead of polling for "
        "market data",
    ),
    CommonError(
        "gateway_error", "502/503 gateway errors", frozenset({FailureKind.SERVER_ERROR.value}),
        "the exchange's gateway or backend overloaded, restarting or in maintenance",
        "a circuit breaker and failover, retries with backoff for idempotent requests only; after a 5xx on an "
        "order its execution status is unknown: query the order before sending it again",
    ),
    CommonError(
        "ws_abnormal_closure", "WebSocket 1006 abnormal closure", frozenset({FailureKind.WS_DROP.value}),
        "the connection was lost without a close frame: network, a server restart, a missed ping, or a client "
        "too slow to read its stream",
        "reconnect with exponential backoff and jitter, resubscribe, rebuild local order books from a fresh "
        "snapshot, answer pings, read the socket without blocking",
    ),
    CommonError(
        "resource_exhaustion", "Memory leak / resource exhaustion", frozenset(),
        "the load generator ran out of memory, file descriptors or sockets (leaked sessions, unbounded buffers)",
        "close sessions and sockets, bound queues and caches, raise the open-files limit (ulimit -n), and spread "
        "users over more worker processes",
    ),
)

# Error kinds reported here (rate limits and WebSocket kinds have their own findings), with the finding
# kind, whether any occurrence is high severity, and the recommendation.
KIND_FINDINGS: dict[str, tuple[str, bool, str]] = {
    FailureKind.TIMEOUT.value: ("timeouts", False, COMMON_ERRORS[0].fix),
    FailureKind.CONNECTION.value: (
        "connection_errors", False,
        "reuse connections (keep-alive), cap concurrent connections per host, and reconnect with backoff; "
        "resets under load often mean a proxy or the exchange shedding connections",
    ),
    FailureKind.SERVER_ERROR.value: ("server_errors", False, COMMON_ERRORS[3].fix),
    FailureKind.AUTH.value: ("auth_errors", True, COMMON_ERRORS[1].fix),
    FailureKind.TIMESTAMP.value: (
        "timestamp_errors", False,
        "synchronise the clock (NTP), correct signed timestamps by the measured server offset, keep recvWindow small",
    ),
    FailureKind.ORDER_REJECTED.value: (
        "order_rejections", False,
        "check balances, symbol filters (tick size, lot size, minimum notional) and order ids before sending",
    ),
    FailureKind.BAD_REQUEST.value: (
        "bad_requests", False, "fix the parameters: the exchange rejected the request as malformed",
    ),
    FailureKind.EXCHANGE_ERROR.value: (
        "exchange_errors", False, "look up the exchange's error codes listed in the evidence and handle each",
    ),
    FailureKind.PROTOCOL.value: (
        "protocol_errors", False,
        "answers could not be read (or the suite's own code failed): compare them with the exchange's "
        "documentation and see locust.log",
    ),
    UNCLASSIFIED: (
        "unclassified_errors", False,
        "these failures carry no suite classification (another locustfile?): see the failures CSV",
    ),
}


@cache
def _parse(error: str) -> tuple[str, str | None, int | None]:
    match = ERROR_TEXT.match(error.strip())
    if match is None or match.group("kind") not in KINDS:
        status = STATUS.search(error)
        return UNCLASSIFIED, None, int(status.group(1)) if status else None
    rest = match.group("rest")
    status = STATUS.search(rest)
    code = CODE.match(rest)
    return match.group("kind"), code.group(1) if code else None, int(status.group(1)) if status else None


def failure_table(data: RunData) -> pd.DataFrame:
    """The failures CSV with `kind`, `code`, `status` and `exchange` parsed from each row."""
    frame = data.failures.copy()
    parsed = [_parse(str(e)) for e in frame["error"]]
    frame["kind"] = [p[0] for p in parsed]
    frame["code"] = [p[1] for p in parsed]
    frame["status"] = [p[2] for p in parsed]
    frame["exchange"] = frame["name"].map(entry_exchanges(frame["name"].astype(str), run_exchanges(data)))
    frame["ws"] = is_ws(frame["type"])
    return frame


def resource_exhaustion_count(data: RunData) -> int:
    exceptions = data.exceptions
    from_exceptions = int(exceptions.loc[exceptions["message"].astype(str).str.contains(EXHAUSTION), "count"].sum())
    failures = data.failures
    return from_exceptions + int(failures.loc[failures["error"].astype(str).str.contains(EXHAUSTION), "count"].sum())


def analyse_errors(data: RunData, thresholds: Thresholds) -> tuple[dict[str, Any], list[Finding]]:
    """(report.json's "errors" section, findings) for everything but rate limits and WebSocket kinds."""
    failures = failure_table(data)
    totals = data.totals
    # Requests: REST ones and those sent over a WebSocket order API, whose rejections are failures here too.
    sent = is_rest(totals["type"]) | is_ws_order_request(totals["type"], totals["name"])
    rest_requests = int(totals.loc[sent, "requests"].sum())
    ws_requests = int(totals.loc[is_ws(totals["type"]), "requests"].sum())
    start = data.start_s
    by_kind: dict[str, Any] = {}
    for kind, rows in failures.groupby("kind", sort=True):
        count = int(rows["count"].sum())
        denominator = ws_requests if kind in WS_KINDS else rest_requests
        statuses = rows.dropna(subset=["status"]).groupby("status")["count"].sum()
        codes = rows.dropna(subset=["code"]).groupby("code")["count"].sum()
        by_kind[str(kind)] = {
            "count": count,
            "share": round(count / denominator, 4) if denominator else None,
            "first_seen_s": _relative(rows["first_seen"].min(), start),
            "last_seen_s": _relative(rows["last_seen"].max(), start),
            "by_status": {str(int(k)): int(v) for k, v in statuses.items()},
            "by_code": {str(k): int(v) for k, v in codes.items()},
            "endpoints": {str(k): int(v) for k, v in rows.groupby("name", observed=True)["count"].sum().items()},
            "errors": {str(r.error): int(r.count) for r in rows.itertuples()},
        }
    exhaustion = resource_exhaustion_count(data)
    common = []
    for entry in COMMON_ERRORS:
        count = exhaustion if entry.key == "resource_exhaustion" else sum(
            by_kind[k]["count"] for k in entry.kinds if k in by_kind
        )
        denominator = ws_requests if entry.kinds and entry.kinds <= WS_KINDS else rest_requests
        common.append({
            "key": entry.key, "title": entry.title, "count": count,
            "share": round(count / denominator, 4) if denominator and entry.kinds else None,
            "cause": entry.cause, "fix": entry.fix,
        })
    section = {"requests": rest_requests, "ws_events": ws_requests, "by_kind": by_kind, "common_errors": common}
    return section, error_findings(by_kind, exhaustion, thresholds)


def error_findings(by_kind: dict[str, Any], exhaustion: int, thresholds: Thresholds) -> list[Finding]:
    findings = []
    for kind, (finding_kind, always_high, recommendation) in KIND_FINDINGS.items():
        entry = by_kind.get(kind)
        if entry is None:
            continue
        share = entry["share"] or 0.0
        limit = thresholds.timeout_share if kind == FailureKind.TIMEOUT.value else thresholds.error_share
        severity = Severity.HIGH if always_high else Severity.MEDIUM if share > limit else Severity.LOW
        statuses = ", ".join(f"HTTP {s}: {n}" for s, n in entry["by_status"].items())
        when = (
            f" from {entry['first_seen_s']:g} s to {entry['last_seen_s']:g} s"
            if entry["first_seen_s"] is not None and entry["last_seen_s"] is not None else ""
        )
        findings.append(Finding(
            kind=finding_kind,
            severity=severity,
            message=(
                f"{entry['count']} {kind.replace('_', ' ')} failures ({share:.2%} of requests){when}"
                + (f" ({statuses})" if statuses else "")
            ),
            evidence=entry,
            recommendation=recommendation[0].upper() + recommendation[1:] + ".",
        ))
    if exhaustion:
        entry = COMMON_ERRORS[-1]
        findings.append(Finding(
            kind="resource_exhaustion",
            severity=Severity.HIGH,
            message=f"{exhaustion} failures or exceptions show the load generator running out of memory or files",
            evidence={"count": exhaustion},
            recommendation=entry.fix[0].upper() + entry.fix[1:] + ".",
        ))
    return findings


def _relative(value: float, start: float) -> float | None:
    return None if pd.isna(value) else round(float(value) - start, 1)
