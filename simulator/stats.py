"""Per-exchange counters served by `GET /__sim/stats`."""

from __future__ import annotations

from collections import Counter
from typing import Any, Protocol

FAULT_KEYS = ("http_5xx", "reset", "latency", "ws_drop", "ws_stall", "cpu_burn")
WS_KEYS = ("connections_open", "connections_total", "messages_sent")


class QueueCounters(Protocol):
    """A capacity queue's counters (`simulator.capacity.ServiceQueue`)."""

    def to_json(self) -> dict[str, Any]: ...


class ExchangeStats:
    """What one simulated exchange answered: totals, by HTTP status, by endpoint, faults and WebSocket counters.

    `by_status` keys are status codes as strings ("200", "429"); `by_endpoint` keys are the adapter's
    endpoint names ("ticker/price", "order DELETE"); `by_error` counts error answers by the exchange's
    error text, for exchanges whose errors share one status (Kraken answers them with HTTP 200). The
    WebSocket server owns the `ws` counter. A WebSocket order API counts its answers in `ws_api_requests` (by
    method and status, apart from the HTTP figures) and the order events it pushed in `ws_api_events` (by event
    type and order state, e.g. "executionReport FILLED"). `capacity` holds the venue's capacity queues by name ("rest",
    "orders"); it is empty when no capacity is configured.
    """

    def __init__(self) -> None:
        self.requests_total = 0
        self.by_status: Counter[str] = Counter()
        self.by_endpoint: Counter[str] = Counter()
        self.by_error: Counter[str] = Counter()
        self.faults: Counter[str] = Counter(dict.fromkeys(FAULT_KEYS, 0))
        self.ws: Counter[str] = Counter(dict.fromkeys(WS_KEYS, 0))
        self.rate_limited = 0  # rate-limit answers (429, or the exchange's own rate-limit error)
        self.bans = 0  # IP bans imposed (each answered 418)
        self.capacity: dict[str, QueueCounters] = {}
        self.ws_api_requests: Counter[tuple[str, str]] = Counter()
        self.ws_api_events: Counter[str] = Counter()

    def record(self, endpoint: str, status: int) -> None:
        """Count one answered request."""
        self.requests_total += 1
        self.by_status[str(status)] += 1
        self.by_endpoint[endpoint] += 1

    def record_ws_api(self, method: str, status: int | str) -> None:
        """Count one answered WebSocket order API request, by its status (Binance's HTTP-like status; Kraken's
        "ok" or error text)."""
        self.ws_api_requests[(method, str(status))] += 1

    def to_json(self) -> dict[str, Any]:
        requests: dict[str, dict[str, int]] = {}
        for (method, status), count in sorted(self.ws_api_requests.items()):
            requests.setdefault(method, {})[status] = count
        return {
            "requests_total": self.requests_total,
            "by_status": dict(self.by_status),
            "by_endpoint": dict(self.by_endpoint),
            "by_error": dict(self.by_error),
            "faults": {**dict.fromkeys(FAULT_KEYS, 0), **self.faults},
            "ws": {**dict.fromkeys(WS_KEYS, 0), **self.ws},
            "rate_limited": self.rate_limited,
            "bans": self.bans,
            "capacity": {name: queue.to_json() for name, queue in self.capacity.items()},
            "ws_api": {"requests": requests, "events": dict(self.ws_api_events)},
        }
