"""The simulated Binance Spot exchange: its state (`sim.BinanceSim`), its REST and WebSocket routes, its `VENUE`."""

from __future__ import annotations

from aiohttp import web

from simulator.binance import rest, ws, ws_api
from simulator.binance.config import BinanceConfig, check
from simulator.binance.sim import BinanceSim
from simulator.venue import Venue


def mount(app: web.Application, sim: BinanceSim) -> None:
    rest.add_routes(app, sim)
    ws.add_routes(app, sim)
    ws_api.add_routes(app, sim)
    rest.add_not_found(app, sim)


VENUE = Venue(BinanceSim, BinanceConfig, check, mount)
