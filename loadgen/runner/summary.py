"""A short console summary of a finished run, read from the files in its directory."""

from __future__ import annotations

import csv
import json
from pathlib import Path

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH"})


def load_totals(run_dir: Path) -> list[dict]:
    """Locust's final per-endpoint totals (`--json-file`): exact, unlike `_stats.csv` at shutdown."""
    path = run_dir / "totals.json"
    if not path.is_file():
        return []
    return json.loads(path.read_text(encoding="utf-8"))


def http_request_count(totals: list[dict]) -> int:
    return sum(e["num_requests"] for e in totals if e.get("method") in HTTP_METHODS)


def print_summary(run_dir: Path) -> None:
    totals = load_totals(run_dir)
    if not totals:
        print(f"no request was recorded in {run_dir} (see locust.log)")
        return
    print(f"\n{'type':<7}{'name':<36}{'requests':>10}{'failures':>10}{'avg ms':>9}")
    for entry in sorted(totals, key=lambda e: (e["method"], e["name"])):
        count = entry["num_requests"]
        timed = sum(entry.get("response_times", {}).values())  # requests reported without a time are not
        avg = f"{entry['total_response_time'] / timed:.1f}" if timed else "-"
        print(f"{entry['method']:<7}{entry['name'][:35]:<36}{count:>10}{entry['num_failures']:>10}{avg:>9}")
    requests = sum(e["num_requests"] for e in totals)
    failures = sum(e["num_failures"] for e in totals)
    print(f"{'':<7}{'total':<36}{requests:>10}{failures:>10}")
    failures_csv = run_dir / "locust_failures.csv"
    if failures_csv.is_file():
        with failures_csv.open(newline="", encoding="utf-8") as f:
            rows = sorted(csv.DictReader(f), key=lambda r: -int(r.get("Occurrences") or 0))
        if rows:
            print("\ntop failures:")
            for row in rows[:8]:
                print(f"  {int(row['Occurrences']):>8}  {row['Method']} {row['Name']}: {row['Error'][:90]}")
    sim_stats = run_dir / "simulator_stats.json"
    if sim_stats.is_file():
        exchanges = json.loads(sim_stats.read_text(encoding="utf-8")).get("exchanges", {})
        used = {n: ex for n, ex in exchanges.items()  # mounted in the simulator is not the same as used
                if ex.get("requests_total") or ex.get("ws", {}).get("connections_total")}
        print()
        for name, ex in used.items():
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(ex.get("by_status", {}).items()))
            print(f"simulator ({name}): {ex.get('requests_total', 0)} HTTP requests served ({statuses})")
        served = sum(ex.get("requests_total", 0) for ex in used.values())
        print(f"simulator served {served} HTTP requests in all; Locust sent {http_request_count(totals)}")
