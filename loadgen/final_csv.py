"""Locust's snapshot CSV files with the final numbers.

While a run lasts, Locust rewrites `PREFIX_stats.csv`, `PREFIX_failures.csv` and
`PREFIX_exceptions.csv` once a second, but not at the end, so they miss the last second's requests
and failures (Locust issue #2299). At `quit` (after the final stats are in, before Locust closes
its files) the suite rewrites them from the final stats, each atomically.
"""

from __future__ import annotations

import csv
import os
import weakref
from collections.abc import Callable

from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

_INSTALLED: weakref.WeakSet[Environment] = weakref.WeakSet()


def install(environment: Environment) -> None:
    """Rewrite the snapshot CSVs at quit; once per environment, not on workers (they write none)."""
    if isinstance(environment.runner, WorkerRunner) or environment in _INSTALLED:
        return
    _INSTALLED.add(environment)
    environment.events.quit.add_listener(lambda **_: rewrite(environment))


def rewrite(environment: Environment) -> None:
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if not prefix:
        return
    writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
    files: tuple[tuple[str, list[str], Callable[[csv.writer], None]], ...] = (
        ("_stats.csv", writer.requests_csv_columns, writer._requests_data_rows),
        ("_failures.csv", writer.failures_columns, writer._failures_data_rows),
        ("_exceptions.csv", writer.exceptions_columns, writer._exceptions_data_rows),
    )
    for suffix, columns, write_rows in files:
        path = f"{prefix}{suffix}"
        with open(f"{path}.tmp", "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(columns)
            write_rows(out)
        os.replace(f"{path}.tmp", path)
