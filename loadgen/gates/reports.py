"""CI outputs of a run: JUnit XML (one test case per threshold) and a Markdown summary for a job summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from exchanges.base import LimitSignals
from loadgen.gates.evaluation import Outcome

JUNIT_SUITE = "exchange-stress-test thresholds"


@dataclass(frozen=True, slots=True)
class RunOverview:
    """Headline numbers for the summary; latencies are over REST requests and orders (None: no data)."""

    title: str
    duration_s: float
    requests: int
    failures: int
    rps: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    exchanges: Mapping[str, Mapping[str, float | int | None]]  # per-exchange counters (loadgen.metrics totals)
    limit_signals: Mapping[str, LimitSignals] = field(default_factory=dict)  # how each exchange signals its limits


def verdict_line(outcomes: Sequence[Outcome]) -> str:
    errors = sum(1 for o in outcomes if o.error)
    failed = sum(1 for o in outcomes if not o.passed and not o.error)
    if errors:
        return f"{errors} of {len(outcomes)} thresholds could not be checked"
    if failed:
        return f"{failed} of {len(outcomes)} thresholds failed"
    return f"all {len(outcomes)} thresholds passed"


def junit_xml(outcomes: Sequence[Outcome], duration_s: float) -> str:
    suite = ET.Element(
        "testsuite",
        name=JUNIT_SUITE,
        tests=str(len(outcomes)),
        failures=str(sum(1 for o in outcomes if not o.passed and not o.error)),
        errors=str(sum(1 for o in outcomes if o.error)),
        time=f"{duration_s:.1f}",
    )
    for outcome in outcomes:
        case = ET.SubElement(suite, "testcase", classname="thresholds", name=outcome.threshold.text)
        if outcome.error:
            ET.SubElement(case, "error", message=outcome.error)
        elif not outcome.passed:
            ET.SubElement(case, "failure", message=f"{outcome.threshold.text}: measured {outcome.measured()}")
        ET.SubElement(case, "system-out").text = f"scope: {outcome.scope.label()}; measured: {outcome.measured()}"
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def failed_checks(junit_path: Path) -> list[str]:
    """The message of every failed or unusable threshold in a JUnit file written by `junit_xml`."""
    if not junit_path.is_file():
        return []
    return [
        problem.get("message", "")
        for case in ET.parse(junit_path).iter("testcase")
        for problem in (*case.iter("failure"), *case.iter("error"))
    ]


def markdown_summary(overview: RunOverview, outcomes: Sequence[Outcome]) -> str:
    lines = [f"## {overview.title}", ""]
    if outcomes:
        failed = any(not o.passed for o in outcomes)
        lines += [f"**{'❌' if failed else '✅'} {verdict_line(outcomes)}**", ""]
        lines += ["| | Threshold | Scope | Measured |", "|---|---|---|---|"]
        for o in outcomes:
            mark = "⚠️" if o.error else "✅" if o.passed else "❌"
            lines.append(f"| {mark} | `{o.threshold.text}` | {_cell(o.scope.label())} | {_cell(o.measured())} |")
        lines.append("")
    lines += [
        "| Duration | Requests | Failures | Req/s | p50 | p95 | p99 |",
        "|---|---|---|---|---|---|---|",
        f"| {overview.duration_s:.0f} s | {overview.requests} | {overview.failures} | {_num(overview.rps, '.1f')} "
        f"| {_ms(overview.p50_ms)} | {_ms(overview.p95_ms)} | {_ms(overview.p99_ms)} |",
        "",
        "_Requests: REST requests and orders; latencies in ms at Locust's histogram resolution._",
    ]
    if overview.exchanges:
        lines += [
            "",
            "| Exchange | Requests | Rate limited | Banned | WS messages | WS reconnects | WS drops | WS gaps |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, t in sorted(overview.exchanges.items()):
            cells = [t.get(k) for k in ("requests", "rate_limited", "banned", "ws_messages", "ws_reconnects",
                                         "ws_drops", "ws_gaps")]
            lines.append(f"| {_cell(name)} | " + " | ".join(_num(c, '.0f') for c in cells) + " |")
        signals = [f"{name}: {_signals(overview.limit_signals[name])}"
                   for name in sorted(overview.exchanges) if name in overview.limit_signals]
        if signals:
            lines += ["", "_Rate limited / banned, as each exchange signals them: " + "; ".join(signals) + "._"]
    return "\n".join(lines) + "\n"


def _signals(signals: LimitSignals) -> str:
    return f"{_cell(signals.rate_limited)} / {_cell(signals.banned or 'no ban answer')}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _num(value: float | int | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
