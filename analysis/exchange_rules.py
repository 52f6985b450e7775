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


def signals_json(exchange: str) -> dict[str, object]:
    """The signals as report.json carries them (exchanges.<name>.rate_limit.signals)."""
    signals = limit_signals(exchange)
    return {"rate_limited": signals.rate_limited, "banned": signals.banned, "retry_after": signals.retry_after}
