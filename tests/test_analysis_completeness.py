"""Completeness findings: a run cut short, and workers lost in a distributed run."""

from __future__ import annotations

import json

from analysis.pipeline import analyse
from tests.support.analysis_runs import RunBuilder


def kinds(analysis) -> list[str]:
    return [f.kind for f in analysis.findings]


def test_a_finished_run_is_whole(tmp_path):
    run = RunBuilder(seconds=20).entry("GET", "depth", 10).write(tmp_path / "run")
    analysis = analyse(run)
    assert "run_cut_short" not in kinds(analysis) and analysis.report["completeness"]["cut_short"] is None


def test_an_interrupted_run_is_cut_short(tmp_path):
    run = RunBuilder(seconds=20, manifest={"interrupted": True, "duration_s": 60}).entry("GET", "depth", 10)
    analysis = analyse(run.write(tmp_path / "run"))
    (finding,) = [f for f in analysis.findings if f.kind == "run_cut_short"]
    assert "interrupted" in finding.message and "planned 60 s" in finding.message


def test_a_killed_run_has_no_end_in_its_manifest(tmp_path):
    run_dir = RunBuilder(seconds=20).entry("GET", "depth", 10).write(tmp_path / "run")
    manifest = json.loads((run_dir / "run.json").read_text())
    del manifest["finished_at"]
    (run_dir / "run.json").write_text(json.dumps(manifest))
    (finding,) = [f for f in analyse(run_dir).findings if f.kind == "run_cut_short"]
    assert "killed" in finding.message


def test_each_lost_worker_is_a_finding_with_its_share(tmp_path):
    run_dir = RunBuilder(seconds=20).entry("GET", "depth", 10).write(tmp_path / "run")
    lost = {"id": "w1", "first_seen_s": 0.1, "requests": 50, "users": 4, "lost_at_s": 12.0, "users_at_loss": 4,
            "user_share_at_loss": 0.5, "request_share_at_loss": 0.25, "back_at_s": None}
    kept = {**lost, "id": "w2", "lost_at_s": None}
    prefix = next(run_dir.glob("*_stats_history.csv")).name.removesuffix("_stats_history.csv")
    (run_dir / f"{prefix}_workers.json").write_text(json.dumps({"workers": [lost, kept]}))
    analysis = analyse(run_dir)
    (finding,) = [f for f in analysis.findings if f.kind == "worker_lost"]
    assert "w1 was lost at 12 s with 4 users (50% of users, 25% of the requests" in finding.message
    assert analysis.report["completeness"]["workers_lost"] == 1


def test_a_worker_whose_final_report_never_came_is_a_finding_with_its_share(tmp_path):
    run_dir = RunBuilder(seconds=20).entry("GET", "depth", 10).write(tmp_path / "run")
    silent = {"id": "w1", "first_seen_s": 0.1, "requests": 30, "users": 4, "final_report": False, "lost_at_s": None}
    fine = {**silent, "id": "w2", "requests": 90, "final_report": True}
    prefix = next(run_dir.glob("*_stats_history.csv")).name.removesuffix("_stats_history.csv")
    (run_dir / f"{prefix}_workers.json").write_text(json.dumps({"workers": [silent, fine]}))
    analysis = analyse(run_dir)
    (finding,) = [f for f in analysis.findings if f.kind == "worker_report_missing"]
    assert "w1's final report never came" in finding.message and "25% of the requests" in finding.message
    assert analysis.report["completeness"]["final_reports_missing"] == 1
    assert not [f for f in analysis.findings if f.kind == "worker_lost"]
