"""Coinbase's wire formats and the types every module of the package shares: times, ids, sequence numbers,
secrets, and a REST handler's `Request` and `Answer` (here, so that market_data, trading and rest import them
one way: rest -> trading -> market_data -> wire)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulator.coinbase.errors import invalid
from simulator.market import SymbolMarket


def sequence(sym: SymbolMarket, trade_id: int | None = None) -> int:
    """The product's feed sequence: it grows by one with every book change and every trade.

    With `trade_id`, the sequence of that trade as published now (matches and tickers); without, the
    product's latest (REST book, heartbeats)."""
    return sym.last_update_id + (sym.next_trade_id if trade_id is None else trade_id)


def iso_time(ms: float) -> str:
    """Coinbase's time format: ISO 8601, UTC, six decimals, "Z"."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stable_uuid(*parts: object) -> str:
    """A UUID that is always the same for the same parts (synthetic order and account ids)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def secret_bytes(text: str) -> bytes:
    """A client's passphrase or signature as bytes to compare in constant time (lone surrogates too)."""
    return text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class Answer:
    payload: Any
    headers: Mapping[str, str] = field(default_factory=dict)


class Request:
    """What a handler reads: the path parameters and the query (GET) or JSON body (POST, DELETE) values."""

    __slots__ = ("params", "path")

    def __init__(self, path: Mapping[str, str], params: Mapping[str, Any]) -> None:
        self.path = path
        self.params = params

    def text(self, name: str) -> str | None:
        """A parameter as text; None when absent or empty. Numbers and booleans in a JSON body are accepted."""
        value = self.params.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | str):
            return str(value)
        raise invalid(name)

    def integer(self, name: str, default: int | None) -> int | None:
        text = self.text(name)
        if text is None:
            return default
        try:
            return int(text)
        except ValueError:
            raise invalid(name) from None

    def flag(self, name: str) -> bool:
        text = self.text(name)
        if text is None:
            return False
        if text.lower() not in ("true", "false"):
            raise invalid(name)
        return text.lower() == "true"

    def all(self, name: str) -> list[str]:
        """Every value of a repeatable query parameter (`status=open&status=pending`)."""
        getall = getattr(self.params, "getall", None)
        if getall is not None:
            return [str(v) for v in getall(name, [])]
        value = self.params.get(name)
        if value is None:
            return []
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
