"""The simulated Coinbase Exchange: its state (`sim.CoinbaseSim`), its REST routes and feed, its `VENUE`."""

from __future__ import annotations

from aiohttp import web

from simulator.coinbase import rest, ws
from simulator.coinbase.config import CoinbaseConfig, check
from simulator.coinbase.sim import CoinbaseSim
from simulator.venue import Venue


def mount(app: web.Application, sim: CoinbaseSim) -> None:
    rest.add_routes(app, sim)
    ws.add_routes(app, sim)
    rest.add_not_found(app, sim)


VENUE = Venue(CoinbaseSim, CoinbaseConfig, check, mount)
