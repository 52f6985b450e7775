"""Binance's error answers: `{"code": N, "msg": "..."}` with the published codes and texts."""

from __future__ import annotations


class BinanceError(Exception):
    """An error answer. Raised anywhere while handling a request; the pipeline turns it into JSON."""

    def __init__(self, code: int, msg: str, status: int = 400, retry_after_s: int | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status
        self.retry_after_s = retry_after_s


def mandatory(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal(name: str, legal: str) -> BinanceError:
    return BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def bad_combination() -> BinanceError:
    return BinanceError(-1128, "Combination of optional parameters invalid.")


def order_rejected(msg: str) -> BinanceError:
    return BinanceError(-2010, msg)


def filter_failure(name: str) -> BinanceError:
    return BinanceError(-1013, f"Filter failure: {name}")


INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
