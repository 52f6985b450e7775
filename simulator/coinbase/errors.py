"""Coinbase's error answers: an HTTP status with `{"message": "..."}`."""

from __future__ import annotations


class CoinbaseError(Exception):
    """An error answer. Raised anywhere while handling a request; the pipeline turns it into JSON."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


NOT_FOUND = "NotFound"


def not_found() -> CoinbaseError:
    return CoinbaseError(NOT_FOUND, 404)


def invalid(name: str) -> CoinbaseError:
    return CoinbaseError(f"Invalid {name}")
