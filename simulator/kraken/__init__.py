"""The simulated Kraken Spot exchange: its state (`sim.KrakenSim`), its REST and WebSocket v2 routes
(public and ws-auth), its `VENUE`."""

from __future__ import annotations

from aiohttp import web

from simulator.kraken import rest, ws, ws_auth
from simulator.kraken.config import KrakenConfig, check
from simulator.kraken.sim import KrakenSim
from simulator.venue import Venue


def mount(app: web.Application, sim: KrakenSim) -> None:
    rest.add_routes(app, sim)
    ws.add_routes(app, sim)
    ws_auth.add_routes(app, sim)
    rest.add_not_found(app, sim)


VENUE = Venue(KrakenSim, KrakenConfig, check, mount)
