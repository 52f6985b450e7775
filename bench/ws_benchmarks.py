"""WebSocket benchmarks: the simulator pinned to core 0 (limits on, raised), one Locust process on core 1.

`throughput`: 600 connections on the default streams (2 symbols x trade, bookTicker, depth@100ms, about
72 messages/s each at the simulator's 100 ms tick). Messages per generator CPU-second of the suite's
subscriber (full accounting) over a bare websocket-client receive loop, and over a bare loop on the
suite's own frame reader; and the simulator's messages out per its CPU-second over the subscriber's
messages in per worker CPU-second (`sim_vs_worker_ws`). Ratios per round, median over rounds.

`orders`: `BinanceWsTrader` (full accounting) and a bare websocket-client loop (bench/locust_ws_orders.py) send
the same bursts of orders on the WebSocket API (ORDERS limits raised); orders answered, with their events read,
per generator CPU-second (`ws_orders_per_cpu_s`) and its ratio to the bare loop's (`ws_orders_vs_bare`), per
round, median over rounds.

`capacity`: subscribers (default streams, books and all) ramped up to a cap, on a slow market (a tick
every 10 s), held, counted and weighed (RSS) in the one worker process.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.harness import TARGET_CORE, Window, median, pin, run_locust
from loadgen.runner.processes import SimulatorProcess

LIMITS = """
[binance.rate_limits]
request_weight = { limit = 1000000000, interval_s = 60 }
raw_requests = { limit = 1000000000, interval_s = 300 }
[binance.ws]
connection_attempts = 10000000
"""
ORDER_LIMITS = """
[binance.rate_limits.orders_10s]
limit = 1000000000
interval_s = 10
[binance.rate_limits.orders_1d]
limit = 1000000000
interval_s = 86400
"""
SLOW_MARKET = "[binance]\ntick_ms = 10000\n"
THROUGHPUT_USERS = 600
CAPACITY_CAP = 12_000  # two descriptors a user at most during the ramp, within the 20,000 a process may open here
LOCUSTFILE = "bench/locust_ws.py"
ORDERS_LOCUSTFILE = "bench/locust_ws_orders.py"
ORDER_USERS, ORDER_BURST, ORDER_PAUSE_S = 4, 25, 0.05  # up to 2,000 orders/s offered


def _simulator(workdir: Path, config_text: str) -> SimulatorProcess:
    config = workdir / "sim.toml"
    config.write_text(config_text)
    return SimulatorProcess(workdir / "sim.log", config)


def _ws_run(sim: SimulatorProcess, user_class: str, users: int, spawn_rate: int, warmup_s: float, window_s: float,
            settle_max_s: float) -> Window:
    """A measured run that starts its window once every user's connection is open (or `settle_max_s` passed)."""
    assert sim.proc is not None
    settle = {"BENCH_SETTLE_KEY": "ws_open", "BENCH_SETTLE_VALUE": str(users), "BENCH_SETTLE_MAX_S": str(settle_max_s)}
    return run_locust(LOCUSTFILE, user_class, f"{sim.base_url}/binance", users, spawn_rate, warmup_s, window_s,
                      target_pid=sim.proc.pid, env=settle, ramp_allowance_s=settle_max_s + 30)


def throughput(rounds: int = 3, warmup_s: float = 2.0, window_s: float = 6.0) -> dict[str, Any]:
    accounted, bare, frames, sim_ratio, sim_share, worker_share, rate = [], [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp, _simulator(Path(tmp), LIMITS) as sim:
        assert sim.proc is not None
        pin(sim.proc.pid, TARGET_CORE)
        for _ in range(rounds):
            full = _ws_run(sim, "AccountedSubscriber", THROUGHPUT_USERS, 300, warmup_s, window_s, 30)
            plain = _ws_run(sim, "WebSocketClientReceiver", THROUGHPUT_USERS, 300, warmup_s, window_s, 30)
            reader = _ws_run(sim, "BareFrameReceiver", THROUGHPUT_USERS, 300, warmup_s, window_s, 30)
            full_rate = full.per_cpu_s("ws_messages")
            accounted.append(full_rate)
            bare.append(plain.per_cpu_s("ws_messages"))
            frames.append(reader.per_cpu_s("ws_messages"))
            sim_rate = full.delta("ws_messages") / max(full.delta("target_cpu_s"), 1e-9)
            sim_ratio.append(sim_rate / full_rate)
            sim_share.append(full.target_cpu_share())
            worker_share.append(full.cpu_s / full.wall_s)
            rate.append(full.rate("ws_messages"))
    return {
        "ws_accounted_vs_bare": round(median([a / b for a, b in zip(accounted, bare, strict=True)]), 3),
        "ws_accounted_vs_bare_frames": round(median([a / f for a, f in zip(accounted, frames, strict=True)]), 3),
        "sim_vs_worker_ws": round(median(sim_ratio), 2),
        "ws_per_cpu_s": {"accounted": round(median(accounted)), "bare_websocket_client": round(median(bare)),
                         "bare_frame_reader": round(median(frames))},
        "ws_messages_per_s": round(median(rate)),
        "ws_worker_cpu_share": round(median(worker_share), 2),
        "ws_sim_cpu_share": round(median(sim_share), 3),
        "ws_connections": THROUGHPUT_USERS,
        "ws_rounds": rounds,
        "ws_window_s": window_s,
    }


def orders(rounds: int = 3, warmup_s: float = 2.0, window_s: float = 6.0, users: int = ORDER_USERS,
           burst: int = ORDER_BURST, pause_s: float = ORDER_PAUSE_S) -> dict[str, Any]:
    """Orders per generator CPU-second: the suite's trader over the bare loop, same orders, same pacing."""
    accounted, bare, frames, rate, worker_share = [], [], [], [], []
    options = ("--order-burst", str(burst), "--order-pause", str(pause_s))
    with tempfile.TemporaryDirectory() as tmp, _simulator(Path(tmp), LIMITS + ORDER_LIMITS) as sim:
        assert sim.proc is not None
        pin(sim.proc.pid, TARGET_CORE)
        host = f"{sim.base_url}/binance"
        for _ in range(rounds):
            full, plain, reader = (run_locust(ORDERS_LOCUSTFILE, user_class, host, users, users, warmup_s, window_s,
                                              extra_args=options, target_pid=sim.proc.pid)
                                   for user_class in ("AccountedTrader", "BareWsTrader", "BareFrameTrader"))
            accounted.append(full.per_cpu_s("ws_orders"))
            bare.append(plain.per_cpu_s("ws_orders"))
            frames.append(reader.per_cpu_s("ws_orders"))
            rate.append(full.rate("ws_orders"))
            worker_share.append(full.cpu_s / full.wall_s)
    return {
        "ws_orders_per_cpu_s": round(median(accounted)),
        "ws_orders_vs_bare": round(median([a / b for a, b in zip(accounted, bare, strict=True)]), 3),
        "ws_orders_vs_bare_frames": round(median([a / f for a, f in zip(accounted, frames, strict=True)]), 3),
        "ws_orders_bare_per_cpu_s": {"bare_websocket_client": round(median(bare)),
                                     "bare_frame_reader": round(median(frames))},
        "ws_orders_per_s": round(median(rate)),
        "ws_orders_worker_cpu_share": round(median(worker_share), 2),
        "ws_orders_users": users,
        "ws_orders_burst": burst,
        "ws_orders_pause_s": pause_s,
        "ws_orders_rounds": rounds,
        "ws_orders_window_s": window_s,
    }


def capacity(cap: int = CAPACITY_CAP, spawn_rate: int = 400, window_s: float = 10.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, _simulator(Path(tmp), SLOW_MARKET + LIMITS) as sim:
        assert sim.proc is not None
        pin(sim.proc.pid, TARGET_CORE)
        run = _ws_run(sim, "AccountedSubscriber", cap, spawn_rate, 5.0, window_s, 90)
    held = int(min(run.start["ws_open"], run.end["ws_open"]))
    return {
        "ws_max_subscribers": held,
        "ws_rss_mb": round(run.end["rss_mb"]),
        "ws_capacity_cap": cap,
        "ws_capacity_reconnects_in_window": int(run.delta("ws_reconnects")),
        "ws_capacity_failures_in_window": int(run.delta("failures")),
        "ws_capacity_worker_cpu_share": round(run.cpu_s / run.wall_s, 2),
        "ws_capacity_ramp_s": round(cap / spawn_rate + run.settled_s, 1),  # spawning, then every connection open
    }
