"""The report files, the printed summary, --format, --fail-on exit codes and --compare."""

from __future__ import annotations

import json
import re

import pytest

from analysis import analyse_run
from analysis.cli import main
from tests.support.analysis_runs import RunBuilder


def limited_run(tmp_path, name: str = "run", latency_ms: float = 5.0, rate_limited: int = 3):
    """20 s at 10 requests/s in 5 s limit windows; from 10 s on, `rate_limited` of them per second are answered 429
    (and the client keeps sending: Retry-After ignored)."""
    builder = RunBuilder(seconds=20).entry("GET", "depth", 10, failures=[0] * 10 + [rate_limited] * 10,
                                           latency_ms=latency_ms)
    builder.exchange_seconds(requests=10, weight_requested=50, rate_limited=[0] * 10 + [rate_limited] * 10,
                             used_weight_last=[50 * (i % 5 + 1) for i in range(20)],
                             used_weight_max=[50 * (i % 5 + 1) for i in range(20)])
    if rate_limited:
        builder.failure("GET", "depth", "rate_limited: -1003 HTTP 429", 10 * rate_limited, first=10, last=19)
    return builder.write(tmp_path / name)


def test_writes_markdown_json_html_and_charts(tmp_path, capsys):
    run_dir = limited_run(tmp_path)
    assert main([str(run_dir), "--out", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    printed = capsys.readouterr().out
    assert "binance: rate-limited from 10 s" in printed and str(out / "report.md") in printed
    report = json.loads((out / "report.json").read_text())
    assert set(report) >= {"run", "exchanges", "findings"}
    assert set(report["run"]) >= {"duration_s", "requests", "failures", "workers"}
    assert report["run"]["requests"] == 200 and report["run"]["failures"] == 30
    limit = report["exchanges"]["binance"]["rate_limit"]
    assert set(limit["onset"]) >= {"time_s", "users", "requests_per_s", "used_weight"}
    assert limit["onset"]["time_s"] == 10 and limit["onset"]["used_weight"] == 50
    assert set(limit["estimated_limit"]) >= {"value", "unit"} and limit["estimated_limit"]["unit"] == "weight/5s"
    assert "max_safe_requests_per_s" in limit
    finding = report["findings"][0]
    assert set(finding) == {"kind", "exchange", "severity", "message", "evidence", "recommendation"}
    assert {c["file"] for c in report["charts"]} >= {"requests.png", "latency.png", "errors.png", "weight.png"}
    for chart in report["charts"]:
        assert (out / chart["file"]).read_bytes().startswith(b"\x89PNG")
        assert f"]({chart['file']})" in (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert html.count('<figure class="chart"><svg') == len(report["charts"])
    assert not re.search(r'(src|href)="(?!data:|#)', html), "report.html must not load anything from elsewhere"


def test_default_output_directory_keeps_locusts_own_report(tmp_path, capsys):
    run_dir = limited_run(tmp_path)
    (run_dir / "report.html").write_text("Locust's report")
    summary = analyse_run(run_dir)
    assert (run_dir / "report.html").read_text() == "Locust's report"
    assert (run_dir / "analysis" / "report.html").is_file()
    assert summary.splitlines()[0].startswith(f"analysis of {run_dir.name}:")


def test_format_selects_the_files(tmp_path, capsys):
    run_dir = limited_run(tmp_path)
    assert main([str(run_dir), "--out", str(tmp_path / "out"), "--format", "json"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.json"]


@pytest.mark.parametrize(("rate_limited", "fail_on", "code"), [
    (3, "high", 1),  # 15% rate-limited: high
    (3, "low", 1),
    (1, "high", 0),  # 5%: the onset is low, ignoring Retry-After medium
    (1, "medium", 1),
    (0, "low", 0),  # nothing found
])
def test_fail_on_exit_codes(tmp_path, capsys, rate_limited, fail_on, code):
    run_dir = limited_run(tmp_path, rate_limited=rate_limited)
    args = [str(run_dir), "--out", str(tmp_path / "out"), "--format", "json", "--fail-on", fail_on]
    assert main(args) == code


def test_thresholds_can_be_overridden(tmp_path, capsys):
    run_dir = limited_run(tmp_path, rate_limited=3)
    args = [str(run_dir), "--out", str(tmp_path / "out"), "--format", "json", "--fail-on", "high",
            "--threshold", "rate_limit_high_share=0.5"]
    assert main(args) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["thresholds"]["rate_limit_high_share"] == 0.5


def test_compare_shows_what_got_worse(tmp_path, capsys):
    baseline = limited_run(tmp_path, "baseline", latency_ms=5.0, rate_limited=1)
    current = limited_run(tmp_path, "current", latency_ms=50.0, rate_limited=3)
    assert main([str(current), "--compare", str(baseline), "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    comparison = report["comparison"]
    assert comparison["baseline_run"] == "baseline"
    rows = {m["metric"]: m for m in comparison["metrics"]}
    assert rows["REST p95 ms"]["baseline"] == 5 and rows["REST p95 ms"]["current"] == 50
    assert rows["REST p95 ms"]["verdict"] == "worse"
    assert rows["binance rate-limit share"]["verdict"] == "worse"
    assert rows["REST requests/s"]["verdict"] == "same"
    regressions = [f for f in report["findings"] if f["kind"] == "regression"]
    assert {f["evidence"]["metric"] for f in regressions} >= {"REST p95 ms", "binance rate-limit share"}
    assert "Compared with the baseline" in (tmp_path / "out" / "report.md").read_text()


def test_compare_with_a_bad_baseline_names_it(tmp_path, capsys):
    run_dir = limited_run(tmp_path)
    assert main([str(run_dir), "--compare", str(tmp_path / "nope")]) == 2
    assert "nope: no such directory" in capsys.readouterr().err


def test_a_ramp_run_charts_the_plateaus_tried(tmp_path, capsys):
    builder = RunBuilder(seconds=20, exchange="coinbase").entry("GET", "ticker", 8)
    builder.exchange_seconds(requests=[16] * 4 + [8] * 16, rate_limited=[6] * 4 + [0] * 16)
    builder.plateau("climb", 16, 0, 3, "rate_limited").plateau("probe", 8, 4, 19, "clean")
    run_dir = builder.write(tmp_path / "run")
    assert main([str(run_dir), "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "search.png" in {c["file"] for c in report["charts"]}
    assert report["exchanges"]["coinbase"]["rate_limit"]["max_safe_requests_per_s"] == 8
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "![Limit search: the plateaus tried, per exchange](search.png)" in markdown


def test_a_side_by_side_run_attributes_every_row_to_its_exchange(tmp_path):
    builder = RunBuilder(seconds=10, exchange=None, manifest={"exchanges": ["binance", "coinbase", "kraken"]})
    for name in ("binance:time", "coinbase:time", "kraken:Time"):
        builder.entry("GET", name, 2)
    builder.entry("WS", "binance:connect", [1] + [0] * 9, latency_ms=10.0)
    builder.entry("WS", "kraken:connect", [2] + [0] * 9, latency_ms=30.0)
    builder.entry("WS", "binance:btcusdt@trade", 20, latency_ms=3.0)
    builder.entry("WS", "kraken:trade:BTC/USD", 10, latency_ms=4.0)
    builder.entry("WS", "kraken:connection", [0] * 5 + [1] + [0] * 4, failures=[0] * 5 + [1] + [0] * 4,
                  latency_ms=None)
    builder.failure("WS", "kraken:connect", "connection: ConnectionRefusedError", 1, first=5, last=5)
    for exchange in ("binance", "coinbase", "kraken"):
        for i in range(10):
            builder.exchange_second(i, exchange=exchange, requests=2)
    run_dir = builder.write(tmp_path / "run")
    assert main([str(run_dir), "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(report["exchanges"]) == {"binance", "coinbase", "kraken"}
    endpoints = {e["name"]: e["exchange"] for e in report["latency"]["endpoints"]}
    assert endpoints["coinbase:time"] == "coinbase" and endpoints["kraken:Time"] == "kraken"
    ws = report["websocket"]
    assert ws["connect"]["attempts"] == 3 and ws["connect"]["time_ms"]["max"] == 30
    assert {name: c["connect"]["attempts"] for name, c in ws["connects_by_exchange"].items()} == {
        "binance": 1, "kraken": 2}
    assert {s["stream"]: s["exchange"] for s in ws["streams"]} == {
        "binance:btcusdt@trade": "binance", "kraken:trade:BTC/USD": "kraken"}  # no bookkeeping row is a stream
    connect_failure = next(f for f in report["findings"] if f["kind"] == "ws_connect_failures")
    assert connect_failure["exchange"] == "kraken" and "Binance" not in connect_failure["recommendation"]
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| connect | kraken | 2 |" in markdown and "| binance:btcusdt@trade | binance |" in markdown
    assert "| kraken | not reached |" in markdown and "| 1 calls/s |" in markdown  # Kraken's published limit
    assert "- kraken: rate limited = EAPI:Rate limit exceeded" in markdown and "Retry-After honoured" not in markdown
