"""The report as a list of simple blocks (headings, paragraphs, tables, findings, charts), built once
from report.json's content and rendered as Markdown or HTML."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from analysis.charts import Chart


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str


@dataclass(frozen=True, slots=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True, slots=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True, slots=True)
class FindingBlock:
    severity: str
    title: str
    message: str
    recommendation: str
    evidence: list[str]


@dataclass(frozen=True, slots=True)
class Image:
    chart: Chart


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # pass, fail, unknown, none (no thresholds)
    text: str


@dataclass(frozen=True, slots=True)
class Facts:
    """Labelled one-line facts (the header's when, target, settings)."""

    items: list[tuple[str, str]]


Block = Heading | Paragraph | Bullets | Table | FindingBlock | Image | Verdict | Facts


def fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    """A number for a table cell: '—' for missing, thousands separated, trailing zeros dropped."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    if isinstance(value, float):
        text = f"{value:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:,.0f}"
        return f"{text}{unit}"
    return f"{value}{unit}"


def share(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}"


def build_document(report: dict[str, Any], charts: list[Chart]) -> list[Block]:
    run = report["run"]
    blocks: list[Block] = [Heading(1, f"Load-test analysis: {run['run_id']}")]
    if "header" in report:
        blocks += header_blocks(report["header"])
    blocks.append(Paragraph(run_line(run)))
    blocks += findings_blocks(report["findings"])
    blocks += rate_limit_blocks(report["exchanges"])
    blocks += latency_blocks(report)
    blocks += error_blocks(report["errors"])
    if report["websocket"] is not None:
        blocks += websocket_blocks(report["websocket"])
    if report.get("orders"):
        blocks += order_blocks(report["orders"])
    blocks += client_blocks(report["client"])
    if report["simulator"] is not None:
        blocks += simulator_blocks(report["simulator"])
    if report.get("resources", {}).get("processes"):
        blocks += resource_blocks(report["resources"])
    if "comparison" in report:
        blocks += comparison_blocks(report["comparison"])
    if charts:
        blocks.append(Heading(2, "Charts"))
        blocks += [Image(chart) for chart in charts]
    if report["notes"]:
        blocks += [Heading(2, "Notes on the data"), Bullets(list(report["notes"]))]
    return blocks


def run_line(run: dict[str, Any]) -> str:
    exchanges = ", ".join(run["exchanges"]) or "unknown exchange"
    parts = [
        exchanges,
        f"scenario {run['scenario']}" if run["scenario"] else None,
        f"{fmt(run['duration_s'], ' s')}",
        f"up to {run['max_users']} users",
        f"{run['workers']} worker(s)" if run["workers"] and run["workers"] > 1 else None,
        f"{fmt(run['requests'])} REST requests ({fmt(run['requests_per_s'], '/s')}), {fmt(run['failures'])} failed",
        f"{fmt(run['ws_messages'])} WebSocket messages" if run["ws_messages"] else None,
        "interrupted" if run["interrupted"] else None,
    ]
    return "; ".join(p for p in parts if p) + "."


def header_blocks(header: dict[str, Any]) -> list[Block]:
    """The verdict, then when, against what and with which settings."""
    verdict = header["verdict"]
    target = header["target"]
    settings = header["settings"]
    return [
        Verdict(verdict["status"], verdict["text"]),
        Facts([
            ("when", when_line(header)),
            ("target", "unknown (not in run.json)" if target is None else
             f"{target['host'] or 'unknown host'} "
             f"({'the embedded simulator' if target['simulator'] else target['kind']})"),
            ("settings", "; ".join(setting_text(key, value) for key, value in settings.items())
             or "unknown (no run.json)"),
            ("thresholds", thresholds_line(header["thresholds"])),
        ]),
    ]


def thresholds_line(gates: dict[str, Any] | None) -> str:
    if gates is None:
        return "none"
    failed = f"; not met: {'; '.join(gates['messages'])}" if gates["messages"] else ""
    return "; ".join(gates["set"]) + failed


def when_line(header: dict[str, Any]) -> str:
    started, finished = header["started_at"], header["finished_at"]
    span = f"{started or 'start unknown'} to {finished or 'end unknown'}"
    return f"{span}; {fmt(header['duration_s'], ' s')} measured"


SETTING_LABELS = {"spawn_rate": ("spawn rate", " users/s"), "duration_s": ("duration", " s"),
                  "sim_config": ("simulator config", "")}


def setting_text(key: str, value: Any) -> str:
    label, unit = SETTING_LABELS.get(key, (key.replace("_", " "), ""))
    return f"{label} {', '.join(map(str, value)) if isinstance(value, list) else fmt(value, unit)}"


def findings_blocks(findings: list[dict[str, Any]]) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Findings")]
    if not findings:
        blocks.append(Paragraph("No findings: no rate limiting, errors, saturation or drops found."))
        return blocks
    counts = {s: sum(1 for f in findings if f["severity"] == s) for s in ("high", "medium", "low")}
    blocks.append(Paragraph(", ".join(f"{n} {s}" for s, n in counts.items() if n) + "."))
    for finding in findings:
        title = finding["kind"] + (f" ({finding['exchange']})" if finding["exchange"] else "")
        blocks.append(FindingBlock(finding["severity"], title, finding["message"], finding["recommendation"],
                                   evidence_lines(finding["evidence"])))
    return blocks


def evidence_lines(evidence: dict[str, Any], limit: int = 240) -> list[str]:
    lines = []
    for key, value in evidence.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"{key}: {text if len(text) <= limit else text[: limit - 1] + '…'}")
    return lines


def rate_limit_blocks(exchanges: dict[str, Any]) -> list[Block]:
    if not exchanges:
        return []
    rows = []
    for name, entry in exchanges.items():
        limit = entry["rate_limit"]
        onset, estimate, published = limit["onset"], limit["estimated_limit"], limit["published_limit"]
        rows.append([
            name,
            fmt(onset["time_s"], " s") if onset else "not reached",
            fmt(onset["users"]) if onset else "—",
            fmt(onset["requests_per_s"], "/s") if onset else "—",
            fmt(onset["used_weight"]) if onset else "—",
            fmt(limit["max_safe_requests_per_s"], "/s") + f" ({limit['max_safe_window_s']} s)",
            f"{fmt(estimate['value'])} {estimate['unit']} ({estimate['method']})" if estimate else "—",
            f"{fmt(published['value'])} {published['unit']}" if published else "—",
            f"{fmt(limit['answers']['rate_limited'])} / {fmt(limit['answers']['banned'])} "
            f"({share(limit['answers']['share'])})",
            str(len(limit["bans"])),
            fmt(limit["retry_after"]["honoured"]),
        ])
    return [
        Heading(2, "Rate limits"),
        Paragraph(
            "Onset: the first rate-limit answer, as each exchange signals it (below), with the users then and the "
            "mean request rate over the limit's window before it. Max safe: the highest such mean over a span "
            "with no rate-limit answer; in a ramp run, the highest clean probe of its limit search. Backed off: "
            "whether the client stopped sending while limited (for the Retry-After, where the exchange sends one)."
        ),
        Bullets([signals_line(name, entry["rate_limit"].get("signals")) for name, entry in exchanges.items()]),
        Table(["exchange", "onset", "users", "rate at onset", "used weight", "max safe", "estimated limit",
               "published limit", "rate-limited / banned", "bans", "backed off"], rows),
    ]


def signals_line(exchange: str, signals: dict[str, Any] | None) -> str:
    """How one exchange signals its limits, in its own terms."""
    if not signals:
        return f"{exchange}: signals unknown"
    banned = signals["banned"] or "none (no ban answer)"
    retry_after = "with Retry-After" if signals["retry_after"] else "no Retry-After"
    return f"{exchange}: rate limited = {signals['rate_limited']}; banned = {banned}; {retry_after}"


def ceiling_lines(capacity: dict[str, Any]) -> list[str]:
    """The throughput ceiling: one line per exchange the capacity scenario searched, else the one of user levels."""
    searched = capacity.get("searched") or []
    if searched:
        return [
            f"throughput ceiling, {c['exchange']}: {fmt(c['requests_per_s'], ' requests/s')} served from "
            f"{fmt(c['offered_rps'], ' requests/s')} offered (cause: {c['cause']}"
            + ("" if c["confirmed"] or c["cause"] == "rate_limit" else "; not confirmed") + ")"
            for c in searched
        ]
    ceiling = capacity["throughput_ceiling"]
    if ceiling is None:
        return ["throughput ceiling: none (throughput kept growing with the load, or the load did not vary enough "
                "to tell)"]
    return [f"throughput ceiling: {fmt(ceiling['ok_per_s'], ' requests/s')} at {ceiling['users']} users "
            f"(cause: {ceiling['cause']})"]


def latency_blocks(report: dict[str, Any]) -> list[Block]:
    latency, capacity = report["latency"], report["capacity"]
    rest = latency["rest"]
    blocks: list[Block] = [
        Heading(2, "Throughput and latency"),
        Paragraph(
            f"REST, whole run (exact, from Locust's histograms): mean {fmt(rest['mean_ms'], ' ms')}, "
            f"p50 {fmt(rest['p50'], ' ms')}, p95 {fmt(rest['p95'], ' ms')}, p99 {fmt(rest['p99'], ' ms')}, "
            f"max {fmt(rest['max'], ' ms')}."
        ),
    ]
    knee = capacity["latency_knee"]
    blocks.append(Bullets([
        *ceiling_lines(capacity),
        f"latency knee: {knee['endpoint']} from {fmt(knee['load_requests_per_s'], ' requests/s')} "
        f"(p95 {fmt(knee['p95_ms_before'], ' ms')} → {fmt(knee['p95_ms_at_knee'], ' ms')})"
        if knee else "latency knee: none found",
    ]))
    rows = [
        [e["type"], e["name"], e["exchange"] or "—", fmt(e["requests"]), fmt(e["failures"]),
         fmt(e["requests_per_s"], "/s"), fmt(e["mean_ms"]), fmt(e["p50"]), fmt(e["p95"]), fmt(e["p99"]),
         fmt(e["max"])]
        for e in latency["endpoints"] if e["type"] != "WS"
    ]
    if rows:
        blocks.append(Table(["type", "name", "exchange", "requests", "failures", "rate", "mean ms", "p50 ms",
                             "p95 ms", "p99 ms", "max ms"], rows))
    return blocks


def error_blocks(errors: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Errors")]
    rows = [
        [kind, fmt(e["count"]), share(e["share"]), fmt(e["first_seen_s"], " s"), fmt(e["last_seen_s"], " s"),
         ", ".join(f"{k}: {v}" for k, v in e["by_status"].items()) or "—",
         ", ".join(f"{k}: {v}" for k, v in list(e["endpoints"].items())[:5])]
        for kind, e in sorted(errors["by_kind"].items(), key=lambda item: -item[1]["count"])
    ]
    if rows:
        blocks.append(Table(["kind", "count", "share", "first", "last", "by status", "endpoints"], rows))
    else:
        blocks.append(Paragraph("No failures."))
    blocks.append(Heading(3, "The six common errors"))
    common = errors["common_errors"]
    if not any(c["count"] for c in common):
        blocks.append(Paragraph(f"None of the {len(common)} common errors was seen (table left out)."))
        return blocks
    blocks.append(Table(
        ["error", "seen", "share", "cause", "fix"],
        [[c["title"], fmt(c["count"]), share(c["share"]), c["cause"], c["fix"]] for c in common],
    ))
    return blocks


def websocket_blocks(ws: dict[str, Any]) -> list[Block]:
    def times(stats: dict[str, Any]) -> list[str]:
        t = stats["time_ms"] or {}
        return [fmt(stats["attempts"]), fmt(stats["failures"]), fmt(t.get("p50")), fmt(t.get("p95")),
                fmt(t.get("p99")), fmt(t.get("max"))]

    connect_rows = [["connect", "all", *times(ws["connect"])], ["reconnect", "all", *times(ws["reconnect"])]]
    by_exchange = ws.get("connects_by_exchange") or {}
    if len(by_exchange) > 1:
        connect_rows += [[kind, name, *times(stats[kind])] for name, stats in by_exchange.items()
                         for kind in ("connect", "reconnect") if stats[kind]["attempts"]]
    elif len(by_exchange) == 1:
        (name,) = by_exchange
        connect_rows = [[row[0], name, *row[2:]] for row in connect_rows]
    connect_rows = [row for row in connect_rows if row[2] != "0"]  # no attempts: a row of dashes
    blocks: list[Block] = [
        Heading(2, "WebSocket"),
        Table(["", "exchange", "attempts", "failures", "p50 ms", "p95 ms", "p99 ms", "max ms"], connect_rows)
        if connect_rows else Paragraph("No connection attempts recorded (table left out)."),
        Bullets([
            f"reconnects: {fmt(ws['reconnects'])}; storms: {len(ws['storms'])}",
            f"abnormal drops: {fmt(ws['drops'])}"
            + (f" ({', '.join(f'{k}: {v}' for k, v in ws['drops_by_reason'].items())})" if ws["drops"] else ""),
            f"sequence gaps / checksum failures: {fmt(ws['gaps'])}",
        ]),
    ]
    rows = []
    for stream in ws["streams"]:
        latency = stream["latency_ms"] or {}
        rows.append([stream["stream"], stream.get("exchange") or "—", fmt(stream["messages"]),
                     fmt(stream["per_s"], "/s"),
                     fmt(latency.get("p50")), fmt(latency.get("p95")), fmt(latency.get("p99")),
                     fmt(stream["failures"])])
    if rows:
        blocks.append(Paragraph("Event latency: receive time minus the exchange's event time (clock offset "
                                "corrected); streams without event times have none."))
        blocks.append(Table(["stream", "exchange", "messages", "rate", "latency p50 ms", "p95 ms", "p99 ms",
                             "failures"], rows))
    return blocks


def order_blocks(orders: dict[str, Any]) -> list[Block]:
    """The order path per exchange: counts, order->ack and order->event times, the order-count limit's onset."""
    def times(t: dict[str, Any]) -> list[str]:
        return [fmt(t.get("p50")), fmt(t.get("p95")), fmt(t.get("p99"))]

    counts, lags, onsets = [], [], []
    for name, o in orders.items():
        reasons = ", ".join(f"{k}: {fmt(v)}" for k, v in o["rejected_by_reason"].items()) or "—"
        counts.append([name, fmt(o["sent"]), fmt(o["acked"]), fmt(o["rejected"]), reasons, fmt(o["lost_events"]),
                       *times(o["ack_ms"])])
        lags += [[name, state, fmt(lag["events"]), *times(lag)] for state, lag in o["event_lag_ms"].items()]
        onset = o["limit_onset"]
        onsets.append(f"{name}: " + (
            "not reached" if onset is None else
            f"first refused at {fmt(onset['time_s'], ' s')}, at "
            + (f"{fmt(onset['orders_per_s'], ' orders/s')} (mean over the {onset['window_s']} s up to it)"
               if onset["orders_per_s"] is not None else "an unknown order rate (no per-request history)")
            + f"; {fmt(onset['refusals'])} refusals") + order_limit_text(o.get("order_limit")))
    blocks: list[Block] = [
        Heading(2, "Order path"),
        Paragraph("Orders over the exchange's WebSocket order API, or over REST followed on its authenticated feed. "
                  "Ack: order sent to its answer; event lag: order sent to its first event in each state on the "
                  "private stream (exact percentiles from Locust's histograms). Rejected: refused or unanswered "
                  "orders; lost: acknowledged orders never reported."),
        Table(["exchange", "sent", "acked", "rejected", "rejected by reason", "lost events", "ack p50 ms",
               "p95 ms", "p99 ms"], counts),
    ]
    if lags:
        blocks.append(Table(["exchange", "state", "events", "lag p50 ms", "p95 ms", "p99 ms"], lags))
    blocks += [Paragraph("Order-count limit (the first order refused by a rate limit):"), Bullets(onsets)]
    return blocks


def order_limit_text(limit: dict[str, Any] | None) -> str:
    """The order-count limit found, as the end of an exchange's onset line."""
    if limit is None:
        return ""
    per = f" orders per {limit['window_s']} s" if limit["window_s"] else " unfilled orders"
    published = f"; published: {fmt(limit['published'])}" if limit["published"] is not None else ""
    if limit["reached"]:
        return f". The limit: {fmt(limit['value'])}{per} ({limit['method']}{published})"
    return f". The limit: at least {fmt(limit['value'])}{per} ({limit['method']}, never refused{published})"


def client_blocks(client: dict[str, Any]) -> list[Block]:
    cpu = client["cpu"]
    items = [
        f"Locust CPU above 90%: from {fmt(cpu['from_s'], ' s')}" if cpu["saturated"]
        else "Locust CPU above 90%: never reported",
        f"missing workers: {len(client['workers_missing'])}",
        f"polite-limiter waits: {fmt(client['own_waits']['weight_waits'])} "
        f"({fmt(client['own_waits']['weight_wait_s'], ' s')})",
    ]
    if client["pacing"] is not None:
        pacing = client["pacing"]
        items.append(f"paced starts: {fmt(pacing['paced_starts'])}, late {fmt(pacing['late_starts'])} "
                     f"({share(pacing['late_share'])}, worst {fmt(pacing['max_lag_ms'], ' ms')}), "
                     f"skipped {fmt(pacing['skipped_starts'])}")
    return [Heading(2, "Load generator"), Bullets(items)]


def simulator_blocks(simulator: dict[str, Any]) -> list[Block]:
    items = [
        f"CPU: {share(simulator['cpu_share_mean'])} of one core on average, at most "
        f"{share(simulator['cpu_share_max'])}",
        f"event-loop lag: per-second median at most {fmt(simulator['loop_lag_p50_ms_max'], ' ms')}, "
        f"highest {fmt(simulator['loop_lag_max_ms'], ' ms')}",
        f"saturated: {fmt(simulator['saturated_s'], ' s')} from {fmt(simulator['saturated_from_s'], ' s')}, "
        f"serving {fmt(simulator['saturated_requests_per_s'], ' requests/s')}" if simulator["saturated"]
        else "saturated: never",
    ]
    return [Heading(2, "Simulator (the target)"), Bullets(items)]


def resource_blocks(resources: dict[str, Any]) -> list[Block]:
    """Each process's memory and open files over the judged part of the run (after warm-up)."""

    def cells(figures: dict[str, Any] | None, unit: str) -> list[str]:
        if figures is None:
            return ["not judged", "—"]
        return [f"{fmt(figures['first'])} → {fmt(figures['last'])} {unit} (max {fmt(figures['max'])})",
                f"{fmt(figures['slope_per_min'], digits=2)} {unit}/min" + (": leak" if figures["leak"] else "")]

    rows = [[p["process"], p["role"], *cells(p["rss_mb"], "MB"), *cells(p["fds"], "fds")]
            for p in resources["processes"]]
    return [
        Heading(2, "Memory and open files"),
        Paragraph(f"Per process, after the first {resources['warmup_share']:.0%} of the run (warm-up); a leak is a "
                  "steady rise above the thresholds (see resource_leak findings)."),
        Table(["process", "role", "memory", "memory slope", "open files", "files slope"], rows),
    ]


def comparison_blocks(comparison: dict[str, Any]) -> list[Block]:
    rows = [
        [m["metric"], fmt(m["baseline"], digits=2), fmt(m["current"], digits=2),
         "—" if m["change"] is None else f"{m['change']:+.1%}", m["verdict"]]
        for m in comparison["metrics"]
    ]
    return [
        Heading(2, "Compared with the baseline"),
        Paragraph(f"Baseline: {comparison['baseline_run']}. Change is current against baseline."),
        Table(["metric", "baseline", "current", "change", "verdict"], rows),
    ]
