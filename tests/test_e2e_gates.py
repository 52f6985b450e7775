"""End to end: CI gates through the runner (local and distributed) against the real simulator."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from exchanges import NAMES
from tests.support.e2e import ALL_USERS
from tests.support.figures import check_run_figures

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e

# Short bans: a user waits a ban out inside its task, and Locust's graceful stop would wait for it (10 s).
RATE_LIMITED_SIM = """
[binance.rate_limits]
request_weight = { limit = 30, interval_s = 10 }
[binance.bans]
first_ban_s = 1
max_ban_s = 2
"""


def runner(*args: str, results: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "loadgen", "run", "--results-dir", str(results), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)


def only_run_dir(results: Path) -> Path:
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


def junit_cases(run_dir: Path) -> dict[str, ET.Element]:
    return {c.get("name"): c for c in ET.parse(run_dir / "locust_junit.xml").getroot().iter("testcase")}


def test_thresholds_that_hold_pass_a_run_with_rate_limited_requests(tmp_path):
    sim_config = tmp_path / "sim.toml"
    sim_config.write_text(RATE_LIMITED_SIM)
    gates = tmp_path / "gates.toml"
    gates.write_text('thresholds = ["p99[binance depth]<2000", "ws_gaps==0"]\n')
    proc = runner("--duration", "6", "--users", "6", "--sim-config", str(sim_config), "--thresholds-file", str(gates),
                  "--threshold", "p95<2000", "--threshold", "ws_event_latency_p95<2000", "--threshold", "rps>0.5",
                  "--", "--mode", "probe", results=tmp_path / "results")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    run_dir = only_run_dir(tmp_path / "results")
    totals = json.loads((run_dir / "totals.json").read_text())
    assert sum(e["num_failures"] for e in totals) > 0  # 429s: failed requests alone do not fail the run
    cases = junit_cases(run_dir)
    assert set(cases) == {"p99[binance depth]<2000", "ws_gaps==0", "p95<2000", "ws_event_latency_p95<2000", "rps>0.5"}
    assert all(c.find("failure") is None for c in cases.values())
    summary = (run_dir / "locust_summary.md").read_text()
    assert "✅ all 5 thresholds passed" in summary and "| binance |" in summary
    assert "rps>0.5" in json.loads((run_dir / "run.json").read_text())["thresholds"]
    verdict = json.loads((run_dir / "analysis" / "report.json").read_text())["header"]["verdict"]
    assert verdict["status"] == "pass" and verdict["text"].startswith("PASS: all 5 thresholds passed; worst finding")
    assert "threshold rps>0.5 passed: measured" in output


def test_a_failed_threshold_exits_3_with_its_measured_value(tmp_path):
    proc = runner("--duration", "4", "--users", "3", "--threshold", "p50<0.01", "--threshold", "ws_gaps==0",
                  results=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "thresholds failed (1; see" in proc.stderr
    assert "  p50<0.01: measured " in proc.stderr
    run_dir = only_run_dir(tmp_path)
    cases = junit_cases(run_dir)
    assert cases["p50<0.01"].find("failure") is not None and cases["ws_gaps==0"].find("failure") is None
    header = json.loads((run_dir / "analysis" / "report.json").read_text())["header"]  # the report's verdict agrees
    assert header["verdict"]["status"] == "fail" and header["verdict"]["text"].startswith("FAIL: 1 of 2 thresholds")
    assert header["thresholds"]["messages"] == [cases["p50<0.01"].find("failure").get("message")]
    assert header["target"]["simulator"] and header["settings"]["users"] == 3
    markdown = (run_dir / "analysis" / "report.md").read_text()
    assert markdown.splitlines()[2].startswith("**❌ Verdict: FAIL: 1 of 2 thresholds failed")


def test_unusable_thresholds_exit_2_before_any_load(tmp_path):
    proc = runner("--duration", "30", "--threshold", "p95<fast", results=tmp_path)
    assert proc.returncode == 2 and "'fast' is not a number" in proc.stderr
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # nothing was started
    started = time.monotonic()
    proc = runner("--duration", "30", "--threshold", "p95[dpeth]<300", results=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "'dpeth' is not an exchange or request of this run" in proc.stdout
    assert time.monotonic() - started < 25  # refused at Locust's start, not after the 30 s run
    totals = only_run_dir(tmp_path) / "totals.json"
    assert not totals.exists() or json.loads(totals.read_text()) == []


def test_threshold_abort_stops_the_run_early(tmp_path):
    gates = tmp_path / "gates.toml"
    gates.write_text('thresholds = ["p50<0.01"]\nabort_on_fail = true\nabort_delay_s = 2\n')
    started = time.monotonic()
    proc = runner("--duration", "60", "--users", "3", "--thresholds-file", str(gates), results=tmp_path / "results")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert time.monotonic() - started < 40
    assert "stopping the run: a threshold failed (--threshold-abort)" in proc.stdout


def test_distributed_run_checks_thresholds_on_the_master_with_merged_data(tmp_path):
    proc = runner("--duration", "6", "--users", "6", "--workers", "2", "--threshold", "p95<2000",
                  "--threshold", "requests>20", "--threshold", "ws_gaps[binance]==0", "--threshold", "p99<0.01",
                  results=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    run_dir = only_run_dir(tmp_path)
    cases = junit_cases(run_dir)
    assert [name for name, c in cases.items() if c.find("failure") is not None] == ["p99<0.01"]
    totals = json.loads((run_dir / "totals.json").read_text())
    http = sum(e["num_requests"] for e in totals if e["method"] != "WS" and e["method"] in ("GET", "POST", "DELETE"))
    measured = cases["requests>20"].find("system-out").text
    assert f"measured: {http}" in measured  # both workers' requests, as the master merged them


# --- A side-by-side run (EXCHANGE=all): every threshold metric, whole run, per exchange and per request

EXCHANGES = NAMES
SIDE_BY_SIDE_SIM = """
[binance.rate_limits]
request_weight = { limit = 60, interval_s = 10 }
[binance.bans]
first_ban_s = 2
max_ban_s = 4
limited_requests_before_ban = 3
[coinbase.rate_limits]
public = { rate_per_s = 2, burst = 3 }
[kraken.faults]
ws_drop_per_min = 20
"""
REQUEST_METRICS = ("p50", "p95", "p99", "p99.9", "avg", "max", "rps", "requests", "failures", "fail_ratio",
                   "rate_limited", "rate_limited_ratio", "banned")
STREAM_METRICS = ("ws_event_latency_p50", "ws_event_latency_p95")
EXCHANGE_METRICS = ("ws_gaps", "ws_drops", "ws_reconnects", "late_start_ratio")
PER_REQUEST = {  # scope as written -> (exchange, the request's own name)
    "binance depth": ("binance", "depth"),
    "binance:time": ("binance", "time"),
    "coinbase ticker": ("coinbase", "ticker"),
    "kraken:Ticker": ("kraken", "Ticker"),
    "kraken connect": ("kraken", "connect"),
    "binance:connect": ("binance", "connect"),
    "kraken reconnect": ("kraken", "reconnect"),
}
STREAM_REQUESTS = {"kraken book:BTC/USD": ("kraken", "book:BTC/USD"),
                   "coinbase:matches:BTC-USD": ("coinbase", "matches:BTC-USD")}


def side_by_side_thresholds() -> list[str]:
    """Every metric on the whole run and on each exchange, and request metrics on single requests. The bounds
    hold on any run with data ("no data" fails): what is checked is the measured value, against the files."""
    def expression(metric: str, scope: str = "") -> str:
        return f"{metric}{f'[{scope}]' if scope else ''}{'>0' if metric in ('rps', 'requests') else '>=0'}"

    texts = [expression(m) for m in (*REQUEST_METRICS, *STREAM_METRICS, *EXCHANGE_METRICS)]
    texts += [expression(m, ex) for ex in EXCHANGES for m in (*REQUEST_METRICS, *STREAM_METRICS, *EXCHANGE_METRICS)]
    texts += [expression(m, scope) for scope in PER_REQUEST for m in ("p95", "max", "requests", "fail_ratio")]
    texts += [expression("rate_limited", "binance depth"), expression("requests", "time")]
    texts += [expression(m, scope) for scope in STREAM_REQUESTS for m in STREAM_METRICS]
    return texts


def measured_values(run_dir: Path) -> dict[str, float]:
    values = {}
    for name, case in junit_cases(run_dir).items():
        assert case.find("failure") is None and case.find("error") is None, name
        text = case.find("system-out").text.split("measured: ", 1)[1]
        assert text != "no data", name
        values[name] = float(re.match(r"-?[\d.]+(?:e-?\d+)?", text).group())
    return values


def expected_values(run_dir: Path) -> dict[str, float]:
    """What each threshold must have measured, recomputed from totals.json, the failures CSV and
    locust_exchange.json: rows told apart by their exchange prefix only."""
    from analysis.histogram import merge, percentile
    from exchanges import get_adapter

    totals = json.loads((run_dir / "totals.json").read_text())
    counters = json.loads((run_dir / "locust_exchange.json").read_text())["exchanges"]
    with (run_dir / "locust_failures.csv").open() as f:
        failures = list(csv.DictReader(f))
    adapters = {name: get_adapter(name) for name in EXCHANGES}
    streams = {name: {a.stream_name(s, k) for s in a.default_symbols for k in a.default_streams}
               for name, a in adapters.items()}

    def rows(exchange: str | None, names: set[str] | None, rest: bool) -> list[dict]:
        chosen = []
        for entry in totals:
            owner, _, base = entry["name"].partition(":")
            assert owner in EXCHANGES, f"row without its exchange: {entry['method']} {entry['name']}"
            if exchange not in (None, owner) or (entry["method"] == "WS") == rest:
                continue
            wanted = names if names is not None else (
                set(adapters[owner].endpoints) if rest else streams[owner])
            if base in wanted:
                chosen.append(entry)
        return chosen

    def classified(entries: list[dict], *kinds: str) -> int:
        keys = {(e["method"], e["name"]) for e in entries}
        return sum(int(r["Occurrences"]) for r in failures
                   if (r["Method"], r["Name"]) in keys and r["Error"].startswith(tuple(f"{k}:" for k in kinds)))

    def request_values(entries: list[dict]) -> dict[str, float | None]:
        histogram = merge({int(k): v for k, v in e["response_times"].items()} for e in entries)
        requests = sum(e["num_requests"] for e in entries)
        timed = sum(histogram.values())
        failed = sum(e["num_failures"] for e in entries)
        limited = classified(entries, "rate_limited", "banned")
        return {
            "p50": percentile(histogram, 0.5), "p95": percentile(histogram, 0.95),
            "p99": percentile(histogram, 0.99), "p99.9": percentile(histogram, 0.999),
            "avg": sum(e["total_response_time"] for e in entries) / timed if timed else None,
            "max": max(e["max_response_time"] for e in entries) if timed else None,
            "requests": requests, "failures": failed, "fail_ratio": failed / requests if requests else None,
            "rate_limited": limited, "rate_limited_ratio": limited / requests if requests else None,
            "banned": classified(entries, "banned"),
        }

    def stream_values(entries: list[dict]) -> dict[str, float | None]:
        histogram = merge({int(k): v for k, v in e["response_times"].items()} for e in entries)
        return {"ws_event_latency_p50": percentile(histogram, 0.5), "ws_event_latency_p95": percentile(histogram, 0.95)}

    def exchange_values(names: tuple[str, ...]) -> dict[str, float | None]:
        total = {k: sum(counters[n][k] for n in names) for k in ("ws_gaps", "ws_drops", "ws_reconnects",
                                                                  "late_starts", "paced_starts")}
        ratio = total["late_starts"] / total["paced_starts"] if total["paced_starts"] else None
        return {"ws_gaps": total["ws_gaps"], "ws_drops": total["ws_drops"], "ws_reconnects": total["ws_reconnects"],
                "late_start_ratio": ratio}

    expected: dict[str, float | None] = {}
    for scope, exchange in [("", None), *((ex, ex) for ex in EXCHANGES)]:
        label = f"[{scope}]" if scope else ""
        values = {**request_values(rows(exchange, None, rest=True)), **stream_values(rows(exchange, None, rest=False)),
                  **exchange_values((exchange,) if exchange else EXCHANGES)}
        expected |= {f"{metric}{label}": value for metric, value in values.items()}
    for scope, (exchange, name) in PER_REQUEST.items():
        rest = name not in ("connect", "reconnect")
        values = request_values(rows(exchange, {name}, rest=rest))
        expected |= {f"{metric}[{scope}]": value for metric, value in values.items()}
    expected["requests[time]"] = sum(e["num_requests"] for e in rows(None, {"time"}, rest=True))
    for scope, (exchange, name) in STREAM_REQUESTS.items():
        expected |= {f"{metric}[{scope}]": v for metric, v in stream_values(rows(exchange, {name}, rest=False)).items()}
    return expected


def test_a_side_by_side_run_measures_every_metric_whole_per_exchange_and_per_request(tmp_path):
    sim_config = tmp_path / "sim.toml"
    sim_config.write_text(SIDE_BY_SIDE_SIM)
    gates = tmp_path / "gates.toml"
    thresholds = side_by_side_thresholds()
    gates.write_text("thresholds = [\n" + "".join(f"  {json.dumps(t)},\n" for t in thresholds) + "]\n")
    users = str(ALL_USERS)
    proc = runner("--exchange", "all", "--duration", "15", "--users", users, "--spawn-rate", users,
                  "--sim-config", str(sim_config), "--thresholds-file", str(gates), "--", "--target-rps", "12",
                  results=tmp_path / "results", timeout=180)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    run_dir = only_run_dir(tmp_path / "results")
    measured = measured_values(run_dir)
    assert len(measured) == len(thresholds)
    expected = expected_values(run_dir)
    for text, value in measured.items():
        key = re.sub(r"(<|>|=).*$", "", text)
        if key.startswith("rps"):
            continue
        want = expected[key]
        assert want is not None, f"{text}: nothing to measure in the files"
        shown = 0.51 if want >= 100 else 0.051  # milliseconds are shown to 1 decimal below 100, else to 0
        assert value == pytest.approx(want, rel=1e-3, abs=shown), f"{text}: measured {value}, files say {want}"
    # rps: requests over one duration, the same for every scope: the test's start to its stop, as every file says
    window = json.loads((run_dir / "locust_exchange.json").read_text())["run"]
    totals = json.loads((run_dir / "totals.json").read_text())
    duration = measured["requests>0"] / measured["rps>0"]
    assert duration == pytest.approx(window["duration_s"], abs=0.1)
    for ex in EXCHANGES:
        assert measured[f"rps[{ex}]>0"] == pytest.approx(measured[f"requests[{ex}]>0"] / duration, rel=0.01, abs=0.06)
    # the run really had what the metrics count
    for ex in EXCHANGES:
        assert expected[f"requests[{ex}]"] > 5 and expected[f"late_start_ratio[{ex}]"] is not None
        assert expected[f"ws_event_latency_p95[{ex}]"] is not None
    assert expected["rate_limited[binance]"] > 0 and expected["banned[binance]"] > 0
    assert expected["rate_limited[coinbase]"] > 0 and expected["banned[coinbase]"] == 0
    assert expected["ws_drops[kraken]"] > 0 and expected["ws_reconnects[kraken]"] > 0
    assert expected["requests[time]"] > expected["requests[binance:time]"] > 0  # Coinbase's time too
    # per-exchange tables: every exchange's rows counted under it
    summary = (run_dir / "locust_summary.md").read_text()
    assert f"| {int(expected['requests'])} | {int(expected['failures'])} |" in summary
    counters = json.loads((run_dir / "locust_exchange.json").read_text())["exchanges"]
    for ex in EXCHANGES:
        messages = sum(e["num_requests"] - e["num_failures"] for e in totals  # failures: drops, gaps, errors
                       if e["method"] == "WS" and e["name"].startswith(f"{ex}:")
                       and e["name"].partition(":")[2] not in ("connect", "reconnect"))
        assert counters[ex]["ws_messages"] == messages, ex
        assert counters[ex]["rate_limited"] + counters[ex]["banned"] == expected[f"rate_limited[{ex}]"], ex
    check_run_figures(run_dir, output=output)  # and every file of the run tells the same figures
    report = json.loads((run_dir / "analysis" / "report.json").read_text())
    assert all(e["exchange"] == e["name"].partition(":")[0] for e in report["latency"]["endpoints"])
    assert all(s["exchange"] == s["stream"].partition(":")[0] for s in report["websocket"]["streams"])
    assert set(report["websocket"]["connects_by_exchange"]) == set(EXCHANGES)
