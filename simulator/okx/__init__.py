"""The simulated OKX v5 spot exchange: its state (`sim.OkxSim`), its REST and public WebSocket routes, its `VENUE`."""

from __future__ import annotations

from aiohttp import web

from simulator.okx import rest, ws
from simulator.okx.config import OkxConfig, check
from simulator.okx.sim import OkxSim
from simulator.venue import Venue


def mount(app: web.Application, sim: OkxSim) -> None:
    rest.add_routes(app, sim)
    ws.add_routes(app, sim)
    rest.add_not_found(app, sim)


VENUE = Venue(OkxSim, OkxConfig, check, mount)
