"""Binance Spot's REST API under /binance/api/v3: routes and the request pipeline.

The pipeline answers like Binance: a banned IP gets 418; each request is charged its weight
(REQUEST_WEIGHT) and one RAW_REQUESTS unit per IP, and breaking a limit answers 429 -1003 (then
418 and a ban for clients that keep going); signed endpoints check the API key, signature and
timestamp; every answer carries X-MBX-USED-WEIGHT-<interval>, order placements the ORDERS counts.
Endpoints in FREE_WHEN_SUCCESSFUL are charged only when they fail. In front of the pipeline: the capacity
queue (`simulator.capacity`; when full, 503 -1008 "Server is currently overloaded ..."), and in front of
that the injected faults.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from exchanges.base import Endpoint
from exchanges.binance import (
    ENDPOINTS,
    FREE_WHEN_SUCCESSFUL,
    RECV_WINDOW_DEFAULT_MS,
    RECV_WINDOW_MAX_MS,
    TIMESTAMP_AHEAD_TOLERANCE_MS,
    hmac_signature,
)
from simulator.binance import market_data, trading
from simulator.binance import params as p
from simulator.binance.account import Account
from simulator.binance.errors import BinanceError, illegal, mandatory
from simulator.binance.limiter import Rejection

if TYPE_CHECKING:
    from simulator.binance.sim import BinanceSim

log = logging.getLogger(__name__)

Handler = Callable[["BinanceSim", Mapping[str, str], float, "Account | None"], Any]

HANDLERS: dict[str, Handler] = {
    "ping": market_data.ping,
    "time": market_data.server_time,
    "exchangeInfo": market_data.exchange_info,
    "depth": market_data.depth,
    "trades": market_data.recent_trades,
    "aggTrades": market_data.agg_trades,
    "klines": market_data.klines,
    "ticker/price": market_data.ticker_price,
    "ticker/bookTicker": market_data.book_ticker,
    "ticker/24hr": market_data.ticker_24hr,
    "order/test": trading.test_order,
    "order": trading.place_order,
    "order GET": trading.query_order,
    "order DELETE": trading.cancel_order,
    "openOrders": trading.open_orders,
    "account": trading.account_info,
}

# Public answers that depend only on the market and the query string: served from `sim.cache` until the market changes.
CACHED_ANSWERS = frozenset(
    {"depth", "trades", "aggTrades", "klines", "ticker/price", "ticker/bookTicker", "ticker/24hr"}
)
CACHE_MAX_ENTRIES = 10_000
JSON_TYPE = "application/json;charset=UTF-8"
NOT_FOUND = "not_found"  # by_endpoint key of requests to unknown routes
_encode = json.JSONEncoder(separators=(",", ":")).encode
_API_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_UNKNOWN_ERROR = BinanceError(-1000, "An unknown error occurred while processing the request.", 500)
OVERLOADED = BinanceError(
    -1008, "Server is currently overloaded with other requests. Please try again in a few minutes.", 503)
# What waits in the order queue when `[binance.capacity] orders_per_s` gives order entry its own capacity.
ORDER_ENTRY = frozenset({"order", "order/test", "order DELETE"})


def add_routes(app: web.Application, sim: BinanceSim) -> None:
    for name, handler in HANDLERS.items():
        endpoint = ENDPOINTS[name]
        pipeline = _gateway(sim, _pipeline(sim, endpoint, handler), name)
        app.router.add_route(endpoint.method, sim.prefix + endpoint.path, pipeline)


def add_not_found(app: web.Application, sim: BinanceSim) -> None:
    """A JSON 404 for any other path under the exchange's prefix (register it last)."""
    app.router.add_route("*", sim.prefix + "/{tail:.*}", _gateway(sim, _not_found(sim), NOT_FOUND))


def _gateway(sim: BinanceSim, handler: Callable[[web.Request], Any], name: str) -> Callable[[web.Request], Any]:
    """`handler` behind the capacity queue, behind the injected faults (the load balancer in front)."""
    queued = sim.capacity.wrap(handler, name, partial(_overloaded, sim), order=name in ORDER_ENTRY)
    return sim.faults.wrap(queued, name)


def _overloaded(sim: BinanceSim, name: str) -> web.Response:
    """The answer to a request the full capacity queue refuses."""
    sim.stats.record(name, OVERLOADED.status)
    return web.Response(body=_error_body(OVERLOADED), status=OVERLOADED.status, headers={"Content-Type": JSON_TYPE})


def _pipeline(sim: BinanceSim, endpoint: Endpoint, handler: Handler) -> Callable[[web.Request], Any]:
    clock, stats, limiter = sim.clock, sim.stats, sim.limiter
    weight, raw, bans = limiter.weight, limiter.raw, limiter.bans
    weight_limit, raw_limit, weight_header = weight.limit, raw.limit, limiter.weight_header
    name, weight_for = endpoint.name, endpoint.weight_for
    free_when_ok = name in FREE_WHEN_SUCCESSFUL
    signed, reads_body, counts_orders = endpoint.signed, endpoint.method != "GET", endpoint.counts_as_order
    cache = sim.cache if name in CACHED_ANSWERS else None

    async def handle(request: web.Request) -> web.Response:
        now = clock()
        ip = request.remote or ""
        body = (await request.read()).decode("utf-8", "replace") if reads_body and request.body_exists else ""
        params: Mapping[str, str] = _merged_params(request, body) if reads_body else request.query
        banned_until = bans.banned_until(ip, now)
        if banned_until is not None:
            return _rejected(sim, name, limiter.banned(banned_until, now), weight_header, weight.used(ip, now))
        used = weight.add(ip, 0 if free_when_ok else weight_for(params), now)
        raw_used = raw.add(ip, 1, now)
        if used > weight_limit or raw_used > raw_limit:
            return _rejected(sim, name, limiter.over_limit(ip, used, raw_used, now), weight_header, used)
        account = None
        headers = {"Content-Type": JSON_TYPE}
        try:
            if signed:
                account = _authenticate(sim, request, params, body, now)
            if cache is None:
                content = _encode(handler(sim, params, now, account)).encode()
            else:
                key = (name, request.rel_url.raw_query_string)
                content = cache.get(key)
                if content is None:
                    if len(cache) >= CACHE_MAX_ENTRIES:
                        cache.clear()
                    content = cache[key] = _encode(handler(sim, params, now, account)).encode()
            status = 200
        except BinanceError as e:
            content, status = _error_body(e), e.status
            if e.retry_after_s is not None:
                headers["Retry-After"] = str(e.retry_after_s)
                stats.rate_limited += 1
            if free_when_ok:
                used = weight.add(ip, weight_for(params), now)
        except Exception:
            log.exception("binance %s failed", name)
            content, status = _error_body(_UNKNOWN_ERROR), _UNKNOWN_ERROR.status
        headers[weight_header] = str(used)
        if counts_orders and account is not None:
            headers.update(limiter.order_headers(account.api_key, now))
        stats.record(name, status)
        return web.Response(body=content, status=status, headers=headers)

    return handle


def _not_found(sim: BinanceSim) -> Callable[[web.Request], Any]:
    limiter = sim.limiter

    async def handle(request: web.Request) -> web.Response:
        now = sim.clock()
        ip = request.remote or ""
        banned_until = limiter.bans.banned_until(ip, now)
        if banned_until is not None:
            rejection = limiter.banned(banned_until, now)
            return _rejected(sim, NOT_FOUND, rejection, limiter.weight_header, limiter.weight.used(ip, now))
        limiter.raw.add(ip, 1, now)
        sim.stats.record(NOT_FOUND, 404)
        body = {"code": -1000, "msg": f"Unknown endpoint: {request.method} {request.path}"}
        headers = {"Content-Type": JSON_TYPE, limiter.weight_header: str(limiter.weight.used(ip, now))}
        return web.Response(body=_encode(body).encode(), status=404, headers=headers)

    return handle


def _error_body(error: BinanceError) -> bytes:
    return _encode({"code": error.code, "msg": error.msg}).encode()


def _rejected(sim: BinanceSim, name: str, rejection: Rejection, weight_header: str, used: int) -> web.Response:
    if rejection.status == 429:
        sim.stats.rate_limited += 1
    elif rejection.new_ban:
        sim.stats.bans += 1
    sim.stats.record(name, rejection.status)
    headers = {
        "Content-Type": JSON_TYPE,
        weight_header: str(used),
        "Retry-After": str(rejection.retry_after_s),
    }
    body = _encode({"code": rejection.code, "msg": rejection.msg}).encode()
    return web.Response(body=body, status=rejection.status, headers=headers)


def _merged_params(request: web.Request, body: str) -> dict[str, str]:
    """Form-body parameters overridden by query parameters ("query wins", as on Binance)."""
    merged = dict(parse_qsl(body, keep_blank_values=True))
    merged.update(request.query)
    return merged


def _authenticate(sim: BinanceSim, request: web.Request, params: Mapping[str, str], body: str, now: float) -> Account:
    """The account of a signed request, after checking its API key, signature and timestamp."""
    account = account_for_key(sim, request.headers.get("X-MBX-APIKEY", ""))
    timestamp = p.integer(params, "timestamp")
    if timestamp is None:
        raise mandatory("timestamp")
    recv_window = _recv_window(params)
    signature = params.get("signature")
    if not signature:
        raise mandatory("signature")
    payload = _unsigned(request.rel_url.raw_query_string) + _unsigned(body)
    if not hmac.compare_digest(hmac_signature(account.secret, payload), signature.lower()):
        raise BinanceError(-1022, "Signature for this request is not valid.")
    check_timestamp(timestamp, recv_window, now)
    return account


def account_for_key(sim: BinanceSim, key: str) -> Account:
    """The account of an API key; -2014 / -2015 (401) when the key is malformed or unknown."""
    if not _API_KEY_RE.match(key):
        raise BinanceError(-2014, "API-key format invalid.", 401)
    account = sim.trading.accounts.get(key)
    if account is None:
        raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
    return account


def signed_timestamp(params: Mapping[str, str], now: float) -> None:
    """Check a signed request's `timestamp` against its `recvWindow` and the server's clock."""
    timestamp = p.integer(params, "timestamp")
    if timestamp is None:
        raise mandatory("timestamp")
    check_timestamp(timestamp, _recv_window(params), now)


def check_timestamp(timestamp: int, recv_window: float, now: float) -> None:
    timestamp_ms = timestamp / 1000 if timestamp >= 10**14 else timestamp  # microseconds are accepted too
    server_ms = now * 1000
    if timestamp_ms >= server_ms + TIMESTAMP_AHEAD_TOLERANCE_MS:
        raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if server_ms - timestamp_ms > recv_window:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def _recv_window(params: Mapping[str, str]) -> float:
    value = params.get("recvWindow")
    if value is None:
        return RECV_WINDOW_DEFAULT_MS
    window = p.decimal(params, "recvWindow")
    if window is None:
        raise illegal("recvWindow", "^[0-9]{1,20}(\\.[0-9]{1,3})?$")
    if window > RECV_WINDOW_MAX_MS:
        raise BinanceError(-1131, f"recvWindow must be less than {RECV_WINDOW_MAX_MS}.")
    return float(window)


def _unsigned(text: str) -> str:
    """`text` (a query string or form body) without its `signature` parameter."""
    if "signature=" not in text:
        return text
    return "&".join(part for part in text.split("&") if not part.startswith("signature="))
