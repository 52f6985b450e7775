"""The simulator's aiohttp application: every registered exchange mounted under its prefix, market tick loops,
the monitor of its own load, and the simulator's own endpoints `GET /__sim/health`, `GET /__sim/stats` and
`GET /__sim/identity`.

Every venue in `simulator.venues` (one per registered exchange) is mounted under its prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time

from aiohttp import web

from simulator.config import SimulatorConfig
from simulator.identity import IDENTITY_PATH, identity_document
from simulator.load_monitor import LoadMonitor
from simulator.venue import Clock, SimulatedExchange
from simulator.venues import VENUES

log = logging.getLogger(__name__)

SIMS = web.AppKey("sims", list[SimulatedExchange])
_TICK_TASKS = web.AppKey("tick_tasks", list[asyncio.Task[None]])
MONITOR = web.AppKey("monitor", LoadMonitor)


def build_app(config: SimulatorConfig, clock: Clock = time.time) -> web.Application:
    app = web.Application()
    sims = [venue.build(getattr(config, venue.name), clock) for venue in VENUES]
    app[SIMS] = sims
    app[MONITOR] = _monitor(sims)
    app.router.add_get("/__sim/health", _health)
    app.router.add_get("/__sim/stats", _stats)
    app.router.add_get(IDENTITY_PATH, _identity)
    for venue, sim in zip(VENUES, sims, strict=True):
        venue.mount(app, sim)
    app.on_startup.append(_start_ticking)
    app.on_cleanup.append(_stop_ticking)
    app.on_startup.append(_start_monitor)
    app.on_cleanup.append(_stop_monitor)
    return app


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "exchanges": [sim.name for sim in request.app[SIMS]]})


async def _identity(request: web.Request) -> web.Response:
    return web.json_response(identity_document({sim.name: sim.prefix for sim in request.app[SIMS]}))


async def _stats(request: web.Request) -> web.Response:
    """Every exchange's counters, and under "process" the simulator's own load per second (`?since=EPOCH_S`:
    every kept row that started after then; without it, the last 10)."""
    since = request.query.get("since")
    try:
        after = None if since is None else float(since)
    except ValueError:
        after = math.nan
    if after is not None and not math.isfinite(after):
        return web.json_response({"error": f"since must be epoch seconds, got {since!r}"}, status=400)
    return web.json_response({
        "exchanges": {sim.name: sim.stats.to_json() for sim in request.app[SIMS]},
        "process": request.app[MONITOR].to_json(after),
    })


async def _start_ticking(app: web.Application) -> None:
    app[_TICK_TASKS] = [asyncio.create_task(_tick_loop(sim)) for sim in app[SIMS]]


async def _stop_ticking(app: web.Application) -> None:
    for task in app[_TICK_TASKS]:
        task.cancel()
    for task in app[_TICK_TASKS]:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _monitor(sims: list[SimulatedExchange]) -> LoadMonitor:
    def counts() -> tuple[int, int]:
        return sum(s.stats.requests_total for s in sims), sum(s.stats.ws["messages_sent"] for s in sims)

    return LoadMonitor(counts)


async def _start_monitor(app: web.Application) -> None:
    app[MONITOR].start()


async def _stop_monitor(app: web.Application) -> None:
    await app[MONITOR].stop()


async def _tick_loop(sim: SimulatedExchange) -> None:
    """Step the market every tick_ms; when the loop falls behind, it skips ticks instead of bursting."""
    loop = asyncio.get_running_loop()
    interval = sim.tick_ms / 1000
    next_at = loop.time()
    while True:
        next_at += interval
        delay = next_at - loop.time()
        if delay < 0:
            next_at = loop.time()
            delay = 0
        await asyncio.sleep(delay)
        try:
            sim.tick()
        except Exception:
            log.exception("%s: market tick failed", sim.name)
