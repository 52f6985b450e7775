"""CI gates in Locust: `--threshold EXPR` (repeatable) and `--thresholds-file FILE`, checked when the run
ends and, with `--threshold-abort`, every few seconds during it.

They run where results are merged: a local run or the master of a distributed one (workers only
count). The exit code: 0 when every threshold holds (failed requests alone do not fail a run with
thresholds), 3 when one fails (each failed one is logged with its measured value), 2 when one cannot
be used (unknown metric, request or exchange: at start, before any load; a merged entry: at the end).
A run stopped for another reason (an invalid option, missing keys) keeps its own exit code.
With Locust's `--csv PREFIX` it writes `PREFIX_junit.xml` (with thresholds) and `PREFIX_summary.md`.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.event import Events
from locust.runners import WorkerRunner

from loadgen.ending import run_end
from loadgen.gates import run_snapshot
from loadgen.gates.evaluation import Outcome, Scope, evaluate, measure, resolve_scope
from loadgen.gates.reports import RunOverview, junit_xml, markdown_summary, verdict_line
from loadgen.gates.thresholds import (
    EXIT_THRESHOLD_FAILED,
    GateSettings,
    Source,
    Threshold,
    ThresholdError,
    gate_settings,
    metric_named,
)
from loadgen.metrics import COUNT_FIELDS
from loadgen.options import OptionError

logger = logging.getLogger(__name__)

EXIT_USAGE = 2
ABORT_CHECK_INTERVAL_S = 2.0
JUNIT_SUFFIX = "_junit.xml"
SUMMARY_SUFFIX = "_summary.md"


def add_arguments(parser: Any, **_: Any) -> None:
    group = parser.add_argument_group("CI gates (exchange-stress-test)")
    group.add_argument("--threshold", action="append", default=[], metavar="EXPR",
                       help="Pass/fail check at the end of the run, e.g. 'p95<300', 'p99[binance depth]<800', "
                       "'rate_limited_ratio<0.001', 'ws_gaps==0' (repeatable); a failed one exits with 3")
    group.add_argument("--thresholds-file", metavar="FILE",  # text: options travel to workers as msgpack
                       help="TOML file: thresholds = [...], optionally abort_on_fail and abort_delay_s")
    group.add_argument("--threshold-abort", action="store_true",
                       help="Also check during the run and stop it at the first failed threshold")
    group.add_argument("--threshold-abort-delay", type=float, metavar="SECONDS",
                       help="With --threshold-abort: start checking this long after the test starts (default 10)")


def read_settings(options: Any) -> GateSettings:
    file = getattr(options, "thresholds_file", None)
    return gate_settings(
        getattr(options, "threshold", None) or [],
        Path(file) if file else None,
        bool(getattr(options, "threshold_abort", False)),
        getattr(options, "threshold_abort_delay", None),
    )


class Gates:
    """One run's thresholds (scopes resolved against its exchanges), checks and outputs."""

    def __init__(self, environment: Environment, settings: GateSettings) -> None:
        self.environment = environment
        self.settings = settings
        catalogs = run_snapshot.catalogs(environment)
        for threshold in settings.thresholds:
            check_source(threshold)
        self.scoped: list[tuple[Threshold, Scope]] = [(t, resolve_scope(t, catalogs)) for t in settings.thresholds]
        self.failed_during_run: dict[Threshold, Outcome] = {}
        self.started = time.monotonic()
        self._watch: gevent.Greenlet | None = None

    def check(self) -> list[Outcome]:
        """Every threshold on the run as it stands; one that failed during the run stays failed."""
        environment = self.environment
        outcomes = evaluate(self.scoped, run_snapshot.catalogs(environment), run_snapshot.run_stats(environment))
        return [self.failed_during_run.get(o.threshold, o) if o.passed else o for o in outcomes]

    # -- during the run

    def on_test_start(self) -> None:
        self.started = time.monotonic()
        self.failed_during_run.clear()
        if self.settings.abort_on_fail and self.settings.thresholds and self._watch is None:
            self._watch = gevent.spawn(self._watch_run)

    def on_test_stop(self) -> None:
        if self._watch is not None and self._watch is not gevent.getcurrent():
            self._watch.kill(block=False)
        self._watch = None

    def _watch_run(self) -> None:
        gevent.sleep(self.settings.abort_delay_s)
        while True:
            try:
                failed = [o for o in self.check() if o.value is not None and not o.passed and not o.error]
            except Exception:  # a bug here must not stop the run
                logger.exception("threshold check during the run failed")
                failed = []
            if failed:
                self._abort(failed)
                return
            gevent.sleep(ABORT_CHECK_INTERVAL_S)

    def _abort(self, failed: list[Outcome]) -> None:
        elapsed = time.monotonic() - self.started
        for outcome in failed:
            self.failed_during_run[outcome.threshold] = outcome
            logger.error("threshold %s failed at +%.0f s: measured %s", outcome.threshold.text, elapsed,
                         outcome.measured())
        logger.error("stopping the run: a threshold failed (--threshold-abort)")
        environment = self.environment
        if environment.process_exit_code is None:
            environment.process_exit_code = EXIT_THRESHOLD_FAILED
        runner = environment.runner
        if runner is not None:
            headless = bool(getattr(environment.parsed_options, "headless", False))
            self._watch = None
            gevent.spawn(runner.quit if headless else runner.stop)

    # -- at the end

    def finish(self) -> None:
        run_end.settle(self.environment)
        try:
            outcomes = self.check()
        except OptionError as exc:  # the web UI's last test had options that do not parse
            logger.error("thresholds not checked: %s", exc)
            self._set_exit_code(EXIT_USAGE)
            return
        for outcome in outcomes:
            if outcome.error:
                logger.error("threshold %s could not be checked: %s", outcome.threshold.text, outcome.error)
            elif not outcome.passed:
                logger.error("threshold %s FAILED: measured %s", outcome.threshold.text, outcome.measured())
            else:
                logger.info("threshold %s passed: measured %s", outcome.threshold.text, outcome.measured())
        if outcomes:
            logger.info("thresholds: %s", verdict_line(outcomes))
        self._write(outcomes)
        if outcomes:
            errors = any(o.error for o in outcomes)
            failed = any(not o.passed for o in outcomes)
            self._set_exit_code(EXIT_USAGE if errors else EXIT_THRESHOLD_FAILED if failed else 0)

    def _set_exit_code(self, code: int) -> None:
        current = self.environment.process_exit_code
        if current is None or current == EXIT_THRESHOLD_FAILED:  # a run stopped for another reason keeps its code
            self.environment.process_exit_code = code

    def _write(self, outcomes: list[Outcome]) -> None:
        prefix = getattr(self.environment.parsed_options, "csv_prefix", None)
        if not prefix:
            return
        run = run_snapshot.run_stats(self.environment)
        if outcomes:
            Path(f"{prefix}{JUNIT_SUFFIX}").write_text(junit_xml(outcomes, run.duration_s), encoding="utf-8")
        catalogs = run_snapshot.catalogs(self.environment)

        def overall(name: str) -> float | None:
            return measure(metric_named(name), Scope(), catalogs, run)

        requests, failures = overall("requests"), overall("failures")
        overview = RunOverview(
            title=f"Load test: {', '.join(sorted(run.exchanges or catalogs)) or 'no exchange'}",
            duration_s=run.duration_s,
            requests=int(requests or 0),
            failures=int(failures or 0),
            rps=overall("rps"),
            p50_ms=overall("p50"),
            p95_ms=overall("p95"),
            p99_ms=overall("p99"),
            exchanges=run.exchanges,
            limit_signals={adapter.name: adapter.limit_signals for adapter in run_snapshot.exchanges()},
        )
        Path(f"{prefix}{SUMMARY_SUFFIX}").write_text(markdown_summary(overview, outcomes), encoding="utf-8")


def check_source(threshold: Threshold) -> None:
    """A metric read from exchange counters this version does not count is an error, never a silent pass."""
    metric = threshold.metric
    missing = [c for c in metric.counters if c not in COUNT_FIELDS] if metric.source is Source.EXCHANGE else []
    if missing:
        raise ThresholdError(
            f"threshold {threshold.text}: {metric.name} is unknown here: nothing counts {', '.join(missing)} yet"
        )


_HOOKED: list[Events] = []


def install(hooks: Events = events) -> None:
    """Add the options and hook the gates into `hooks` (once per Events object)."""
    if any(h is hooks for h in _HOOKED):
        return
    _HOOKED.append(hooks)
    hooks.init_command_line_parser.add_listener(add_arguments)
    hooks.init.add_listener(lambda environment, **_: attach(environment))


def attach(environment: Environment) -> None:
    """At init, where results are merged: read and resolve the thresholds (exit 2 if they cannot be used),
    then check them at test start/stop and quit."""
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    try:
        gates = Gates(environment, read_settings(environment.parsed_options))
    except ThresholdError as exc:
        logger.error("%s", exc)
        sys.exit(EXIT_USAGE)
    except OptionError as exc:  # also found by the exchange runtime; whichever is first ends the run
        logger.error("%s", exc)
        sys.exit(1)
    hooks = environment.events
    hooks.test_start.add_listener(lambda **_: gates.on_test_start())
    hooks.test_stop.add_listener(lambda **_: gates.on_test_stop())
    hooks.quitting.add_listener(lambda **_: gates.finish())
