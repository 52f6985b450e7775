"""Reading request parameters the way Binance validates them (codes -1100, -1102, -1121, -1128)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from simulator.binance.errors import BinanceError, bad_combination, illegal, invalid_symbol, mandatory
from simulator.market import Market, SymbolMarket

_SYMBOL_RE = re.compile(r"^[A-Z0-9-_.]{1,20}$")
_DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_INT_LEGAL = "^[0-9]{1,20}$"


def required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise mandatory(name)
    return value


def integer(params: Mapping[str, str], name: str) -> int | None:
    """A non-negative integer parameter; None when it is absent."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 20:
        raise illegal(name, _INT_LEGAL)
    return int(value)


def limit(params: Mapping[str, str], default: int, maximum: int) -> int:
    """The `limit` parameter: `default` when absent, at most `maximum` (larger values are truncated)."""
    value = integer(params, "limit")
    if value is None:
        return default
    if value < 1:
        raise illegal("limit", f"1-{maximum}")
    return min(value, maximum)


def decimal(params: Mapping[str, str], name: str) -> Decimal | None:
    """A decimal parameter (price, quantity) as Binance accepts it; None when absent."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not _DECIMAL_RE.match(value):
        raise illegal(name, _DECIMAL_RE.pattern)
    try:
        return Decimal(value)
    except InvalidOperation:
        raise illegal(name, _DECIMAL_RE.pattern) from None


def choice(params: Mapping[str, str], name: str, options: Mapping[str, object], error: BinanceError) -> str | None:
    """An enum parameter; None when absent, `error` when it is not one of `options`."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if value not in options:
        raise error
    return value


def symbol(market: Market, params: Mapping[str, str]) -> SymbolMarket:
    """The market of the mandatory `symbol` parameter."""
    return lookup(market, required(params, "symbol"))


def lookup(market: Market, name: str) -> SymbolMarket:
    sym = market.symbols.get(name)
    if sym is None:
        if not _SYMBOL_RE.match(name):
            raise illegal("symbol", _SYMBOL_RE.pattern)
        raise invalid_symbol()
    return sym


def symbols(market: Market, params: Mapping[str, str]) -> tuple[list[SymbolMarket], bool]:
    """The markets named by `symbol` or `symbols` (a JSON array), or all; and whether one `symbol` was given."""
    one = params.get("symbol")
    many = params.get("symbols")
    if one is not None and many is not None:
        raise bad_combination()
    if one is not None:
        return [lookup(market, one)], True
    if many is None:
        return list(market.symbols.values()), False
    try:
        names = json.loads(many)
    except ValueError:
        raise mandatory("symbols") from None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise mandatory("symbols")
    return [lookup(market, n) for n in names], False
