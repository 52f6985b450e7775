"""End to end: a locustfile that leaks memory and file descriptors on purpose is reported as a resource leak of
its process, from the files the run wrote; a clean run of the same length is not."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from analysis.report import write_report
from tests.support.e2e import loadgen_run, run_locust, simulator

pytestmark = pytest.mark.e2e
LEAKY = Path(__file__).resolve().parent / "support" / "locustfiles" / "leaky.py"
RUN_S = 14  # judged after the first 20% (warm-up): about 11 samples a process


def _leaks(run_dir: Path) -> list[dict]:
    report = write_report(run_dir, formats=("json",)).report
    return [f for f in report["findings"] if f["kind"] == "resource_leak"]


def _samples(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "locust_process_history.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_a_leaking_locustfile_is_found_and_its_process_named(tmp_path: Path) -> None:
    with simulator(tmp_path) as sim:
        run = run_locust(sim, tmp_path / "run", ["LeakyPoller"], users=2, run_time_s=RUN_S,
                         extra=["-f", str(LEAKY)])
    assert run.returncode == 0, run.output
    samples = _samples(run.run_dir)
    assert {r["process"] for r in samples} == {"local"} and len(samples) >= RUN_S
    leaks = {f["evidence"]["resource"]: f for f in _leaks(run.run_dir)}
    assert set(leaks) == {"rss_mb", "fds"}
    pid = int(samples[0]["pid"])
    for resource, leak in leaks.items():
        evidence = leak["evidence"]
        assert (evidence["process"], evidence["role"], evidence["pid"]) == ("local", "local", pid)
        # 2 users keep 1 MiB and 1 descriptor each every 0.25 s: 8 a second, 480 a minute (less on a busy machine)
        assert 200 <= evidence["slope_per_min"] <= 600, (resource, evidence)
        assert evidence["rise"] >= 30 and evidence["trend"] >= 0.9
        assert f"(pid {pid})" in leak["message"] and "on_stop" in leak["recommendation"]
    totals = json.loads(Path(f"{run.run_dir}/locust_process.json").read_text())["processes"]
    (local,) = totals
    assert local["fds"]["last"] - local["fds"]["first"] >= 60  # what the CSV's first and last rows say too
    assert local["fds"]["last"] == int(samples[-1]["fds"]) and local["rss_mb"]["max"] == max(
        float(r["rss_mb"]) for r in samples)


def test_a_clean_run_has_no_leak_and_every_process_is_judged(tmp_path: Path) -> None:
    run = loadgen_run(tmp_path / "results", "--duration", str(RUN_S), "--users", "2", "--spawn-rate", "2")
    assert run.returncode == 0, run.output
    report = json.loads((run.run_dir / "analysis" / "report.json").read_text())
    assert [f for f in report["findings"] if f["kind"] == "resource_leak"] == []
    processes = {p["process"]: p for p in report["resources"]["processes"]}
    assert set(processes) == {"local", "simulator"}
    for p in processes.values():
        for resource in ("rss_mb", "fds"):
            assert p[resource]["samples"] >= 8 and p[resource]["leak"] is False, (p["process"], resource)
        assert p["rss_mb"]["first"] > 20 and p["fds"]["first"] >= 3
