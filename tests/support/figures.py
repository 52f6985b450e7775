"""One run, one set of figures: the checks every kind of run's files must pass, read as a user reads them.

`check_run_figures(run_dir)` reads Locust's CSVs, totals.json, the suite's files, the analysis report
and (when the run had one) the simulator's counts, and asserts that they agree exactly.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from exchanges import NAMES as EXCHANGES
from loadgen.runner.summary import HTTP_METHODS

NON_STREAM_NAMES = {"connect", "reconnect", "connection", "subscription", "message"}


ENDS_BY_ITSELF = frozenset({"ramp", "capacity", "spike"})  # scenarios whose run time is only their budget


@dataclass(frozen=True)
class RunFigures:
    requests: int  # REST requests (entries with an HTTP method)
    failures: int  # their failures
    aggregated: int  # Locust's Aggregated row: every entry
    ws_messages: int  # stream messages
    http_by_exchange: dict[str, dict[str, int]]  # exchange -> endpoint -> requests


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def split_name(name: str, exchanges: list[str]) -> tuple[str, str]:
    """(exchange, endpoint) of a REST entry: side by side, names carry their exchange ("coinbase:ticker")."""
    head, sep, rest = name.partition(":")
    if sep and head in EXCHANGES:
        return head, rest
    assert len(exchanges) == 1, f"{name!r} has no exchange prefix in a run of {exchanges}"
    return exchanges[0], name


def markdown_table(text: str, first_header: str) -> list[dict[str, str]]:
    """The rows of the Markdown table whose header's first cell is `first_header`."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_header:
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append(dict(zip(cells, [c.strip() for c in row.strip().strip("|").split("|")], strict=True)))
            return rows
    raise AssertionError(f"no table headed {first_header!r} in:\n{text}")


def check_run_figures(run_dir: Path, *, exchanges: list[str] | None = None, output: str | None = None) -> RunFigures:
    """Assert that every file of the run (and the runner's printed `output`, if given) tells the same figures.
    A plain Locust run has no run.json (name its `exchanges`) and no analysis report (not checked then)."""
    manifest_path = run_dir / "run.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    if exchanges is None:
        exchanges = list(manifest.get("exchanges") or [manifest["exchange"]])

    # Locust's CSVs: per-request rows add up to the Aggregated row, and failures.csv to its failures.
    stats = read_csv_rows(run_dir / "locust_stats.csv")
    (aggregated,) = [r for r in stats if r["Name"] == "Aggregated"]
    rows = {(r["Type"], r["Name"]): (int(r["Request Count"]), int(r["Failure Count"]))
            for r in stats if r["Name"] != "Aggregated"}
    assert sum(r for r, _ in rows.values()) == int(aggregated["Request Count"]) > 0, stats
    assert sum(f for _, f in rows.values()) == int(aggregated["Failure Count"]), stats
    failures_csv = read_csv_rows(run_dir / "locust_failures.csv")
    assert sum(int(r["Occurrences"]) for r in failures_csv) == int(aggregated["Failure Count"]), failures_csv

    # totals.json (Locust's --json-file) holds the same entries with the same counts.
    totals = json.loads((run_dir / "totals.json").read_text())
    from_totals = {(e["method"], e["name"]): (e["num_requests"], e["num_failures"]) for e in totals}
    assert from_totals == {k: v for k, v in rows.items() if v != (0, 0)}

    http = {k: v for k, v in rows.items() if k[0] in HTTP_METHODS}
    requests, failures = sum(r for r, _ in http.values()), sum(f for _, f in http.values())
    by_exchange: dict[str, dict[str, int]] = {}
    for (_, name), (count, _) in http.items():
        exchange, endpoint = split_name(name, exchanges)
        by_exchange.setdefault(exchange, {})
        by_exchange[exchange][endpoint] = by_exchange[exchange].get(endpoint, 0) + count
    streams = {k: v for k, v in rows.items() if k[0] == "WS" and k[1].split(":")[-1] not in NON_STREAM_NAMES}
    ws_messages = sum(r - f for r, f in streams.values())

    # The simulator counted the same requests, endpoint by endpoint.
    sim_path = run_dir / "simulator_stats.json"
    if sim_path.is_file():
        served = json.loads(sim_path.read_text())["exchanges"]
        for exchange in exchanges:
            assert served[exchange]["by_endpoint"] == by_exchange.get(exchange, {}), exchange

    # The suite's exchange counters.
    suite = json.loads((run_dir / "locust_exchange.json").read_text())["exchanges"]
    counted = {x: suite[x]["requests"] for x in suite if suite[x]["requests"]}
    assert counted == {x: sum(e.values()) for x, e in by_exchange.items()}, (counted, by_exchange)
    assert sum(x["ws_messages"] for x in suite.values()) == ws_messages

    # locust_summary.md: the overview and the per-exchange table.
    summary = (run_dir / "locust_summary.md").read_text()
    (overview,) = markdown_table(summary, "Duration")
    assert int(overview["Requests"]) == requests and int(overview["Failures"]) == failures, summary
    per_exchange = {r["Exchange"]: r for r in markdown_table(summary, "Exchange")}
    for exchange, counters in suite.items():
        assert int(per_exchange[exchange]["Requests"]) == counters["requests"], summary
        assert int(per_exchange[exchange]["WS messages"]) == counters["ws_messages"], summary

    # The analysis report.
    report_path = run_dir / "analysis" / "report.json"
    if report_path.is_file() or output is not None:
        report = json.loads(report_path.read_text())["run"]
        assert report["requests"] == requests and report["failures"] == failures
        assert report["ws_messages"] == ws_messages
        window = json.loads((run_dir / "locust_exchange.json").read_text())["run"]
        assert abs(report["duration_s"] - window["duration_s"]) <= 0.05 + 1e-9, (report, window)  # rounded to 0.1 s
        assert abs(window["duration_s"] - int(overview["Duration"].removesuffix(" s"))) <= 0.5, (window, overview)
        if manifest and not manifest["interrupted"] and manifest["scenario"] not in ENDS_BY_ITSELF:
            # the run lasted what it was asked to
            assert abs(window["duration_s"] - manifest["duration_s"]) <= 1.5, (window, manifest)

    # A distributed run's workers: every request was reported by one of them, each ran users.
    workers_path = run_dir / "locust_workers.json"
    if workers_path.is_file():
        workers = json.loads(workers_path.read_text())
        assert sum(w["requests"] for w in workers["workers"]) == int(aggregated["Request Count"])
        assert all(w["users"] > 0 for w in workers["workers"]), workers
        assert workers["final_reports_missing"] == 0, workers

    # Each process's memory and open files: the totals are the history's first, last and highest rows.
    process_path = run_dir / "locust_process_history.csv"
    if process_path.is_file():
        by_process: dict[str, list[dict[str, str]]] = {}
        for row in read_csv_rows(process_path):
            by_process.setdefault(row["process"], []).append(row)
        totals = {p["process"]: p for p in json.loads((run_dir / "locust_process.json").read_text())["processes"]}
        assert set(totals) == set(by_process), (set(totals), set(by_process))
        for name, rows in by_process.items():
            rows.sort(key=lambda r: float(r["timestamp"]))
            entry = totals[name]
            assert entry["samples"] == len(rows) and entry["role"] == rows[0]["role"], name
            for column in ("rss_mb", "fds"):
                values = [float(r[column]) for r in rows if r[column] != ""]
                assert entry[column]["max"] == max(values, default=None), (name, column)
                assert entry[column]["last"] == (float(rows[-1][column]) if rows[-1][column] else None), name
        if report_path.is_file():
            judged = {p["process"] for p in json.loads(report_path.read_text())["resources"]["processes"]}
            assert set(by_process) <= judged, (judged, set(by_process))

    if output is not None:
        if sim_path.is_file():
            assert f"simulator served {requests} HTTP requests in all; Locust sent {requests}" in output, output
        assert f" {requests:,} REST requests" in output, output
    return RunFigures(requests, failures, int(aggregated["Request Count"]), ws_messages, by_exchange)
