"""The simulated venues: one per exchange in the registry (`exchanges.NAMES`, one line per venue), each the `VENUE`
entry of its package `simulator/<name>/`. Nothing else in the simulator lists or names a venue."""

from __future__ import annotations

import importlib

from exchanges import NAMES
from simulator.venue import Venue

VENUES: tuple[Venue, ...] = tuple(importlib.import_module(f"simulator.{name}").VENUE for name in NAMES)
