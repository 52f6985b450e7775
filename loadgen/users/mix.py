"""The default user mix every venue's locustfile weights its user kinds by, and what it implies for run sizes.

Plain numbers (no Locust import), so that the runner can size a run without loading a locustfile."""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass


@dataclass(frozen=True, slots=True)
class UserMix:
    """Locust weights of a venue's default user kinds (users of weight 0 run only when named)."""

    poller: int
    trader: int
    subscriber: int

    def fewest_users(self) -> int:
        """The fewest users that give every kind one at least when Locust shares them out by weight."""
        weights = astuple(self)
        return math.ceil(sum(weights) / min(weights))


DEFAULT_MIX = UserMix(poller=5, trader=2, subscriber=3)
