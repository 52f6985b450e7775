"""Run analysis: from a run directory's files to rate-limit, capacity, error, WebSocket and client findings.

    python -m analysis RUN_DIR [--out DIR] [--format md,json,html] [--compare OTHER_RUN_DIR] [--fail-on high]

From code (e.g. at the end of `make run`): `analyse_run(run_dir)` writes the report to RUN_DIR/analysis
and returns the short summary; bad input raises `AnalysisError` with a one-line message.
"""

from __future__ import annotations

from pathlib import Path

from analysis.model import AnalysisError, Severity, Thresholds

__all__ = ["AnalysisError", "Severity", "Thresholds", "analyse_run"]


def analyse_run(run_dir: str | Path, out_dir: str | Path | None = None) -> str:
    """Analyse a finished run, write report.md/.json/.html (default RUN_DIR/analysis), return the summary text.

    Raises AnalysisError (one-line message naming the file) for input it cannot use."""
    from analysis.report import write_report  # pandas and matplotlib load only when a run is analysed

    outcome = write_report(Path(run_dir), Path(out_dir) if out_dir is not None else None)
    return outcome.summary
