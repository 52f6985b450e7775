"""Locust's snapshot CSV files with the final numbers.

Two things in Locust 2.47's shutdown would leave `PREFIX_stats.csv` and `PREFIX_failures.csv`
wrong, and this module undoes both on a master or a single process:
- While a run lasts, Locust rewrites `PREFIX_stats.csv`, `PREFIX_failures.csv` and
  `PREFIX_exceptions.csv` once a second, but not at the end, so they miss the last second's
  requests and failures (Locust issue #2299). At `quit` the suite rewrites them from the final
  stats, each atomically.
- `--json`/`--json-file` export the stats with `RequestStats.serialize_stats`, which resets every
  per-request entry (not the total) as it goes: the way a worker hands its stats to the master.
  The export runs before `quit` fires, so the rewrite, and anything else that reads the entries
  then, would see zeros while the Aggregated row kept its count. Outside workers the suite makes
  that export leave the entries as they are.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable

from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, RequestStats, StatsCSV, StatsEntryDict

from loadgen import state


def install(environment: Environment) -> None:
    """Keep the entries through the JSON export and rewrite the snapshot CSVs at quit; once per
    environment, not on workers (they write no files and must reset what they report)."""
    if isinstance(environment.runner, WorkerRunner) or not state.of(environment).first_install(__name__):
        return
    keep_entries_on_export(environment.stats)
    environment.events.quit.add_listener(lambda **_: rewrite(environment))


def keep_entries_on_export(stats: RequestStats) -> None:
    """Make `stats.serialize_stats` (used only by Locust's JSON export outside workers) not reset the entries."""

    def serialize_stats() -> list[StatsEntryDict]:
        return [e.serialize() for e in stats.entries.values() if not (e.num_requests == 0 and e.num_failures == 0)]

    stats.serialize_stats = serialize_stats  # type: ignore[method-assign]


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
