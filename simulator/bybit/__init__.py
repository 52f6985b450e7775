"""The simulated Bybit v5 spot exchange: its state (`sim.BybitSim`), its REST and public WebSocket routes, its
`VENUE`."""

from __future__ import annotations

from aiohttp import web

from simulator.bybit import rest, ws
from simulator.bybit.config import BybitConfig, check
from simulator.bybit.sim import BybitSim
from simulator.venue import Venue


def mount(app: web.Application, sim: BybitSim) -> None:
    rest.add_routes(app, sim)
    ws.add_routes(app, sim)
    rest.add_not_found(app, sim)


VENUE = Venue(BybitSim, BybitConfig, check, mount)
