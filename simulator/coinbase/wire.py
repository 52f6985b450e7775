"""Coinbase's wire formats shared by the REST answers and the feed: times, ids, sequence numbers, secrets."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

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
