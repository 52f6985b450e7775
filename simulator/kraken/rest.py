"""Kraken Spot's REST API under /kraken/0: routes and the request pipeline.

Every answer is Kraken's envelope `{"error": [...], "result": ...}` with HTTP 200, errors included
(a path that is no Kraken method gets 404 `EGeneral:Unknown method`). Public methods (GET or POST)
are charged to the caller's public counter. Private methods (POST, form or JSON body) are checked
in Kraken's order: lockout, `API-Key`, `API-Sign` over the URI path (without the simulator's
prefix, as clients sign it) and SHA-256 of nonce + body, nonce, then the key's call counter.
Counters in `sim.stats`: `by_status`, `by_endpoint`, `by_error` (errors by text) and `rate_limited`.
In front of the pipeline: the capacity queue (`simulator.capacity`; when full, `EService:Busy` with HTTP
200), and in front of that the injected faults.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from exchanges.base import Endpoint
from exchanges.kraken import (
    ENDPOINTS,
    INTERNAL_ERROR,
    INVALID_KEY,
    INVALID_NONCE,
    INVALID_SIGNATURE,
    RATE_LIMIT_EXCEEDED,
    SERVICE_BUSY,
    TEMPORARY_LOCKOUT,
    TOO_MANY_REQUESTS,
    TRADING_ENDPOINTS,
    UNKNOWN_METHOD,
    api_sign,
)
from simulator.kraken import market_data, trading
from simulator.kraken.account import Account
from simulator.kraken.errors import KrakenError

if TYPE_CHECKING:
    from simulator.kraken.sim import KrakenSim

log = logging.getLogger(__name__)

PublicHandler = Callable[["KrakenSim", Mapping[str, str], float], Any]
PrivateHandler = Callable[["KrakenSim", Mapping[str, str], float, Account], Any]

PUBLIC_HANDLERS: dict[str, PublicHandler] = {
    "Time": market_data.server_time,
    "Assets": market_data.assets,
    "AssetPairs": market_data.asset_pairs,
    "Ticker": market_data.ticker,
    "Depth": market_data.depth,
    "Trades": market_data.trades,
    "OHLC": market_data.ohlc,
}
PRIVATE_HANDLERS: dict[str, PrivateHandler] = {
    "Balance": trading.balance,
    "BalanceEx": trading.balance_ex,
    "OpenOrders": trading.open_orders,
    "AddOrder": trading.add_order,
    "CancelOrder": trading.cancel_order,
    "GetWebSocketsToken": trading.get_ws_token,
}
# Answers that depend only on the query string and the market: kept until the market changes.
MARKET_ANSWERS = frozenset({"Ticker", "Depth", "Trades", "OHLC"})
# Answers that never change.
STATIC_ANSWERS = frozenset({"Assets", "AssetPairs"})
CACHE_MAX_ENTRIES = 10_000
JSON_TYPE = "application/json; charset=utf-8"
NOT_FOUND = "not_found"  # by_endpoint key of requests to unknown routes
MAX_NONCE = 2**64 - 1
# What waits in the order queue when `[kraken.capacity] orders_per_s` gives order entry its own capacity.
ORDER_ENTRY = TRADING_ENDPOINTS
_encode = json.JSONEncoder(separators=(",", ":")).encode


def add_routes(app: web.Application, sim: KrakenSim) -> None:
    prefix = sim.prefix
    for name, handler in PUBLIC_HANDLERS.items():
        endpoint = ENDPOINTS[name]
        pipeline = _gateway(sim, _public_pipeline(sim, endpoint, handler), name)
        app.router.add_route("GET", prefix + endpoint.path, pipeline)
        app.router.add_route("POST", prefix + endpoint.path, pipeline)  # Kraken takes public calls by POST too
    for name, private_handler in PRIVATE_HANDLERS.items():
        endpoint = ENDPOINTS[name]
        pipeline = _gateway(sim, _private_pipeline(sim, endpoint, private_handler), name)
        app.router.add_route("POST", prefix + endpoint.path, pipeline)


def add_not_found(app: web.Application, sim: KrakenSim) -> None:
    """`EGeneral:Unknown method` (404) for any other path under the exchange's prefix (register it last)."""
    app.router.add_route("*", sim.prefix + "/{tail:.*}", _gateway(sim, _not_found(sim), NOT_FOUND))


def _gateway(sim: KrakenSim, handler: Callable[[web.Request], Any], name: str) -> Callable[[web.Request], Any]:
    """`handler` behind the capacity queue, behind the injected faults (the load balancer in front)."""
    queued = sim.capacity.wrap(handler, name, partial(_overloaded, sim), order=name in ORDER_ENTRY)
    return sim.faults.wrap(queued, name)


def _overloaded(sim: KrakenSim, name: str) -> web.Response:
    """The answer to a request the full capacity queue refuses (HTTP 200, as Kraken's other errors)."""
    return _answer(sim, name, error_envelope(SERVICE_BUSY), error=SERVICE_BUSY)


def envelope(result: Any) -> bytes:
    return _encode({"error": [], "result": result}).encode()


def error_envelope(error: str) -> bytes:
    return _encode({"error": [error]}).encode()


def _answer(sim: KrakenSim, name: str, content: bytes, status: int = 200, error: str | None = None) -> web.Response:
    if error is not None:
        sim.stats.by_error[error] += 1
    sim.stats.record(name, status)
    return web.Response(body=content, status=status, content_type="application/json", charset="utf-8")


def _public_pipeline(sim: KrakenSim, endpoint: Endpoint, handler: PublicHandler) -> Callable[[web.Request], Any]:
    clock, limiter = sim.clock, sim.limiter
    name = endpoint.name
    cache = sim.cache if name in MARKET_ANSWERS else sim.static_cache if name in STATIC_ANSWERS else None

    async def handle(request: web.Request) -> web.Response:
        now = clock()
        params = await _params(request)
        if not limiter.public.try_add(limiter.public_key(request.remote or "", name, params.get("pair", "")), 1, now):
            sim.stats.rate_limited += 1
            return _answer(sim, name, error_envelope(TOO_MANY_REQUESTS), error=TOO_MANY_REQUESTS)
        try:
            if cache is None:
                content = envelope(handler(sim, params, now))
            else:
                key = (name, request.rel_url.raw_query_string, request.method)
                content = cache.get(key)
                if content is None:
                    if len(cache) >= CACHE_MAX_ENTRIES:
                        cache.clear()
                    content = cache[key] = envelope(handler(sim, params, now))
        except KrakenError as e:
            return _answer(sim, name, error_envelope(e.error), e.status, e.error)
        except Exception:
            log.exception("kraken %s failed", name)
            return _answer(sim, name, error_envelope(INTERNAL_ERROR), error=INTERNAL_ERROR)
        return _answer(sim, name, content)

    return handle


def _private_pipeline(sim: KrakenSim, endpoint: Endpoint, handler: PrivateHandler) -> Callable[[web.Request], Any]:
    clock, limiter = sim.clock, sim.limiter
    name, cost = endpoint.name, endpoint.weight_for({})
    charged_to_counter = name not in TRADING_ENDPOINTS
    uri_path = endpoint.path

    async def handle(request: web.Request) -> web.Response:
        now = clock()
        ip = request.remote or ""
        raw = (await request.read()).decode("utf-8", "replace") if request.body_exists else ""
        try:
            if limiter.locked(ip, now):
                raise KrakenError(TEMPORARY_LOCKOUT)
            params = _body_params(request, raw)
            account = _authenticate(sim, request, ip, uri_path, params, raw, now)
            if charged_to_counter and not limiter.calls.try_add(account.api_key, cost, now):
                sim.stats.rate_limited += 1
                raise KrakenError(RATE_LIMIT_EXCEEDED)
            content = envelope(handler(sim, params, now, account))
        except KrakenError as e:
            return _answer(sim, name, error_envelope(e.error), e.status, e.error)
        except Exception:
            log.exception("kraken %s failed", name)
            return _answer(sim, name, error_envelope(INTERNAL_ERROR), error=INTERNAL_ERROR)
        return _answer(sim, name, content)

    return handle


def _not_found(sim: KrakenSim) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        return _answer(sim, NOT_FOUND, error_envelope(UNKNOWN_METHOD), 404, UNKNOWN_METHOD)

    return handle


async def _params(request: web.Request) -> dict[str, str]:
    """Query parameters, and for a POST the form or JSON body's too (the query wins)."""
    params: dict[str, str] = {}
    if request.method == "POST" and request.body_exists:
        raw = (await request.read()).decode("utf-8", "replace")
        try:
            params = _body_params(request, raw)
        except KrakenError:
            params = {}
    params.update(request.query)
    return params


def _body_params(request: web.Request, raw: str) -> dict[str, str]:
    """A private call's parameters: a form-encoded body, or a JSON object (values as their text)."""
    if request.content_type == "application/json":
        try:
            decoded = json.loads(raw) if raw else {}
        except ValueError:
            raise KrakenError("EGeneral:Invalid arguments") from None
        if not isinstance(decoded, dict):
            raise KrakenError("EGeneral:Invalid arguments")
        return {str(k): _text(v) for k, v in decoded.items()}
    return dict(parse_qsl(raw, keep_blank_values=True))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _authenticate(
    sim: KrakenSim, request: web.Request, ip: str, uri_path: str, params: Mapping[str, str], raw: str, now: float
) -> Account:
    """The account of a private call, after checking its key, signature and nonce (in that order)."""
    key = request.headers.get("API-Key", "")
    account = sim.trading.accounts.get(key)
    if account is None:
        sim.limiter.auth_failed(ip, now)
        raise KrakenError(INVALID_KEY)
    nonce_text = params.get("nonce", "")
    signature = request.headers.get("API-Sign", "")
    try:
        expected = api_sign(uri_path, nonce_text, raw, account.secret)
        valid = bool(signature) and hmac.compare_digest(base64.b64decode(signature, validate=True),
                                                        base64.b64decode(expected))
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        sim.limiter.auth_failed(ip, now)
        raise KrakenError(INVALID_SIGNATURE)
    if not (nonce_text.isascii() and nonce_text.isdigit()) or not 0 < int(nonce_text) <= MAX_NONCE:
        raise KrakenError(INVALID_NONCE)
    if not sim.limiter.nonces.accept(account.api_key, int(nonce_text)):
        raise KrakenError(INVALID_NONCE)
    return account
