"""The throughput ceiling of a capacity-scenario run, read from its plateaus, and its cause."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.capacity import search_ceiling, search_ceiling_finding
from analysis.load_generator import LoadGeneratorResult
from analysis.target import TargetResult

START = 1_700_000_000.0
IDLE_CLIENT = LoadGeneratorResult({}, [], None)
IDLE_TARGET = TargetResult(None, [], [])


def plateaus(*rows: tuple[float, str, int, int]) -> pd.DataFrame:
    """(target_rps, verdict, seconds, ok_answers) per plateau, one after the other from START + 1."""
    records, at = [], START + 1
    for index, (target, verdict, seconds, ok) in enumerate(rows, start=1):
        records.append({
            "exchange": "binance", "index": index, "target_rps": target, "started_at": at, "ended_at": at + seconds + 2,
            "first_second": int(at) + 1, "last_second": int(at) + seconds, "verdict": verdict, "requests": ok,
            "ok_answers": ok, "served_rps": ok / seconds, "overload_answers": 0, "rate_limited": 0,
            "late_starts": 0, "skipped_starts": 0,
        })
        at += seconds + 2
    return pd.DataFrame.from_records(records)


def test_two_saturated_plateaus_give_the_ceiling_as_what_they_served_together():
    rows = plateaus((100, "clean", 5, 500), (150, "clean", 5, 750), (225, "saturated", 10, 2000),
                    (337.5, "saturated", 10, 2100))
    ceiling = search_ceiling(rows, START, IDLE_CLIENT, IDLE_TARGET)
    assert ceiling is not None
    assert ceiling["requests_per_s"] == 205.0
    assert ceiling["cause"] == "exchange" and ceiling["confirmed"]
    assert ceiling["offered_rps"] == 225 and ceiling["highest_clean_rps"] == 150
    finding = search_ceiling_finding({"exchange": "binance", **ceiling})
    assert finding.kind == "throughput_ceiling"
    assert "≈205 successful requests/s from 225 requests/s offered and stayed there up to 337.5" in finding.message


def test_a_saturated_generator_is_named_as_the_cause_not_the_exchange():
    rows = plateaus((100, "clean", 5, 500), (150, "saturated", 10, 1200), (225, "saturated", 10, 1250))
    busy_client = LoadGeneratorResult({}, [], saturated_from_s=3.0)
    ceiling = search_ceiling(rows, START, busy_client, IDLE_TARGET)
    assert ceiling is not None and ceiling["cause"] == "load_generator"
    busy_target = TargetResult({}, [], [{"start_s": 0.0, "end_s": 30.0}])
    ceiling = search_ceiling(rows, START, IDLE_CLIENT, busy_target)
    assert ceiling is not None and ceiling["cause"] == "simulator"


def test_a_rate_limit_before_any_saturation_is_the_first_bottleneck():
    rows = plateaus((100, "clean", 5, 500), (150, "rate_limited", 2, 200))
    ceiling = search_ceiling(rows, START, IDLE_CLIENT, IDLE_TARGET)
    assert ceiling is not None
    assert ceiling["cause"] == "rate_limit" and ceiling["requests_per_s"] == 100.0
    finding = search_ceiling_finding({"exchange": "binance", **ceiling})
    assert "the rate limit is the first bottleneck" in finding.message


@pytest.mark.parametrize("verdict", ["clean", ""])
def test_no_saturation_and_no_rate_limit_is_no_ceiling(verdict):
    rows = plateaus((100, "clean", 5, 500), (150, verdict, 5, 750))
    assert search_ceiling(rows, START, IDLE_CLIENT, IDLE_TARGET) is None
