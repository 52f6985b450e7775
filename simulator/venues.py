"""The registry of simulated venues: adding one means adding `simulator/<venue>/` and one line here."""

from __future__ import annotations

from simulator import binance, coinbase, kraken
from simulator.venue import Venue

VENUES: tuple[Venue, ...] = (
    binance.VENUE,
    coinbase.VENUE,
    kraken.VENUE,
)
