"""Analyse a run and write its report files: report.json, report.md with PNG charts beside it, report.html."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.charts import draw_all
from analysis.compare import compare_reports
from analysis.document import build_document
from analysis.header import run_header
from analysis.model import AnalysisError, Finding, Thresholds, by_severity, plain
from analysis.pipeline import analyse
from analysis.render_html import render_html
from analysis.render_md import render_markdown
from analysis.render_text import summary_text

FORMATS = ("md", "json", "html")
DEFAULT_OUT = "analysis"  # inside the run directory (its report.html is Locust's own)


@dataclass
class Outcome:
    report: dict[str, Any]  # report.json's content
    findings: list[Finding]
    written: list[Path]
    summary: str


def write_report(
    run_dir: Path,
    out_dir: Path | None = None,
    formats: Iterable[str] = FORMATS,
    compare_to: Path | None = None,
    thresholds: Thresholds | None = None,
) -> Outcome:
    """Analyse `run_dir` (against `compare_to` if given) and write the report in `formats` to `out_dir`
    (default RUN_DIR/analysis). AnalysisError for bad input or an unwritable output directory."""
    wanted = tuple(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise AnalysisError(f"unknown format {', '.join(unknown) or '(none)'}: choose from {', '.join(FORMATS)}")
    thresholds = thresholds or Thresholds()
    analysis = analyse(run_dir, thresholds)
    findings = analysis.findings
    report = analysis.report
    if compare_to is not None:
        baseline = analyse(compare_to, thresholds).report
        section, regressions = compare_reports(plain(report), plain(baseline), thresholds)
        report["comparison"] = section
        findings = by_severity([*findings, *regressions])
        report["findings"] = [f.to_json() for f in findings]
    header = run_header(run_dir, analysis.data.manifest, report["run"], findings)
    report = plain({"schema_version": report["schema_version"], "header": header, **report})
    charts = draw_all(analysis) if {"md", "html"} & set(wanted) else []
    out = out_dir if out_dir is not None else run_dir / DEFAULT_OUT
    written: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        if "md" in wanted:
            for chart in charts:
                (out / chart.file).write_bytes(chart.png)
            report["charts"] = [{"file": c.file, "title": c.title} for c in charts]
        blocks = build_document(report, charts)
        if "json" in wanted:
            written.append(_write(out / "report.json", json.dumps(report, indent=2, allow_nan=False) + "\n"))
        if "md" in wanted:
            written.append(_write(out / "report.md", render_markdown(blocks)))
        if "html" in wanted:
            written.append(_write(out / "report.html", render_html(blocks, f"Analysis: {report['run']['run_id']}")))
    except OSError as e:
        raise AnalysisError(f"{out}: cannot write the report ({e.strerror or type(e).__name__})") from None
    return Outcome(report, findings, written, summary_text(report, written))


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
