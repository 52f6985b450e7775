"""Bad input: one line naming the file and the problem, exit code 2, no traceback."""

from __future__ import annotations

import json

import pytest

from analysis import AnalysisError, analyse_run
from analysis.cli import main
from tests.support.analysis_runs import RunBuilder


@pytest.fixture
def run_dir(tmp_path):
    return RunBuilder(seconds=12).entry("GET", "depth", 5).write(tmp_path / "run")


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(capsys, args, *expected: str) -> None:
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in out + err
    for text in expected:
        assert text in err, err


def test_missing_directory(tmp_path, capsys):
    assert_one_line_error(capsys, [tmp_path / "nope"], "nope", "no such directory")


def test_directory_without_locust_csv(tmp_path, capsys):
    assert_one_line_error(capsys, [tmp_path], "_stats_history.csv")


def test_empty_history_file(run_dir, capsys):
    (run_dir / "locust_stats_history.csv").write_text("")
    assert_one_line_error(capsys, [run_dir], "locust_stats_history.csv", "empty file")


def test_header_only_history(run_dir, capsys):
    path = run_dir / "locust_stats_history.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    assert_one_line_error(capsys, [run_dir], "locust_stats_history.csv", "no data rows")


def test_truncated_csv(run_dir, capsys):
    path = run_dir / "locust_stats_history.csv"
    path.write_text(path.read_text()[:-25])
    assert_one_line_error(capsys, [run_dir], "locust_stats_history.csv", "truncated")


def test_columns_from_another_locust_version(run_dir, capsys):
    path = run_dir / "locust_stats_history.csv"
    text = path.read_text()
    path.write_text(text.replace("Total Request Count", "# requests", 1))
    assert_one_line_error(capsys, [run_dir], "locust_stats_history.csv", "missing columns", "Total Request Count")


def test_value_that_is_not_a_number(run_dir, capsys):
    path = run_dir / "locust_stats_history.csv"
    lines = path.read_text().splitlines()
    fields = lines[3].split(",")
    fields[0] = "soon"
    lines[3] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    assert_one_line_error(capsys, [run_dir], "locust_stats_history.csv", "line 4", "Timestamp")


def test_missing_failures_csv(run_dir, capsys):
    (run_dir / "locust_failures.csv").unlink()
    assert_one_line_error(capsys, [run_dir], "locust_failures.csv", "missing")


def test_truncated_totals_json(run_dir, capsys):
    path = run_dir / "totals.json"
    path.write_text(path.read_text()[:-10])
    assert_one_line_error(capsys, [run_dir], "totals.json", "not valid JSON")


def test_totals_json_of_another_shape(run_dir, capsys):
    (run_dir / "totals.json").write_text(json.dumps([{"name": "depth"}]))
    assert_one_line_error(capsys, [run_dir], "totals.json", "num_requests")


def test_exchange_history_without_its_columns(run_dir, capsys):
    (run_dir / "locust_exchange_history.csv").write_text("timestamp,exchange\n1,binance\n")
    assert_one_line_error(capsys, [run_dir], "locust_exchange_history.csv", "requests")


def test_two_csv_sets_in_one_directory(run_dir, capsys):
    (run_dir / "other_stats_history.csv").write_text((run_dir / "locust_stats_history.csv").read_text())
    assert_one_line_error(capsys, [run_dir], "several Locust CSV sets")


def test_unknown_threshold_and_format(run_dir, capsys):
    assert_one_line_error(capsys, [run_dir, "--threshold", "nope=1"], "unknown threshold 'nope'")
    assert_one_line_error(capsys, [run_dir, "--threshold", "timeout_share=lots"], "timeout_share")
    assert_one_line_error(capsys, [run_dir, "--format", "pdf"], "unknown format pdf")


def test_usage_errors_are_one_line(run_dir, capsys):
    assert_one_line_error(capsys, [run_dir, "--fail-on", "critical"], "--fail-on")


def test_analyse_run_raises_the_dedicated_exception(tmp_path):
    with pytest.raises(AnalysisError, match="no such directory"):
        analyse_run(tmp_path / "missing")


def test_history_without_full_history_is_analysed_with_a_note(tmp_path, capsys):
    run_dir = RunBuilder(seconds=12, full_history=False).entry("GET", "depth", 5).write(tmp_path / "run")
    code, _, _ = run_cli(capsys, run_dir)
    assert code == 0
    report = json.loads((run_dir / "analysis" / "report.json").read_text())
    assert report["run"]["full_history"] is False
    assert any("cumulative" in note for note in report["notes"])
    assert report["capacity"]["latency_knee"] is None


def test_ramp_plateaus_without_their_columns(run_dir, capsys):
    (run_dir / "locust_ramp.csv").write_text("exchange,index,target_rps\nbinance,1,10\n")
    assert_one_line_error(capsys, [run_dir], "locust_ramp.csv", "missing columns", "verdict")


def test_a_process_history_value_that_is_not_a_number(tmp_path, capsys):
    run_dir = RunBuilder(seconds=12).entry("GET", "depth", 5).process_seconds("local", 80.0, 12).write(tmp_path / "run")
    path = run_dir / "locust_process_history.csv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace(",80.0,", ",lots,")
    path.write_text("\n".join(lines) + "\n")
    assert_one_line_error(capsys, [run_dir], "locust_process_history.csv", "line 3", "rss_mb")
