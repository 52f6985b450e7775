"""GetWebSocketsToken's tokens: which API key each belongs to and when it was issued."""

from __future__ import annotations

import secrets

TOKENS_KEPT = 100_000


class Tokens:
    """WebSocket tokens by value: the API key each belongs to and when it was issued (sim clock seconds)."""

    def __init__(self) -> None:
        self._issued: dict[str, tuple[str, float]] = {}

    def issue(self, api_key: str, now: float) -> str:
        token = secrets.token_urlsafe(32)
        self._issued[token] = (api_key, now)
        if len(self._issued) > TOKENS_KEPT:
            del self._issued[next(iter(self._issued))]
        return token

    def key_of(self, token: object, now: float, ttl_s: float) -> str | None:
        """The API key of a token still within its time to live; None for any other."""
        issued = self._issued.get(token) if isinstance(token, str) else None
        if issued is None or now - issued[1] > ttl_s:
            return None
        return issued[0]
