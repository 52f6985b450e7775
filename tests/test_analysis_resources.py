"""Resource leaks: a steady rise of a process's memory or open files after warm-up is a finding; flat, noisy,
warm-up-only or one-step series are not. Hand-made series, judged as the report judges them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from analysis.model import Thresholds
from analysis.report import write_report
from analysis.resources import fit, is_leak, judge
from tests.support.analysis_runs import RunBuilder

T = Thresholds()
SECONDS = 60


def _judge(values: list[float], column: str = "rss_mb", thresholds: Thresholds = T) -> tuple[bool, object]:
    t = np.arange(len(values), dtype=float)
    trend = judge(t, np.array(values, dtype=float), 0.0, float(len(values) - 1), thresholds)
    return trend is not None and is_leak(column, trend, thresholds), trend


def test_theil_sen_ignores_outliers_and_kendall_sees_order() -> None:
    t = np.arange(20, dtype=float)
    v = 100 + 2 * t
    v[5], v[12] = 900, -50  # two wild samples
    slope, tau = fit(t, v)
    assert slope == pytest.approx(2.0)
    assert tau > 0.7
    assert fit(t, np.full(20, 7.0)) == (0.0, 0.0)


def test_a_flat_series_is_no_leak() -> None:
    leak, trend = _judge([120.0] * SECONDS)
    assert not leak and trend.rise == 0 and trend.tau == 0


def test_noise_around_a_flat_level_is_no_leak() -> None:
    rng = random.Random(7)
    leak, trend = _judge([120 + rng.uniform(-15, 15) for _ in range(SECONDS)])
    assert not leak and abs(trend.tau) < 0.3


def test_a_steady_rise_is_a_leak_with_its_slope_and_rise() -> None:
    rng = random.Random(3)
    leak, trend = _judge([100 + 1.0 * i + rng.uniform(-2, 2) for i in range(SECONDS)])  # 1 MB/s plus noise
    assert leak
    assert trend.slope_per_min == pytest.approx(60, rel=0.1)
    assert trend.rise == pytest.approx(47, rel=0.1)  # judged from 20% of the run on: 47 s
    assert trend.from_s == 12 and trend.to_s == 59


def test_a_rise_during_warm_up_only_is_no_leak() -> None:
    values = [50 + 10 * i for i in range(10)] + [150.0] * (SECONDS - 10)  # up by 100 MB in the first 10 s
    leak, trend = _judge(values)
    assert not leak and trend.rise == 0


def test_a_warm_up_spike_then_flat_is_no_leak() -> None:
    values = [100.0] * SECONDS
    values[3:8] = [400.0] * 5
    assert not _judge(values)[0]


def test_a_single_step_halfway_is_no_leak() -> None:
    values = [100.0] * (SECONDS // 2) + [160.0] * (SECONDS // 2)  # a cache filled once
    leak, trend = _judge(values)
    assert not leak and trend.tau < T.leak_trend


def test_a_steady_but_small_rise_is_below_the_threshold() -> None:
    leak, trend = _judge([100 + 0.1 * i for i in range(SECONDS)])  # 6 MB/min, about 5 MB over the judged span
    assert not leak and trend.tau == 1.0
    assert _judge([100 + 0.1 * i for i in range(SECONDS)], thresholds=T.with_overrides({"leak_rss_mb": "3"}))[0]


def test_descriptors_leak_in_steps() -> None:
    leak, trend = _judge([10 + 2 * (i // 3) for i in range(SECONDS)], column="fds")  # 2 more every 3 s
    assert leak and trend.slope_per_min == pytest.approx(40, rel=0.05)


def test_too_few_samples_after_warm_up_are_not_judged() -> None:
    assert _judge([100.0 + 10 * i for i in range(8)])[1] is None


def test_the_report_names_the_leaking_process_and_not_the_clean_ones(tmp_path: Path) -> None:
    run = RunBuilder(seconds=SECONDS).entry("GET", "/api/v3/ticker/price", 10)
    run.process_seconds("master", 80.0, 12, role="master", pid=100)
    run.process_seconds("host_1", [90 + 0.8 * i for i in range(SECONDS)], 30, role="worker", pid=101)
    run.process_seconds("host_2", 90.0, [20 + i for i in range(SECONDS)], role="worker", pid=102)
    run.simulator_seconds(rss_mb=60.0, fds=[None] * SECONDS)
    outcome = write_report(run.write(tmp_path / "run"), formats=("json",))
    leaks = [f for f in outcome.report["findings"] if f["kind"] == "resource_leak"]
    assert sorted((f["evidence"]["process"], f["evidence"]["resource"]) for f in leaks) == [
        ("host_1", "rss_mb"), ("host_2", "fds")]
    memory = next(f for f in leaks if f["evidence"]["resource"] == "rss_mb")
    assert "worker process 'host_1' (pid 101)" in memory["message"]
    assert memory["evidence"]["slope_per_min"] == pytest.approx(48, rel=0.05)
    assert "on_stop" in memory["recommendation"] and "ulimit -n" in memory["recommendation"]
    processes = {p["process"]: p for p in outcome.report["resources"]["processes"]}
    assert set(processes) == {"master", "host_1", "host_2", "simulator"}
    assert processes["simulator"]["fds"] is None and processes["simulator"]["rss_mb"]["leak"] is False
    report = json.loads((tmp_path / "run" / "analysis" / "report.json").read_text())
    assert report["resources"]["leaks"] == 2
    write_report(tmp_path / "run", formats=("md",))
    markdown = (tmp_path / "run" / "analysis" / "report.md").read_text()
    assert "## Memory and open files" in markdown
    assert "| host_1 | worker | 99.6 → 137.2 MB (max 137.2) | 48 MB/min: leak |" in markdown


def test_a_leaking_simulator_is_named(tmp_path: Path) -> None:
    run = RunBuilder(seconds=SECONDS).entry("GET", "/api/v3/ticker/price", 10)
    run.simulator_seconds(rss_mb=[50 + 2 * i for i in range(SECONDS)], fds=40)
    outcome = write_report(run.write(tmp_path / "run"), formats=("json",))
    (leak,) = [f for f in outcome.report["findings"] if f["kind"] == "resource_leak"]
    assert leak["evidence"]["process"] == "simulator" and leak["message"].startswith("the simulator: memory")


def test_an_older_run_without_usage_files_has_no_resources(tmp_path: Path) -> None:
    run = RunBuilder(seconds=20).entry("GET", "/api/v3/ticker/price", 10).simulator_seconds()
    run_dir = run.write(tmp_path / "run")
    sim = run_dir / "simulator_history.csv"  # as written before memory and files were recorded
    sim.write_text("".join(line.rsplit(",", 2)[0] + "\n" for line in sim.read_text().splitlines()))
    outcome = write_report(run_dir, formats=("json",))
    assert outcome.report["resources"]["processes"] == []
    assert outcome.report["simulator"] is not None
