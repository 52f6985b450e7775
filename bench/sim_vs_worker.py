"""How fast the simulator serves ticker/price (limits on) against what one Locust worker process drives.

The simulator runs pinned to core 0 with its rate limits on (every request is weighed, counted and
answered with used-weight headers) but high enough that nothing is refused. On core 1, wrk (in C, faster
than the simulator) measures how many requests per second it serves; then one Locust worker process
drives the same GET as fast as it can, with the suite's `BinanceRestPoller` (ticker/price only, all its
accounting on) and with a bare FastHttpUser, while the simulator's CPU use is sampled. The ratio is the
simulator's rate over the faster of the two workers, round by round, the median over rounds; and, as a
check less sensitive to other work on core 0, one over the share of its core the simulator used while
the poller drove it (`sim_vs_worker_by_cpu`: how many such workers its core would serve).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.harness import TARGET_CORE, median, pin, run_locust, run_wrk
from loadgen.runner.processes import SimulatorProcess

# Limits stay on (every request is weighed and counted), with values high enough that the
# benchmark measures serving, not 429s.
HIGH_LIMITS = """
[binance.rate_limits]
request_weight = { limit = 1000000000, interval_s = 60 }
raw_requests = { limit = 1000000000, interval_s = 300 }
"""
PATH = "/binance/api/v3/ticker/price?symbol=BTCUSDT"
USERS = 10


def run(rounds: int = 3, warmup_s: float = 1.0, window_s: float = 5.0) -> dict[str, Any]:
    sim_rates, poller_rates, bare_rates, sim_share, ratios = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        config = workdir / "sim.toml"
        config.write_text(HIGH_LIMITS)
        with SimulatorProcess(workdir / "sim.log", config) as sim:
            assert sim.proc is not None
            pin(sim.proc.pid, TARGET_CORE)
            host = f"{sim.base_url}/binance"
            for _ in range(rounds):
                if (wrk := run_wrk(sim.base_url + PATH, window_s, connections=32)) is not None:
                    sim_rates.append(wrk.rate)
                poller = run_locust("bench/locust_poller.py", "TickerPoller", host, USERS, USERS, warmup_s, window_s,
                                    extra_args=["--symbols", "BTCUSDT"], target_pid=sim.proc.pid)
                bare = run_locust("bench/locust_bare.py", "BareTickerUser", host, USERS, USERS, warmup_s, window_s,
                                  target_pid=sim.proc.pid)
                poller_rates.append(poller.rate())
                bare_rates.append(bare.rate())
                sim_share.append(poller.target_cpu_share())
                if wrk is not None:
                    ratios.append(wrk.rate / max(poller.rate(), bare.rate()))
    return {
        "sim_ticker_price_rps": round(median(sim_rates)) if sim_rates else None,
        "worker_poller_ticker_price_rps": round(median(poller_rates)),
        "worker_bare_ticker_price_rps": round(median(bare_rates)),
        "sim_cpu_share_while_poller_drives": round(median(sim_share), 2),
        "sim_vs_worker": round(median(ratios), 2) if ratios else None,
        "sim_vs_worker_by_cpu": round(1 / max(median(sim_share), 1e-9), 2),
        "sim_rounds": rounds,
        "sim_note": None if ratios else "wrk not installed: simulator capacity not measured (apt-get install wrk)",
    }
