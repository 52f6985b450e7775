"""Coinbase Exchange's REST API under /coinbase: routes and the request pipeline.

The pipeline answers like Coinbase: every request takes one token from a lazily refilled bucket (public
endpoints the client IP's, private ones the profile's, `/fills` its own), and an empty bucket answers
429 `{"message": "Public rate limit exceeded"}` (or Private). Private endpoints check CB-ACCESS-KEY,
-PASSPHRASE, -TIMESTAMP (within 30 s of the server's clock) and -SIGN: base64 HMAC-SHA256 with the
base64-decoded secret over timestamp + method + request path (with its query) + body, where the request
path is the exchange's own, without the simulator's `/coinbase` mount point (what a client given the
simulator's base URL signs). Every error is `{"message": "..."}` with Coinbase's status. In front of the
pipeline: the capacity queue (`simulator.capacity`; when full, 503 `{"message": "service unavailable"}`),
and in front of that the injected faults.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from exchanges.base import Endpoint
from exchanges.coinbase import (
    ENDPOINTS,
    PUBLIC,
    RATE_LIMIT_MESSAGES,
    TIMESTAMP_TOLERANCE_S,
    bucket_of,
    signature,
)
from simulator.coinbase import market_data, trading
from simulator.coinbase.errors import NOT_FOUND, CoinbaseError
from simulator.coinbase.wire import Answer, Request, secret_bytes

if TYPE_CHECKING:
    from simulator.coinbase.account import Profile
    from simulator.coinbase.sim import CoinbaseSim

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=utf-8"
NOT_FOUND_ENDPOINT = "not_found"  # by_endpoint key of requests to unknown routes
AUTH_HEADERS = ("CB-ACCESS-KEY", "CB-ACCESS-SIGN", "CB-ACCESS-TIMESTAMP", "CB-ACCESS-PASSPHRASE")
OVERLOADED = CoinbaseError("service unavailable", 503)
# What waits in the order queue when `[coinbase.capacity] orders_per_s` gives order entry its own capacity.
ORDER_ENTRY = frozenset({"orders", "orders DELETE", "order DELETE"})
_encode = json.JSONEncoder(separators=(",", ":")).encode


Handler = Callable[["CoinbaseSim", Request, float, "Profile | None"], Any]

HANDLERS: dict[str, Handler] = {
    "time": market_data.server_time,
    "currencies": market_data.currencies,
    "currency": market_data.currency,
    "products": market_data.products,
    "product": market_data.product,
    "ticker": market_data.ticker,
    "book": market_data.book,
    "trades": market_data.trades,
    "candles": market_data.candles,
    "stats": market_data.stats,
    "orders": trading.place_order,
    "orders GET": trading.list_orders,
    "orders DELETE": trading.cancel_all,
    "order GET": trading.get_order,
    "order DELETE": trading.cancel_order,
    "accounts": trading.accounts,
    "fills": trading.fills,
}

# Public answers that depend only on the market and the URL: served from `sim.cache` until the market changes.
CACHED_ANSWERS = frozenset({"currencies", "currency", "products", "product", "ticker", "book", "trades", "candles",
                            "stats"})
CACHE_MAX_ENTRIES = 10_000


def add_routes(app: web.Application, sim: CoinbaseSim) -> None:
    for name, handler in HANDLERS.items():
        endpoint = ENDPOINTS[name]
        pipeline = _gateway(sim, _pipeline(sim, endpoint, handler), name)
        app.router.add_route(endpoint.method, sim.prefix + endpoint.path, pipeline)


def add_not_found(app: web.Application, sim: CoinbaseSim) -> None:
    """404 NotFound for any other path or method under the exchange's prefix (register it last)."""
    handler = _gateway(sim, _not_found(sim), NOT_FOUND_ENDPOINT)
    app.router.add_route("*", sim.prefix, handler)
    app.router.add_route("*", sim.prefix + r"/{tail:[\s\S]*}", handler)  # any character, newlines too


def _gateway(sim: CoinbaseSim, handler: Callable[[web.Request], Any], name: str) -> Callable[[web.Request], Any]:
    """`handler` behind the capacity queue, behind the injected faults (the load balancer in front)."""
    queued = sim.capacity.wrap(handler, name, partial(_overloaded, sim), order=name in ORDER_ENTRY)
    return sim.faults.wrap(queued, name)


def _overloaded(sim: CoinbaseSim, name: str) -> web.Response:
    """The answer to a request the full capacity queue refuses."""
    sim.stats.record(name, OVERLOADED.status)
    return web.Response(body=_error(OVERLOADED.message), status=OVERLOADED.status, headers={"Content-Type": JSON_TYPE})


def _pipeline(sim: CoinbaseSim, endpoint: Endpoint, handler: Handler) -> Callable[[web.Request], Any]:
    clock, stats, limiter = sim.clock, sim.stats, sim.limiter
    name, signed, bucket = endpoint.name, endpoint.signed, bucket_of(endpoint)
    reads_body = endpoint.method != "GET"
    cache = sim.cache if name in CACHED_ANSWERS else None

    async def handle(request: web.Request) -> web.Response:
        now = clock()
        body = await request.read() if reads_body and request.body_exists else b""
        headers = {"Content-Type": JSON_TYPE}
        try:
            profile = sim.trading.profiles.get(request.headers.get("CB-ACCESS-KEY", "")) if signed else None
            limit, key = (bucket, profile.id) if profile is not None else (PUBLIC, request.remote or "")
            if not limiter.take(limit, key, now):
                stats.rate_limited += 1
                raise CoinbaseError(RATE_LIMIT_MESSAGES[limit], 429)
            if signed:
                profile = _authenticate(sim, request, body, now)
            if cache is None:
                content, extra = _answer(handler(sim, _request(request, body), now, profile))
            else:
                cache_key = (name, request.raw_path)
                entry = cache.get(cache_key)
                if entry is None:
                    if len(cache) >= CACHE_MAX_ENTRIES:
                        cache.clear()
                    entry = cache[cache_key] = _answer(handler(sim, _request(request, body), now, profile))
                content, extra = entry
            headers.update(extra)
            status = 200
        except CoinbaseError as e:
            content, status = _error(e.message), e.status
        except Exception:
            log.exception("coinbase %s failed", name)
            content, status = _error("Internal server error"), 500
        stats.record(name, status)
        return web.Response(body=content, status=status, headers=headers)

    return handle


def _answer(result: Any) -> tuple[bytes, Mapping[str, str]]:
    if isinstance(result, Answer):
        return _encode(result.payload).encode(), result.headers
    return _encode(result).encode(), {}


def _error(message: str) -> bytes:
    return _encode({"message": message}).encode()


def _request(request: web.Request, body: bytes) -> Request:
    """GET reads the query; POST and DELETE a JSON object body (DELETE: query values win)."""
    if request.method == "GET":
        return Request(request.match_info, request.query)
    params: dict[str, Any] = {}
    if body.strip():
        try:
            parsed = json.loads(body)
        except ValueError:
            raise CoinbaseError("Invalid JSON body") from None
        if not isinstance(parsed, dict):
            raise CoinbaseError("Invalid JSON body")
        params.update(parsed)
    params.update(request.query)
    return Request(request.match_info, params)


def _authenticate(sim: CoinbaseSim, request: web.Request, body: bytes, now: float) -> Profile:
    """The profile of a signed request, after checking its key, passphrase, timestamp and signature."""
    headers = request.headers
    for header in AUTH_HEADERS:
        if not headers.get(header):
            raise CoinbaseError(f"{header} header is required", 401)
    profile = sim.trading.profiles.get(headers["CB-ACCESS-KEY"])
    if profile is None:
        raise CoinbaseError("Invalid API Key", 401)
    if not hmac.compare_digest(secret_bytes(headers["CB-ACCESS-PASSPHRASE"]), secret_bytes(profile.passphrase)):
        raise CoinbaseError("Invalid Passphrase", 401)
    timestamp = headers["CB-ACCESS-TIMESTAMP"]
    try:
        seconds = float(timestamp)
    except ValueError:
        raise CoinbaseError("invalid timestamp", 401) from None
    if not math.isfinite(seconds):
        raise CoinbaseError("invalid timestamp", 401)
    if abs(now - seconds) > TIMESTAMP_TOLERANCE_S:
        raise CoinbaseError("request timestamp expired", 401)
    request_path = request.raw_path.removeprefix(sim.prefix)
    expected = signature(profile.secret, timestamp, request.method, request_path, body.decode("utf-8", "replace"))
    if not hmac.compare_digest(secret_bytes(expected), secret_bytes(headers["CB-ACCESS-SIGN"])):
        raise CoinbaseError("invalid signature", 401)
    return profile


def _not_found(sim: CoinbaseSim) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        now = sim.clock()
        if not sim.limiter.take(PUBLIC, request.remote or "", now):
            sim.stats.rate_limited += 1
            status, content = 429, _error(RATE_LIMIT_MESSAGES[PUBLIC])
        else:
            status, content = 404, _error(NOT_FOUND)
        sim.stats.record(NOT_FOUND_ENDPOINT, status)
        return web.Response(body=content, status=status, headers={"Content-Type": JSON_TYPE})

    return handle
