"""`python -m analysis RUN_DIR [--out DIR] [--format md,json,html] [--compare OTHER_RUN_DIR] [--fail-on SEVERITY]`.

Exit codes: 0 done; 1 a finding at or above --fail-on exists; 2 bad input or usage (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.model import AnalysisError, Severity, Thresholds
from analysis.report import FORMATS, write_report

EXIT_FINDINGS = 1
EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        print(f"error: {message} (see python -m analysis --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m analysis",
        description="Turn a load-test run directory into findings: rate limits, capacity, errors, WebSocket, "
        "client-side bottlenecks.",
    )
    parser.add_argument("run_dir", type=Path, help="a run directory (Locust's --csv files and the suite's own)")
    parser.add_argument("--out", type=Path, help="where the report goes (default: RUN_DIR/analysis)")
    parser.add_argument("--format", default=",".join(FORMATS),
                        help=f"comma-separated: {', '.join(FORMATS)} (default all)")
    parser.add_argument("--compare", type=Path, metavar="OTHER_RUN_DIR", help="a baseline run to compare with")
    parser.add_argument("--fail-on", choices=[s.value for s in Severity],
                        help="exit 1 when a finding of this severity or worse exists")
    parser.add_argument("--threshold", action="append", default=[], metavar="NAME=VALUE",
                        help=f"override a threshold (repeatable): {', '.join(Thresholds.names())}")
    return parser


def parse_thresholds(items: list[str]) -> Thresholds:
    overrides = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise AnalysisError(f"--threshold {item!r}: expected NAME=VALUE")
        overrides[name.strip()] = value.strip()
    return Thresholds().with_overrides(overrides)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed as one line
        return int(e.code or 0)
    try:
        outcome = write_report(
            args.run_dir,
            out_dir=args.out,
            formats=[f.strip() for f in args.format.split(",") if f.strip()],
            compare_to=args.compare,
            thresholds=parse_thresholds(args.threshold),
        )
    except AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(outcome.summary)
    if args.fail_on is not None:
        floor = Severity(args.fail_on).rank
        if any(f.severity.rank >= floor for f in outcome.findings):
            return EXIT_FINDINGS
    return 0
