"""Kraken's error answers: `{"error": ["<severity><category>:<message>"]}`, with HTTP 200 like Kraken."""

from __future__ import annotations

from exchanges.kraken import INVALID_ARGUMENTS


class KrakenError(Exception):
    """An error answer. Raised anywhere while handling a request; the pipeline turns it into the envelope."""

    def __init__(self, error: str, status: int = 200) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


def invalid_argument(name: str) -> KrakenError:
    return KrakenError(f"{INVALID_ARGUMENTS}:{name}")
