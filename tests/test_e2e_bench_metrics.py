"""`make bench`'s metrics-overhead entry (`python -m bench --only metrics`), run tiny: the suite's REST user with
metrics off and with them on and scraped. Nothing here asserts on timing: the figures only have to exist."""

from __future__ import annotations

import pytest

from bench import __main__ as bench_main
from bench import metrics_overhead

pytestmark = pytest.mark.e2e


def test_the_metrics_overhead_benchmark_measures_both_runs() -> None:
    figures = metrics_overhead.run(rounds=1, warmup_s=0.5, window_s=2.0)
    assert figures["metrics_per_cpu_s"]["on"] > 0 and figures["metrics_per_cpu_s"]["off"] > 0
    assert figures["metrics_scrapes"] >= 1 and figures["metrics_on_vs_off"] > 0
    checked = bench_main.goals(figures)
    assert checked["metrics_on_vs_off"]["goal"] == ">= 0.95"
    assert "metrics" in bench_main.BENCHMARKS
