"""Who limited the run: a loaded generator, a loaded simulator or a rate-limited exchange, on hand-made runs."""

from __future__ import annotations

import json

import pytest

from analysis import analyse_run
from analysis.model import Severity, Thresholds
from analysis.pipeline import analyse
from tests.support.analysis_runs import RunBuilder, cpu_warning_line

USERS = [u for u in range(5, 45, 5) for _ in range(10)]  # 5..40 users, 10 s each; 25 users from 40 s
FLAT_FROM_S = 40
THROUGHPUT = [min(u, 25) * 10 for u in USERS]  # 10 requests/s per user up to 25 users, then flat
LATENCY = [5.0 if u <= 20 else 5.0 * (u - 15) for u in USERS]  # rising fast from 25 users
THREE_CASES = ("client_cpu_saturated", "simulator_saturated", "rate_limit_onset")


def ramp() -> RunBuilder:
    builder = RunBuilder(seconds=len(USERS), users=USERS)
    return builder.entry("GET", "ticker", THROUGHPUT, latency_ms=LATENCY)


def busy_from(start_s: int, busy: float, idle: float, seconds: int | None = None) -> list[float]:
    end = len(USERS) if seconds is None else start_s + seconds
    return [busy if start_s <= i < end else idle for i in range(len(USERS))]


def kinds(analysis) -> dict[str, object]:
    return {f.kind: f for f in analysis.findings}


def test_a_clean_run_blames_nobody(tmp_path):
    builder = RunBuilder(seconds=len(USERS), users=USERS).entry("GET", "ticker", [u * 10 for u in USERS])
    analysis = analyse(builder.simulator_seconds(cpu_share=0.3, lag_p50_ms=0.6).write(tmp_path / "run"))
    assert not set(THREE_CASES) & set(kinds(analysis))
    simulator = analysis.report["simulator"]
    assert simulator["saturated"] is False and simulator["saturated_from_s"] is None and simulator["spans"] == []
    assert simulator["seconds"] == len(USERS) and simulator["cpu_share_max"] == pytest.approx(0.3)


def test_a_loaded_generator_is_the_generator_not_the_simulator(tmp_path):
    builder = ramp().simulator_seconds(cpu_share=0.4, lag_p50_ms=1.0)
    builder.log_lines = [cpu_warning_line(FLAT_FROM_S)]
    found = kinds(analyse(builder.write(tmp_path / "run")))
    assert "client_cpu_saturated" in found and "simulator_saturated" not in found
    assert found["throughput_ceiling"].evidence["cause"] == "load_generator"
    assert found["latency_knee"].evidence["cause"] == "load_generator"


def test_a_loaded_simulator_is_named_as_the_ceiling_not_the_exchange(tmp_path):
    builder = ramp().simulator_seconds(cpu_share=busy_from(FLAT_FROM_S, 0.97, 0.5), lag_p50_ms=20.0,
                                       requests=THROUGHPUT)
    analysis = analyse(builder.write(tmp_path / "run"))
    found = kinds(analysis)
    saturated = found["simulator_saturated"]
    assert saturated.severity is Severity.MEDIUM
    assert saturated.evidence["saturated_from_s"] == pytest.approx(FLAT_FROM_S, abs=0.5)
    assert saturated.evidence["saturated_s"] == pytest.approx(len(USERS) - FLAT_FROM_S)
    assert saturated.evidence["saturated_cpu_share_mean"] == pytest.approx(0.97)
    assert saturated.evidence["saturated_requests_per_s"] == pytest.approx(250)
    assert "not the exchange's" in saturated.message
    assert "client_cpu_saturated" not in found and "rate_limit_onset" not in found
    ceiling = found["throughput_ceiling"]
    assert ceiling.evidence["cause"] == "simulator" and "the simulator" in ceiling.message
    assert found["latency_knee"].evidence["cause"] == "simulator"
    assert "simulator's latency, not the exchange's" in found["latency_knee"].message


def test_event_loop_lag_alone_marks_a_saturated_simulator(tmp_path):
    builder = ramp().simulator_seconds(cpu_share=0.6, lag_p50_ms=busy_from(FLAT_FROM_S, 120.0, 0.5))
    found = kinds(analyse(builder.write(tmp_path / "run")))
    assert found["simulator_saturated"].evidence["saturated_loop_lag_p50_ms_median"] == pytest.approx(120)
    assert found["throughput_ceiling"].evidence["cause"] == "simulator"


def test_a_short_burst_is_not_saturation_unless_the_threshold_says_so(tmp_path):
    builder = ramp().simulator_seconds(cpu_share=busy_from(10, 0.99, 0.3, seconds=3))
    run_dir = builder.write(tmp_path / "run")
    assert "simulator_saturated" not in kinds(analyse(run_dir))
    found = kinds(analyse(run_dir, Thresholds(sim_saturated_s=3)))
    assert found["simulator_saturated"].evidence["spans"] == [{
        "start_s": pytest.approx(10, abs=0.1), "end_s": pytest.approx(13, abs=0.1), "seconds": 3.0,
        "cpu_share_mean": 0.99, "loop_lag_p50_ms_median": 0.5, "requests_per_s": 10.0,
    }]
    assert found["throughput_ceiling"].evidence["cause"] == "exchange"  # saturated long before the ceiling


def test_a_rate_limited_exchange_is_the_exchange(tmp_path):
    builder = ramp().simulator_seconds(cpu_share=0.3, lag_p50_ms=0.6)
    builder.exchange_seconds(requests=THROUGHPUT, rate_limited=busy_from(FLAT_FROM_S, 20, 0))
    found = kinds(analyse(builder.write(tmp_path / "run")))
    assert "rate_limit_onset" in found
    assert "simulator_saturated" not in found and "client_cpu_saturated" not in found
    assert found["throughput_ceiling"].evidence["cause"] == "rate_limit"


def test_a_run_against_an_external_host_has_no_simulator_section(tmp_path, capsys):
    builder = ramp()
    builder.manifest = {"target": "testnet"}
    run_dir = builder.write(tmp_path / "run")
    analysis = analyse(run_dir)
    assert analysis.report["simulator"] is None and "simulator_saturated" not in kinds(analysis)
    analyse_run(run_dir)
    assert "Simulator (the target)" not in (run_dir / "analysis" / "report.md").read_text()


def test_the_report_shows_the_simulators_load(tmp_path, capsys):
    builder = ramp().simulator_seconds(cpu_share=busy_from(FLAT_FROM_S, 0.97, 0.5))
    run_dir = builder.write(tmp_path / "run")
    analyse_run(run_dir)
    markdown = (run_dir / "analysis" / "report.md").read_text()
    assert "## Simulator (the target)" in markdown and "simulator_saturated" in markdown
    report = json.loads((run_dir / "analysis" / "report.json").read_text())
    assert report["simulator"]["saturated"] is True


def test_a_history_cut_off_before_its_first_row_is_a_note(tmp_path):
    builder = ramp()
    builder.simulator_rows = []
    analysis = analyse(builder.write(tmp_path / "run"))
    assert analysis.report["simulator"] is None
    assert any("simulator_history.csv has no rows" in note for note in analysis.report["notes"])


def test_when_both_were_saturated_the_simulator_is_named_and_the_generator_too(tmp_path):
    builder = ramp().simulator_seconds(cpu_share=busy_from(FLAT_FROM_S, 0.97, 0.5))
    builder.log_lines = [cpu_warning_line(FLAT_FROM_S)]
    found = kinds(analyse(builder.write(tmp_path / "run")))
    assert {"client_cpu_saturated", "simulator_saturated"} <= set(found)
    ceiling = found["throughput_ceiling"]
    assert ceiling.evidence["cause"] == "simulator" and "load generator's CPU was saturated too" in ceiling.message
    assert "load generator was CPU-bound too" in found["latency_knee"].message
