"""Bybit's error answers: the v5 envelope with a non-zero `retCode`, with HTTP 200 like Bybit."""

from __future__ import annotations

from exchanges.bybit import MESSAGES, PARAMS_ERROR


class BybitError(Exception):
    """An error answer. Raised anywhere while handling a request; the pipeline turns it into the envelope."""

    def __init__(self, code: int, message: str | None = None, status: int = 200) -> None:
        self.code = code
        self.message = message if message is not None else MESSAGES.get(code, "error")
        super().__init__(f"{code} {self.message}")
        self.status = status


def params_error(detail: str) -> BybitError:
    return BybitError(PARAMS_ERROR, f"params error: {detail}")
