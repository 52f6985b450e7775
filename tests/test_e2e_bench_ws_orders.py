"""`make bench`'s order benchmark (`python -m bench --only orders`), run small: the suite's WebSocket trader and the
bare loops each send and track orders against the real simulator, and the entry reports its figures and goal.
Nothing here asserts on timing: the figures only have to exist and count real orders."""

from __future__ import annotations

import pytest

from bench import __main__ as bench_main
from bench import ws_benchmarks

pytestmark = pytest.mark.e2e


def test_the_order_benchmark_measures_the_trader_and_the_bare_loops() -> None:
    figures = ws_benchmarks.orders(rounds=1, warmup_s=0.5, window_s=1.0, users=2, burst=10, pause_s=0.05)
    assert figures["ws_orders_per_cpu_s"] > 0 and figures["ws_orders_per_s"] > 0
    bare = figures["ws_orders_bare_per_cpu_s"]
    assert bare["bare_websocket_client"] > 0 and bare["bare_frame_reader"] > 0
    assert figures["ws_orders_vs_bare"] > 0 and figures["ws_orders_vs_bare_frames"] > 0
    checked = bench_main.goals(figures)
    assert checked["ws_orders_vs_bare"]["goal"] == ">= 0.8" and checked["ws_orders_vs_bare"]["met"] is not None
    assert "orders" in bench_main.BENCHMARKS
