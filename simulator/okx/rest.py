"""OKX v5's REST API under /okx/api/v5: routes and the request pipeline.

Every answer is OKX's envelope `{"code", "msg", "data"}`: code "0" with HTTP 200, or an error code with the HTTP
status OKX's error-code table gives it (50011 with 429, authentication errors with 401, parameter errors with 400,
business errors with 200). Public endpoints are counted per client IP; private ones check, in this order, the
`OK-ACCESS-*` headers (key, passphrase, signature and timestamp present), the key, the timestamp (ISO 8601, within
`timestamp_tolerance_s` of the clock), the passphrase and the signature over timestamp + method + request path
(without the simulator's prefix, query string included) + body, then the endpoint's limit per user ID (and
instrument). Counters in `sim.stats`: `by_status`, `by_endpoint`, `by_error` (error answers by code) and
`rate_limited`. In front of the pipeline: the capacity queue (`simulator.capacity`; when full, 50013 with HTTP
429), and in front of that the injected faults.
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

from aiohttp import web

from exchanges.base import Endpoint
from exchanges.okx import (
    ENDPOINTS,
    INVALID_KEY,
    INVALID_SIGNATURE,
    INVALID_TIMESTAMP,
    KEY_EMPTY,
    PASSPHRASE_EMPTY,
    PASSPHRASE_WRONG,
    RATE_LIMITED_CODE,
    SIGN_EMPTY,
    SYSTEM_BUSY,
    SYSTEM_ERROR,
    TIMESTAMP_EMPTY,
    TIMESTAMP_EXPIRED,
    parse_timestamp_ms,
    signature,
)
from simulator.okx import market_data, trading
from simulator.okx.account import Account
from simulator.okx.errors import OkxError

if TYPE_CHECKING:
    from simulator.okx.sim import OkxSim

log = logging.getLogger(__name__)

PublicHandler = Callable[["OkxSim", Mapping[str, str], float], Any]
PrivateHandler = Callable[["OkxSim", Mapping[str, str], float, Account], Any]

PUBLIC_HANDLERS: dict[str, PublicHandler] = {
    "time": market_data.server_time,
    "instruments": market_data.instruments,
    "ticker": market_data.ticker,
    "tickers": market_data.tickers,
    "books": market_data.books,
    "trades": market_data.trades,
    "history-trades": market_data.history_trades,
    "candles": market_data.candles,
    "history-candles": market_data.history_candles,
}
PRIVATE_HANDLERS: dict[str, PrivateHandler] = {
    "order": trading.place_order,
    "batch-orders": trading.batch_orders,
    "cancel-order": trading.cancel_order,
    "cancel-batch-orders": trading.cancel_batch_orders,
    "order GET": trading.get_order,
    "orders-pending": trading.orders_pending,
    "balance": trading.balance,
    "currencies": lambda sim, params, now, account: market_data.currencies(sim, params, now),
}
# Answers that depend only on the query string and the market: kept until the market changes.
MARKET_ANSWERS = frozenset({"ticker", "tickers", "books", "trades", "history-trades", "candles", "history-candles"})
STATIC_ANSWERS = frozenset({"instruments"})
CACHE_MAX_ENTRIES = 10_000
NOT_FOUND = "not_found"  # by_endpoint key of requests to unknown routes
# What waits in the order queue when `[okx.capacity] orders_per_s` gives order entry its own capacity.
ORDER_ENTRY = frozenset({"order", "batch-orders", "cancel-order", "cancel-batch-orders"})
_encode = json.JSONEncoder(separators=(",", ":")).encode


def add_routes(app: web.Application, sim: OkxSim) -> None:
    prefix = sim.prefix
    for name, handler in PUBLIC_HANDLERS.items():
        endpoint = ENDPOINTS[name]
        app.router.add_route("GET", prefix + endpoint.path, _gateway(sim, _public(sim, endpoint, handler), name))
    for name, private_handler in PRIVATE_HANDLERS.items():
        endpoint = ENDPOINTS[name]
        app.router.add_route(endpoint.method, prefix + endpoint.path,
                             _gateway(sim, _private(sim, endpoint, private_handler), name))


def add_not_found(app: web.Application, sim: OkxSim) -> None:
    """HTTP 404 for any other path or method under the exchange's prefix (register it last)."""
    app.router.add_route("*", sim.prefix + "/{tail:.*}", _gateway(sim, _not_found(sim), NOT_FOUND))


def _gateway(sim: OkxSim, handler: Callable[[web.Request], Any], name: str) -> Callable[[web.Request], Any]:
    """`handler` behind the capacity queue, behind the injected faults (the load balancer in front)."""
    queued = sim.capacity.wrap(handler, name, partial(_overloaded, sim), order=name in ORDER_ENTRY)
    return sim.faults.wrap(queued, name)


def _overloaded(sim: OkxSim, name: str) -> web.Response:
    return _error(sim, name, OkxError(SYSTEM_BUSY))


def envelope(data: Any) -> bytes:
    return _encode({"code": "0", "msg": "", "data": data}).encode()


def _answer(sim: OkxSim, name: str, content: bytes, status: int = 200) -> web.Response:
    sim.stats.record(name, status)
    return web.Response(body=content, status=status, content_type="application/json")


def _error(sim: OkxSim, name: str, error: OkxError) -> web.Response:
    code = error.data[0]["sCode"] if error.data else error.code
    sim.stats.by_error[code] += 1
    if code == RATE_LIMITED_CODE:
        sim.stats.rate_limited += 1
    content = _encode({"code": error.code, "msg": error.msg, "data": error.data}).encode()
    return _answer(sim, name, content, error.status)


def _public(sim: OkxSim, endpoint: Endpoint, handler: PublicHandler) -> Callable[[web.Request], Any]:
    clock, limiter, name = sim.clock, sim.limiter, endpoint.name
    cache = sim.cache if name in MARKET_ANSWERS else sim.static_cache if name in STATIC_ANSWERS else None

    async def handle(request: web.Request) -> web.Response:
        now = clock()
        params = dict(request.query)
        key = limiter.key(name, request.remote or "", "", params.get("instType", ""))
        try:
            if not limiter.admit(name, key, now):
                raise OkxError(RATE_LIMITED_CODE)
            if cache is None:
                content = envelope(handler(sim, params, now))
            else:
                cache_key = (name, request.rel_url.raw_query_string)
                content = cache.get(cache_key)
                if content is None:
                    if len(cache) >= CACHE_MAX_ENTRIES:
                        cache.clear()
                    content = cache[cache_key] = envelope(handler(sim, params, now))
        except OkxError as e:
            return _error(sim, name, e)
        except Exception:
            log.exception("okx %s failed", name)
            return _error(sim, name, OkxError(SYSTEM_ERROR))
        return _answer(sim, name, content)

    return handle


def _private(sim: OkxSim, endpoint: Endpoint, handler: PrivateHandler) -> Callable[[web.Request], Any]:
    clock, limiter, name = sim.clock, sim.limiter, endpoint.name
    prefix_length = len(sim.prefix)

    async def handle(request: web.Request) -> web.Response:
        now = clock()
        raw = (await request.read()).decode("utf-8", "replace") if request.body_exists else ""
        try:
            account = _authenticate(sim, request, request.raw_path[prefix_length:], raw, now)
            params = dict(request.query) if request.method == "GET" else _body_params(raw)
            first = params[0] if isinstance(params, list) and params and isinstance(params[0], dict) else params
            key = limiter.key(name, request.remote or "", account.uid, str(first.get("instId", "")) if isinstance(
                first, dict) else "")
            if not limiter.admit(name, key, now, len(params) if isinstance(params, list) and params else 1):
                raise OkxError(RATE_LIMITED_CODE)
            content = envelope(handler(sim, params, now, account))
        except OkxError as e:
            return _error(sim, name, e)
        except Exception:
            log.exception("okx %s failed", name)
            return _error(sim, name, OkxError(SYSTEM_ERROR))
        return _answer(sim, name, content)

    return handle


def _not_found(sim: OkxSim) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        sim.stats.by_error["404"] += 1
        return _answer(sim, NOT_FOUND, _encode({"code": "404", "msg": "Not Found", "data": []}).encode(), 404)

    return handle


def _body_params(raw: str) -> Any:
    """A POST's JSON object (values as their text), or the array of objects of a batch endpoint."""
    if not raw:
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError:
        raise OkxError("50002", "Json data format error") from None
    if isinstance(decoded, list):
        return [_texts(entry) if isinstance(entry, dict) else entry for entry in decoded]
    if not isinstance(decoded, dict):
        raise OkxError("50002", "Json data format error")
    return _texts(decoded)


def _texts(decoded: dict[str, Any]) -> dict[str, str]:
    return {str(k): ("true" if v is True else "false" if v is False else str(v)) for k, v in decoded.items()}


def _authenticate(sim: OkxSim, request: web.Request, request_path: str, raw: str, now: float) -> Account:
    headers = request.headers
    key = headers.get("OK-ACCESS-KEY", "")
    passphrase = headers.get("OK-ACCESS-PASSPHRASE", "")
    sign = headers.get("OK-ACCESS-SIGN", "")
    timestamp = headers.get("OK-ACCESS-TIMESTAMP", "")
    for value, code in ((key, KEY_EMPTY), (passphrase, PASSPHRASE_EMPTY), (sign, SIGN_EMPTY),
                        (timestamp, TIMESTAMP_EMPTY)):
        if not value:
            raise OkxError(code)
    account = sim.trading.accounts.get(key)
    if account is None:
        raise OkxError(INVALID_KEY)
    try:
        sent_ms = parse_timestamp_ms(timestamp)
    except ValueError:
        raise OkxError(INVALID_TIMESTAMP) from None
    if abs(now * 1000 - sent_ms) > sim.config.timestamp_tolerance_s * 1000:
        raise OkxError(TIMESTAMP_EXPIRED)
    if not hmac.compare_digest(passphrase.encode(), account.passphrase.encode()):
        raise OkxError(PASSPHRASE_WRONG)
    expected = signature(account.secret, timestamp, request.method, request_path, raw)
    try:
        valid = hmac.compare_digest(base64.b64decode(sign, validate=True), base64.b64decode(expected))
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise OkxError(INVALID_SIGNATURE)
    return account
