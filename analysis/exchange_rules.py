"""What the analysis reads from an exchange's adapter: how it signals limits and what it publishes.

Findings and tables word each exchange's limits in its own terms from here, never by its name; an
exchange without an adapter (another suite's run) gets generic wording.
"""

from __future__ import annotations

from exchanges import get_adapter
from exchanges.base import ExchangeAdapter, LimitSignals

GENERIC_SIGNALS = LimitSignals(
    rate_limited="HTTP 429 or the exchange's own rate-limit code",
    banned="HTTP 418 or the exchange's own ban code",
)


def adapter_of(exchange: str) -> ExchangeAdapter | None:
    try:
        return get_adapter(exchange)
    except ValueError:
        return None


def limit_signals(exchange: str) -> LimitSignals:
    adapter = adapter_of(exchange)
    return adapter.limit_signals if adapter is not None else GENERIC_SIGNALS


def published_limit(exchange: str) -> float | None:
    """The exchange's published request limit in its adapter's `limit_unit`; None when unknown."""
    adapter = adapter_of(exchange)
    return adapter.published_limit if adapter is not None else None


def signals_seen(exchange: str, rate_limited: int, banned: int) -> str:
    """The exchange's own names of the limit answers a run got: its rate-limit answers, its ban answers or both."""
    signals = limit_signals(exchange)
    seen = [text for text, count in ((signals.rate_limited, rate_limited), (signals.banned, banned)) if text and count]
    return " and ".join(seen) or signals.rate_limited


def draws_on_limit(exchange: str, endpoint: str) -> bool | None:
    """Whether requests to `endpoint` (its catalog name) draw on the limit the adapter's `limit_unit` names;
    None when the exchange or the endpoint is unknown."""
    adapter = adapter_of(exchange)
    found = adapter.endpoints.get(endpoint) if adapter is not None else None
    return None if found is None else adapter.counts_toward_limit(found)


def signals_json(exchange: str) -> dict[str, object]:
    """The signals as report.json carries them (exchanges.<name>.rate_limit.signals)."""
    signals = limit_signals(exchange)
    return {"rate_limited": signals.rate_limited, "banned": signals.banned, "retry_after": signals.retry_after}
