"""End to end: every PromQL expression of the Grafana dashboard, with its variables substituted as Grafana does,
evaluated by a real Prometheus (Debian's `prometheus`) that scraped a real short run against the simulator (faults
injected, so there are failures and WebSocket drops to show). Each returns data (but for the figures such a run
cannot have: ABSENT); the panels on traffic the run had (REST, WebSocket, errors) show it; every metric they name
is one the run's exposition served."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request

import pytest

from tests.support.e2e import REPO_ROOT, run_locust, simulator
from tests.test_dashboard import panels
from tests.test_e2e_prometheus import USERS, free_port, needs_prometheus, prometheus

pytestmark = pytest.mark.e2e
SCRAPE_S = 1  # tests.test_e2e_prometheus.prometheus scrapes each second
# Grafana's $__rate_interval is at least four scrape intervals; $exchange is the run's exchange (a regex).
SUBSTITUTIONS = {"$__rate_interval": f"{4 * SCRAPE_S}s", "$exchange": "binance"}
FAULTS = "[binance.faults]\nerror_rate = 0.05\nerror_statuses = [502, 503]\nws_drop_per_min = 60\nseed = 7\n"
# Panels whose every target shows a figure above zero in this run (REST, WebSocket, errors, processes).
WITH_TRAFFIC = {"REST latency p50 / p95 / p99 against users", "REST p95 by endpoint", "Failures per second by kind",
                "Failure ratio", "Messages per second and connections open", "Event latency p95 by stream",
                "Resident memory", "Open file descriptors"}
# Figures this run cannot have: a single process has no workers gauge, and the default mix sends no orders over the
# WebSocket API (BinanceWsTrader's weight is 0): their targets must name documented metrics and return nothing.
ABSENT = re.compile(r"exchange_stress_(workers|orders_|order_latency|lost_order_events)")
METRIC = re.compile(r"\b((?:exchange_stress|process)_[a-z_]+)\b")


def substituted(expr: str) -> str:
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, expr
    return expr


def query_range(base: str, promql: str, start: float, end: float) -> list[dict]:
    url = f"{base}/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": promql, "start": start, "end": end, "step": SCRAPE_S})
    with urllib.request.urlopen(url, timeout=10) as reply:
        body = json.load(reply)
    assert body["status"] == "success", body
    return body["data"]["result"]


def served_names(base: str) -> set[str]:
    with urllib.request.urlopen(f"{base}/api/v1/label/__name__/values", timeout=10) as reply:
        return set(json.load(reply)["data"])


def documented() -> set[str]:
    """The metric names docs/metrics.md's table lists (`_orders_acked_total` short for exchange_stress_...)."""
    rows = [line for line in (REPO_ROOT / "docs" / "metrics.md").read_text().splitlines() if line.startswith("| `")]
    names = {n for row in rows for n in re.findall(r"`(_?[a-z_]+)`", row.split("|")[1])}
    return {f"exchange_stress{n}" if n.startswith("_") else n for n in names}


@needs_prometheus
def test_every_panel_answers_from_a_real_run(tmp_path):
    port = free_port()
    with simulator(tmp_path, FAULTS) as sim, prometheus(tmp_path, port) as base:
        start = time.time()
        run = run_locust(sim, tmp_path / "run", USERS, users=8, run_time_s=10,
                         extra=["--breaker", "on", "--metrics-port", str(port), "--metrics-linger-s", "3"])
        end = time.time()
        assert run.returncode == 0, run.output
        names = served_names(base)
        peaks: dict[str, float] = {}
        for panel in panels():
            for target in panel["targets"]:
                expr = target["expr"]
                series = query_range(base, substituted(expr), start, end)
                if ABSENT.search(expr):
                    families = {re.sub(r"_bucket$", "", m) for m in METRIC.findall(expr)}
                    assert series == [] and families <= documented(), expr
                    continue
                unknown = {m for m in METRIC.findall(expr) if m not in names}
                assert not unknown, (panel["title"], unknown)
                values = [float(v) for s in series for _, v in s["values"] if v not in ("NaN", "+Inf", "-Inf")]
                assert values, (panel["title"], expr)
                peaks[f'{panel["title"]} [{target["refId"]}]'] = max(values)
                if panel["title"] in WITH_TRAFFIC:
                    assert max(values) > 0, (panel["title"], expr)
    totals = run.totals()
    assert sum(e["num_failures"] for e in totals) > 0  # the faults reached the run, so the error panels had some
    assert peaks["Gaps, reconnects and drops per second [C]"] > 0  # the injected WebSocket drops
    assert peaks["Used weight / limit [A]"] > 0
