"""The capacity scenario's search, driven second by second against a model exchange (no Locust run)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from loadgen.metrics import SecondStats
from loadgen.options import OptionError
from loadgen.pacing import capacity_search
from loadgen.pacing.capacity_search import (
    CLEAN,
    RATE_LIMITED,
    SATURATED,
    CapacitySearch,
    CapacitySettings,
)

SETTINGS = CapacitySettings(start_rps=20, max_rps=5000, step=1.5, plateau_s=5)
T0 = 1_700_000_000


class ModelExchange:
    """Serves min(offered, capacity) per second; above `rate_limit_rps` it answers rate-limit errors instead."""

    def __init__(self, capacity_rps: float | None, rate_limit_rps: float | None = None) -> None:
        self.capacity_rps, self.rate_limit_rps = capacity_rps, rate_limit_rps
        self.rate = 0.0
        self.seconds: dict[int, SecondStats] = {}

    def set_exchange_rps(self, exchange: str, rps: float) -> None:
        self.rate = rps

    def run_second(self, second: int) -> None:
        stats = SecondStats(second)
        served = self.rate if self.capacity_rps is None else min(self.rate, self.capacity_rps)
        stats.requests = stats.paced_starts = round(served)
        stats.ok_answers = round(served)
        if self.rate_limit_rps is not None and self.rate > self.rate_limit_rps:
            stats.rate_limited = round(self.rate - self.rate_limit_rps)
            stats.ok_answers = round(self.rate_limit_rps)
        self.seconds[second] = stats

    def span(self, first: int, last: int, exchange: str) -> SecondStats:
        total = SecondStats(first)
        for second in range(first, last + 1):
            if second in self.seconds:
                total.merge(self.seconds[second])
        return total


def search(model: ModelExchange, monkeypatch: pytest.MonkeyPatch, budget_s: int = 600) -> tuple[CapacitySearch, int]:
    """Run the search against `model` until it stops; returns it and the seconds it took."""
    monkeypatch.setattr(capacity_search, "cluster_of", lambda environment: model)
    monkeypatch.setattr(capacity_search, "metrics_hub", lambda environment: SimpleNamespace(table=model))
    monkeypatch.setattr(capacity_search, "settle_s", lambda environment: 1)
    searcher = CapacitySearch(SimpleNamespace(), "binance", SETTINGS)
    for elapsed in range(budget_s):
        now = T0 + elapsed + 0.5
        searcher.tick(now, T0 + budget_s)
        if searcher.done:
            return searcher, elapsed
        model.run_second(int(now))
    raise AssertionError("the search did not stop")


@pytest.mark.parametrize("capacity", [50, 137, 640, 1311, 2000])
def test_the_search_finds_a_capacity_it_was_not_tuned_for_and_stops_soon_after(capacity, monkeypatch):
    searcher, took_s = search(ModelExchange(capacity), monkeypatch)
    assert "capacity was reached" in searcher.stop_reason
    assert searcher.capacity_rps == pytest.approx(capacity, rel=0.02)
    verdicts = [p.verdict for p in searcher.plateaus]
    assert verdicts[-2:] == [SATURATED, SATURATED]  # two plateaus past the capacity, then it stops
    assert set(verdicts[:-2]) == {CLEAN}
    assert all(p.target_rps < capacity / 0.95 for p in searcher.plateaus if p.verdict == CLEAN)
    assert took_s < 150


def test_without_a_capacity_the_search_ends_at_the_highest_rate_and_finds_none(monkeypatch):
    searcher, _ = search(ModelExchange(None), monkeypatch)
    assert "--capacity-max-rps" in searcher.stop_reason
    assert searcher.capacity_rps is None
    assert {p.verdict for p in searcher.plateaus} == {CLEAN}
    assert searcher.plateaus[-1].target_rps == SETTINGS.max_rps
    assert searcher.outcome()["first_saturated_rps"] is None


def test_a_rate_limit_below_the_capacity_ends_the_search_as_the_first_bottleneck(monkeypatch):
    searcher, _ = search(ModelExchange(1000, rate_limit_rps=100), monkeypatch)
    assert "rate limit" in searcher.stop_reason
    assert searcher.plateaus[-1].verdict == RATE_LIMITED
    assert searcher.capacity_rps is None
    outcome = searcher.outcome()
    assert outcome["rate_limited_at_rps"] == searcher.plateaus[-1].target_rps > 100


def test_a_short_time_budget_stops_the_search_before_a_plateau_it_cannot_judge(monkeypatch):
    searcher, took_s = search(ModelExchange(2000), monkeypatch, budget_s=30)
    assert "time budget" in searcher.stop_reason
    assert took_s < 30


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"capacity_start_rps": "x"}, "--capacity-start-rps: expected a number, got 'x'"),
        ({"capacity_step": "1"}, "--capacity-step: must be a number above 1, got 1"),
        ({"capacity_max_rps": "10"}, "--capacity-max-rps: must be at least --capacity-start-rps (20), got 10"),
        ({"capacity_plateau_s": "2.5"}, "--capacity-plateau-s: expected a whole number, got '2.5'"),
    ],
)
def test_bad_settings_are_refused_in_one_line(values, message):
    options = SimpleNamespace(**{"capacity_start_rps": "20", "capacity_max_rps": "5000", "capacity_step": "1.5",
                                 "capacity_plateau_s": "5", **values})
    with pytest.raises(OptionError) as error:
        CapacitySettings.parse(options)
    assert str(error.value) == message
