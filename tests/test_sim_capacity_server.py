"""The capacity model in the running simulator: bursts of concurrent requests, each venue's busy answer, the
order queue, and the stats counters against what the client saw."""

from __future__ import annotations

import asyncio
import itertools
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import requests

from tests.support.simserver import SimServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "simulator" / "examples" / "capacity.toml"


async def _burst(url: str, count: int, method: str = "GET") -> list[tuple[int, str]]:
    """`count` requests at once, each on its own connection."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True)) as session:
        async def one() -> tuple[int, str]:
            async with session.request(method, url, timeout=aiohttp.ClientTimeout(total=60)) as answer:
                return answer.status, await answer.text()

        return await asyncio.gather(*(one() for _ in range(count)))


def _stats(sim: SimServer, venue: str) -> dict[str, Any]:
    return requests.get(f"{sim.url}/__sim/stats", timeout=10).json()["exchanges"][venue]


def test_a_burst_beyond_the_queue_is_refused_and_counted_as_the_client_saw_it() -> None:
    with SimServer({"binance": {"capacity": {"requests_per_s": 100, "queue": 50}}}) as sim:
        answers = asyncio.run(_burst(f"{sim.api}/ping", 300))
        stats = _stats(sim, "binance")
    statuses = Counter(status for status, _ in answers)
    rest = stats["capacity"]["rest"]
    assert set(statuses) == {200, 503}
    assert statuses[200] == rest["served"] >= 51 and statuses[503] == rest["refused"] > 0  # 1 in service + 50 wait
    assert rest["timed_out"] == 0 and rest["max_waiting"] == 50 and rest["requests_per_s"] == 100
    assert rest["wait_ms_mean"] > 0
    assert stats["requests_total"] == 300 == stats["by_endpoint"]["ping"]
    assert stats["by_status"] == {str(s): n for s, n in statuses.items()}
    refusal = next(text for status, text in answers if status == 503)
    assert refusal == ('{"code":-1008,"msg":"Server is currently overloaded with other requests. '
                       'Please try again in a few minutes."}')


def test_each_venue_refuses_in_its_own_shape() -> None:
    config = {venue: {"capacity": {"requests_per_s": 20, "queue": 0}} for venue in ("coinbase", "kraken")}
    with SimServer(config) as sim:
        coinbase = asyncio.run(_burst(f"{sim.url}/coinbase/time", 20))
        kraken = asyncio.run(_burst(f"{sim.url}/kraken/0/public/Time", 20))
        coinbase_stats, kraken_stats = _stats(sim, "coinbase"), _stats(sim, "kraken")
    assert (503, '{"message":"service unavailable"}') in coinbase
    assert Counter(s for s, _ in coinbase)[503] == coinbase_stats["capacity"]["rest"]["refused"] > 0
    busy = [text for _, text in kraken if "EService" in text]
    assert {status for status, _ in kraken} == {200} and busy and set(busy) == {'{"error":["EService:Busy"]}'}
    assert kraken_stats["by_error"] == {"EService:Busy": len(busy)} and kraken_stats["by_status"] == {"200": 20}
    assert kraken_stats["capacity"]["rest"]["refused"] == len(busy)


def test_orders_wait_in_their_own_queue_behind_the_faults() -> None:
    config = {"binance": {"capacity": {"requests_per_s": 1000, "orders_per_s": 50}}}
    with SimServer(config) as sim, requests.Session() as http:
        for _ in range(5):
            http.get(f"{sim.api}/ping", timeout=10)
            http.post(f"{sim.api}/order/test", timeout=10)  # unsigned: refused by the pipeline, after the queue
        capacity = _stats(sim, "binance")["capacity"]
    assert capacity["rest"]["served"] == 5 and capacity["orders"]["served"] == 5
    assert capacity["orders"]["requests_per_s"] == 50
    faulty = {"binance": {"capacity": {"requests_per_s": 1000}, "faults": {"error_rate": 1.0}}}
    with SimServer(faulty) as sim, requests.Session() as http:
        assert http.get(f"{sim.api}/ping", timeout=10).status_code in (502, 503, 504)
        stats = _stats(sim, "binance")
    assert stats["capacity"]["rest"]["served"] == 0 and stats["faults"]["http_5xx"] == 1  # the load balancer's answer


def test_without_a_capacity_the_stats_show_none() -> None:
    with SimServer() as sim:
        assert requests.get(f"{sim.api}/ping", timeout=10).status_code == 200
        assert all(_stats(sim, venue)["capacity"] == {} for venue in ("binance", "coinbase", "kraken"))


def test_the_example_config_saturates_every_venue_before_any_rate_limit() -> None:
    """simulator/examples/capacity.toml: 400 concurrent requests per venue (each venue's queue holds 200) find
    the capacity: refusals, and not one rate-limit answer."""
    data = tomllib.loads(EXAMPLE.read_text())
    paths = {"binance": "/binance/api/v3/depth?symbol=BTCUSDT", "coinbase": "/coinbase/products/BTC-USD/book",
             "kraken": "/kraken/0/public/Depth?pair=XBTUSD"}
    with SimServer(data) as sim:
        seen = {venue: asyncio.run(_burst(sim.url + path, 400)) for venue, path in paths.items()}
        stats = {venue: _stats(sim, venue) for venue in paths}
    for venue, answers in seen.items():
        rest = stats[venue]["capacity"]["rest"]
        assert rest["requests_per_s"] == data[venue]["capacity"]["requests_per_s"] and rest["queue"] == 200
        assert rest["served"] > 200 and rest["refused"] > 0 and rest["served"] + rest["refused"] == 400
        assert stats[venue]["rate_limited"] == 0 and stats[venue]["bans"] == 0
        refusals = [status for status, text in answers if status == 503 or "EService:Busy" in text]
        assert len(refusals) == rest["refused"] and all(status == 200 for status, _ in answers if status != 503)


def test_the_documented_command_serves_the_example_config() -> None:
    """docs/simulator.md's Capacity command as typed, on a free port instead of 8000."""
    docs = (ROOT / "docs" / "simulator.md").read_text(encoding="utf-8")
    section = docs[docs.index("## Capacity"):]
    section = section[:section.index("\n## ")]
    (command,) = re.findall(r"```sh\n(.*?)\n```", section, re.S)
    argv = shlex.split(command)
    assert argv[:3] == [".venv/bin/python", "-m", "simulator"] and argv[argv.index("--port") + 1] == "8000"
    argv[0], argv[argv.index("--port") + 1] = sys.executable, "0"
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ready = proc.stdout.readline() if proc.stdout else ""
        assert ready.startswith("simulator ready on "), ready
        url = ready.split()[3]
        answers = asyncio.run(_burst(f"{url}/binance/api/v3/ping", 300))
        assert {status for status, _ in answers} == {200, 503}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def test_market_data_goes_out_late_and_in_order_while_the_gateway_is_saturated() -> None:
    """A burst fills a 50-deep queue at 50 requests/s: for about a second every request waits about a
    second, and so does every depth event (sent in order, `U` following the last `u`)."""

    async def watch(url: str) -> tuple[list[dict[str, Any]], list[float]]:
        events: list[dict[str, Any]] = []
        arrived: list[float] = []
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(f"{url}/binance/ws/btcusdt@depth@100ms") as ws:
            await ws.receive_json(timeout=10)  # the market is ticking
            burst = asyncio.create_task(_burst(f"{url}/binance/api/v3/ping", 100))
            while not burst.done():
                msg = await ws.receive_json(timeout=10)
                arrived.append(time.time())
                events.append(msg)
            await burst
        return events, arrived

    with SimServer({"binance": {"capacity": {"requests_per_s": 50, "queue": 50}}}) as sim:
        events, arrived = asyncio.run(watch(sim.url))
        served = _stats(sim, "binance")["capacity"]["rest"]["served"]
    assert served >= 51 and events
    assert all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(events))  # none lost, none reordered
    late_s = max(t - e["E"] / 1000 for e, t in zip(events, arrived, strict=True))
    assert late_s > 0.5  # the queue's wait is about 50 requests x 20 ms = 1 s
