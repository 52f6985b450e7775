"""End to end on the simulator: open-model pacing, the shaped scenarios, polite vs probe, breaker and failover."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from exchanges import NAMES, get_adapter
from exchanges.base import PriceQuotes
from exchanges.binance import ADAPTER
from loadgen.runner.processes import child_env
from tests.support.e2e import REPO_ROOT, run_locust, simulator
from tests.support.figures import check_run_figures

pytestmark = pytest.mark.e2e

NO_BANS = "[binance.bans]\nlimited_requests_before_ban = 1000000\n"
POLLER_MIX = {  # BinanceRestPoller's tasks: (task weight, endpoint, params)
    "ticker/price": (10, {"symbol": "BTCUSDT"}),
    "ticker/bookTicker": (5, {"symbol": "BTCUSDT"}),
    "depth": (3, {"limit": "100"}),
    "trades": (1, {"limit": "100"}),
    "klines": (2, {"limit": "100"}),
}


def per_second(run_dir: Path, exchange: str = "binance") -> dict[int, dict[str, float]]:
    """The exchange history summed per second (a second may have an extra row for late data)."""
    seconds: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    with (run_dir / "locust_exchange_history.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if row["exchange"] == exchange:
                for name, value in row.items():
                    if name not in ("timestamp", "exchange") and value:
                        seconds[int(row["timestamp"])][name] += float(value)
    return seconds


def steady_rate(run_dir: Path) -> float:
    """Paced starts per second over the steady part: the active seconds less the first two and the last two."""
    seconds = per_second(run_dir)
    active = sorted(t for t, row in seconds.items() if row["paced_starts"] > 0)
    steady = [t for t in range(active[0] + 2, active[-1] - 1)]
    assert len(steady) >= 5, active
    return sum(seconds[t]["paced_starts"] for t in steady) / len(steady)


def runner(*args: str, results: Path) -> subprocess.CompletedProcess[str]:
    command, *rest = args
    cmd = [sys.executable, "-m", "loadgen", command, "--results-dir", str(results), *rest]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)


def only_run_dir(results: Path) -> Path:
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


def free_master_port() -> list[str]:
    """--processes makes Locust a master on port 5557 unless told otherwise: take a free port instead."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    return ["--master-bind-port", port, "--master-port", port]


def simulator_429s(sim) -> int:
    return sim.stats()["exchanges"]["binance"]["by_status"].get("429", 0)


def test_a_scenario_holds_its_total_rate_within_5_percent(tmp_path):
    proc = runner("run", "--scenario", "light", "--duration", "12", "--users", "20", "--",
                  "--target-rps", "100", results=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = only_run_dir(tmp_path)
    assert steady_rate(run_dir) == pytest.approx(100, rel=0.05)
    scenario = json.loads((run_dir / "locust_scenario.json").read_text())
    assert scenario["scenario"] == "light" and scenario["target_rps"] == 100
    assert scenario["steady"]["achieved_rps"] == pytest.approx(100, rel=0.05)
    figures = check_run_figures(run_dir, output=proc.stdout + proc.stderr)  # every file tells the same figures
    assert figures.requests > 20 and figures.aggregated >= figures.requests


def test_the_target_is_the_total_over_two_worker_processes(tmp_path):
    with simulator(tmp_path) as sim:
        run = run_locust(sim, tmp_path / "run", ["BinanceRestPoller"], users=20, run_time_s=12,
                         extra=["--processes", "2", *free_master_port(), "--target-rps", "150"])
    assert run.returncode == 0, run.output
    assert steady_rate(run.run_dir) == pytest.approx(150, rel=0.05)


def test_an_unreachable_target_counts_late_and_skipped_starts(tmp_path):
    slow = "[binance.faults]\nlatency_ms = 200.0\n"  # 2 users can then start at most about 10 requests a second
    with simulator(tmp_path, slow) as sim:
        run = run_locust(sim, tmp_path / "run", ["BinanceRestPoller"], users=2, run_time_s=8,
                         extra=["--target-rps", "50"])
    assert run.returncode == 0, run.output
    seconds = per_second(run.run_dir)
    late = sum(row["late_starts"] for row in seconds.values())
    skipped = sum(row["skipped_starts"] for row in seconds.values())
    started = sum(row["paced_starts"] for row in seconds.values())
    assert late > 0 and skipped > 0
    assert started < 8 * 50 * 0.5  # what went out is far below the target, and the counts say why
    late_row, skipped_row = run.entry("PACE", "late_start"), run.entry("PACE", "skipped_start")
    assert late_row["num_requests"] == late and skipped_row["num_requests"] == skipped


@pytest.mark.parametrize(("mode", "processes"), [("probe", "1"), ("polite", "2")])
def test_polite_gets_no_rate_limits_where_probe_does_at_twice_the_limit(tmp_path, mode, processes):
    limit = 100  # weight per second
    config = f"[binance.rate_limits]\nrequest_weight = {{ limit = {limit}, interval_s = 1 }}\n{NO_BANS}"
    weights = {name: ADAPTER.endpoint(name).weight_for(params) for name, (_, params) in POLLER_MIX.items()}
    mean_weight = sum(w * weights[n] for n, (w, _) in POLLER_MIX.items()) / sum(w for w, _ in POLLER_MIX.values())
    demand_rps = 2 * limit / mean_weight
    with simulator(tmp_path, config) as sim:
        run = run_locust(sim, tmp_path / "run", ["BinanceRestPoller"], users=20, run_time_s=10, extra=[
            "--mode", mode, "--processes", processes, *free_master_port(), "--target-rps", f"{demand_rps:.1f}",
            "--weight-limit", str(limit), "--weight-window-s", "1",
        ])
        answered_429 = simulator_429s(sim)
    assert run.returncode == 0, run.output
    exchange = json.loads((run.run_dir / "locust_exchange.json").read_text())["exchanges"]["binance"]
    if mode == "probe":
        assert answered_429 > 0 and exchange["rate_limited"] > 0
        assert exchange["weight_requested"] > 1.5 * limit * 8  # demand really was about twice the limit
    else:  # one budget for both worker processes, not one each
        assert answered_429 == 0 and exchange["rate_limited"] == 0
        assert exchange["weight_waits"] > 0


def test_the_breaker_opens_half_opens_and_closes_under_injected_503s(tmp_path):
    faults = "[binance.faults]\nerror_rate = 0.5\nerror_statuses = [503]\n"
    with simulator(tmp_path, faults) as sim:
        run = run_locust(sim, tmp_path / "run", ["BinanceRestPoller"], users=5, run_time_s=10, extra=[
            "--breaker", "on", "--breaker-failures", "3", "--breaker-open-s", "1", "--target-rps", "30",
        ])
    assert run.returncode == 0, run.output
    exchange = json.loads((run.run_dir / "locust_exchange.json").read_text())["exchanges"]["binance"]
    assert exchange["breaker_opened"] > 0 and exchange["breaker_half_opened"] > 0 and exchange["breaker_closed"] > 0
    assert exchange["breaker_rejected"] > 0  # requests refused unsent while open
    counters = {"open": "breaker_opened", "half_open": "breaker_half_opened", "closed": "breaker_closed"}
    for state, counter in counters.items():  # every state change is a BREAKER row in Locust's stats too
        row = run.entry("BREAKER", f"binance {state}")
        assert row is not None and row["num_requests"] == exchange[counter]


def test_failover_answers_from_the_other_exchanges_when_one_fails(tmp_path):
    faults = "[binance.faults]\nerror_rate = 1.0\nerror_statuses = [503]\n"
    with simulator(tmp_path, faults) as sim:
        run_dir = tmp_path / "run"
        cmd = [
            sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "locustfiles" / "failover.py"), "--headless",
            "-u", "4", "-r", "4", "-t", "8s", "--host", sim.base_url, "--breaker-failures", "3",
            "--breaker-open-s", "2", "--csv", str(run_dir / "locust"), "--json-file", str(run_dir / "totals"),
            "--exit-code-on-error", "0", "--stop-timeout", "5", "--only-summary",
        ]
        run_dir.mkdir()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=child_env({}))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    totals = {(e["method"], e["name"]): e for e in json.loads((run_dir / "totals.json").read_text())}
    price = totals[("FAILOVER", "price")]
    assert price["num_requests"] > 10 and price["num_failures"] == 0
    exchanges = json.loads((run_dir / "locust_exchange.json").read_text())["exchanges"]
    assert exchanges["binance"]["failover_wins"] == 0 and exchanges["binance"]["breaker_opened"] > 0
    assert exchanges["binance"]["breaker_rejected"] > 0  # skipped while its breaker was open
    assert sum(e["failover_wins"] for e in exchanges.values()) == price["num_requests"]


def test_the_failover_user_spans_every_exchange():
    """locustfiles/failover.py spans the registered adapters that quote prices: every one of them does."""
    for name in NAMES:
        assert isinstance(get_adapter(name), PriceQuotes), name


def test_spike_records_every_burst(tmp_path):
    proc = runner("run", "--scenario", "spike", "--users", "20", "--", "--spike-cycles", "3",
                  "--spike-pause-min-s", "1", "--spike-pause-max-s", "2", results=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with (only_run_dir(tmp_path) / "locust_bursts.csv").open(newline="") as f:
        bursts = list(csv.DictReader(f))
    assert [int(b["cycle"]) for b in bursts] == [1, 2, 3]
    for burst in bursts:
        assert int(burst["size"]) == int(burst["sent"]) == 20
        assert int(burst["succeeded"]) + int(burst["rate_limited"]) + int(burst["failed"]) == 20
        assert float(burst["duration_ms"]) > 0
    assert 1.0 <= float(bursts[0]["pause_after_s"]) <= 2.0 and bursts[-1]["pause_after_s"] == ""


def test_spike_fits_into_the_run_time_it_is_given(tmp_path):
    """Pauses of up to 30 s would take a minute or more; in a 14 s run (the plan needs at least 10.5 s) they are
    drawn shorter, so that the three bursts fit and the run ends on time."""
    run_s = 14
    proc = runner("run", "--scenario", "spike", "--users", "20", "--duration", str(run_s), "--", "--spike-cycles",
                  "3", "--spike-pause-min-s", "2", "--spike-pause-max-s", "30", results=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = only_run_dir(tmp_path)
    scenario = json.loads((run_dir / "locust_scenario.json").read_text())
    assert [b["cycle"] for b in scenario["bursts"]] == [1, 2, 3] and scenario["run_time_s"] == run_s
    pauses = [b["pause_after_s"] for b in scenario["bursts"][:-1]]
    assert all(2 <= p <= 30 for p in pauses) and sum(pauses) < run_s - 3 * 1.5
    run = json.loads((run_dir / "run.json").read_text())
    started, finished = (datetime.strptime(run[k], "%Y-%m-%dT%H:%M:%S%z") for k in ("started_at", "finished_at"))
    assert run["duration_s"] == run_s and (finished - started).total_seconds() <= run_s + 8  # start-up and shutdown


def test_a_spike_that_cannot_fit_is_refused_before_anything_starts(tmp_path):
    proc = runner("run", "--scenario", "spike", "--duration", "10", results=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: spike: 5 bursts of 100 users with pauses of at least 5 s take at least 30 s, more than the run time "
        "10 s (--duration): give a longer run time, fewer --spike-cycles or a shorter --spike-pause-min-s"
    )
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # no run directory, no simulator


# -- the ramp's limit search --------------------------------------------------------------------


def ramp(tmp_path: Path, exchange: str, limits: str, duration_s: int, *locust_args: str) -> tuple[dict, Path]:
    """A ramp run on the simulator with `limits` (its TOML); report.json's exchanges and the run directory."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "limits.toml"
    config.write_text(limits)
    proc = runner("run", "--exchange", exchange, "--scenario", "ramp", "--duration", str(duration_s),
                  "--sim-config", str(config), "--", *locust_args, results=tmp_path / "results")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = only_run_dir(tmp_path / "results")
    return json.loads((run_dir / "analysis" / "report.json").read_text())["exchanges"], run_dir


def limit_in_requests(run_dir: Path, exchange: str, limit_per_s: float) -> float:
    """The configured limit as a request rate of the search's own traffic: the limit's units per second over
    what each request drew on it (a weight limit: the clean probe's weight per request; a limit that only some
    endpoints draw on, such as Kraken's IP counter: the share of requests to those)."""
    adapter = get_adapter(exchange)
    if adapter.limit_unit.startswith("weight"):
        with (run_dir / "locust_ramp.csv").open(newline="") as f:
            clean = [r for r in csv.DictReader(f) if r["exchange"] == exchange and r["verdict"] == "clean"]
        assert clean, f"{exchange}: no clean probe"
        return limit_per_s / float(max(clean, key=lambda r: float(r["target_rps"]))["weight_per_request"])
    counted = drawn = 0
    for entry in json.loads((run_dir / "totals.json").read_text()):
        endpoint = adapter.endpoints.get(entry["name"].removeprefix(f"{exchange}:"))
        if endpoint is not None:
            counted += entry["num_requests"]
            drawn += entry["num_requests"] if adapter.counts_toward_limit(endpoint) else 0
    return limit_per_s / (drawn / counted)


def assert_limit_found(rate_limit: dict, configured: float, limit_rps: float) -> None:
    """The issue's bounds: the estimate within 10% of the configured limit in the exchange's unit; max safe a
    number at or below the limit (as a request rate) and at least 70% of it; and no ban on the way."""
    assert rate_limit["estimated_limit"]["value"] == pytest.approx(configured, rel=0.10), rate_limit
    safe = rate_limit["max_safe_requests_per_s"]
    assert safe is not None and 0.70 * limit_rps <= safe <= limit_rps * 1.005, (safe, limit_rps)
    assert rate_limit["bans"] == [] and rate_limit["answers"]["banned"] == 0


def test_ramp_finds_a_small_bucket_and_finds_it_again(tmp_path):
    """A Coinbase public bucket of 12 req/s (burst 30), far below the first plateau (40 req/s): found twice, the
    same within 10%. (A 6 req/s bucket from 20 req/s tests the same rules, with probes twice as long.)"""
    limits = "[coinbase.rate_limits]\npublic = { rate_per_s = 12, burst = 30 }\n"
    found = []
    for attempt in ("first", "second"):
        exchanges, run_dir = ramp(tmp_path / attempt, "coinbase", limits, 90, "--ramp-start-rps", "40")
        rate_limit = exchanges["coinbase"]["rate_limit"]
        assert_limit_found(rate_limit, 12.0, limit_in_requests(run_dir, "coinbase", 12.0))
        assert rate_limit["search"]["closed"], rate_limit["search"]
        found.append((rate_limit["estimated_limit"]["value"], rate_limit["max_safe_requests_per_s"]))
    (first_limit, first_safe), (second_limit, second_safe) = found
    assert second_limit == pytest.approx(first_limit, rel=0.10) and second_safe == pytest.approx(first_safe, rel=0.10)


def test_ramp_finds_every_exchanges_untuned_limit_in_one_run(tmp_path):
    """Three limits nobody tuned for, searched side by side: Binance 6,000 weight per 30 s window (the search
    starts from the published 6,000 a minute; `--weight-window-s 30` gives it the window, as for any exchange whose
    window is not the adapter's), a Coinbase bucket of 300 req/s and a Kraken counter draining 3 calls/s. Binance's
    windows are aligned to the epoch; at this limit its climb (5 s steps, a sixth of the window) is refused at
    400 req/s wherever a window starts, and its probe fills the next window well within the time Kraken's search
    takes, so the run needs no waiting for a window. (A 60 s window tests the same rules; it only needs a run
    started at the right second of the minute.)"""
    window_s = 30
    limits = (
        f"[binance.rate_limits]\nrequest_weight = {{ limit = 6000, interval_s = {window_s} }}\n"
        "[coinbase.rate_limits]\npublic = { rate_per_s = 300, burst = 300 }\n"
        "[kraken.rate_limits]\npublic = { max_counter = 15.0, decay_per_s = 3.0 }\n"
    )
    exchanges, run_dir = ramp(tmp_path, "all", limits, 95, "--weight-window-s", str(window_s))
    for exchange, configured, per_s in (("binance", 6000.0, 6000.0 / window_s), ("coinbase", 300.0, 300.0),
                                        ("kraken", 3.0, 3.0)):
        assert_limit_found(exchanges[exchange]["rate_limit"], configured, limit_in_requests(run_dir, exchange, per_s))
    assert exchanges["binance"]["rate_limit"]["estimated_limit"]["unit"] == f"weight/{window_s}s"
    assert exchanges["coinbase"]["rate_limit"]["search"]["closed"]  # Kraken's may still be open: see docs/scenarios.md
