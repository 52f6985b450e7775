"""Bybit v5's REST API under /bybit/v5: routes and the request pipeline.

Every answer is Bybit's envelope `{"retCode", "retMsg", "result", "retExtInfo", "time"}` with HTTP 200, errors
included; a path that is no v5 endpoint here gets HTTP 404. Every request first counts on its IP's window
(`sim.limiter`): the request over it, and every request while the IP is banned, is answered HTTP 403 with the text
`access too frequent`. Signed requests are then checked in this order: `X-BAPI-API-KEY` (10003), the timestamp
within `server_time - recv_window <= timestamp < server_time + 1000` (10002), `X-BAPI-SIGN` over timestamp + key +
recv window + the query string (GET) or the raw body (POST) (10004), then the UID's limit for the endpoint (10006,
with the `X-Bapi-Limit*` headers on every signed answer).
Counters in `sim.stats`: `by_status`, `by_endpoint`, `by_error` (by retCode, and `403` for the IP's refusals),
`rate_limited` (10006 answers) and `bans` (bans imposed). In front of the pipeline: the capacity queue
(`simulator.capacity`; when full, retCode 10016 with HTTP 200), and in front of that the injected faults.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from exchanges.bybit import (
    ENDPOINTS,
    INVALID_API_KEY,
    IP_BAN_TEXT,
    SERVER_ERROR,
    SIGN_ERROR,
    TIMESTAMP_AHEAD_MS,
    TIMESTAMP_ERROR,
    TOO_MANY_VISITS,
    signature,
)
from simulator.bybit import market_data, trading
from simulator.bybit.account import Account
from simulator.bybit.errors import BybitError, params_error

if TYPE_CHECKING:
    from simulator.bybit.sim import BybitSim

log = logging.getLogger(__name__)

PublicHandler = Callable[["BybitSim", Mapping[str, str], float], Any]
PrivateHandler = Callable[["BybitSim", Mapping[str, str], float, Account], Any]

PUBLIC_HANDLERS: dict[str, PublicHandler] = {
    "market/time": market_data.server_time,
    "market/instruments-info": market_data.instruments_info,
    "market/tickers": market_data.tickers,
    "market/orderbook": market_data.orderbook,
    "market/recent-trade": market_data.recent_trade,
    "market/kline": market_data.kline,
}
PRIVATE_HANDLERS: dict[str, PrivateHandler] = {
    "order/create": trading.create_order,
    "order/cancel": trading.cancel_order,
    "order/realtime": trading.realtime,
    "order/history": trading.history,
    "account/wallet-balance": trading.wallet_balance,
    "account/info": trading.account_info,
    "user/query-api": trading.query_api,
    "asset/coin/query-info": trading.coin_info,
}
MARKET_ANSWERS = frozenset({"market/tickers", "market/orderbook", "market/recent-trade", "market/kline"})
STATIC_ANSWERS = frozenset({"market/instruments-info"})
ORDER_ENTRY = frozenset({"order/create", "order/cancel"})
CACHE_MAX_ENTRIES = 10_000
NOT_FOUND = "not_found"  # by_endpoint key of requests to unknown routes
BANNED_ERROR = "403"  # by_error key of the IP limit's refusals
_encode = json.JSONEncoder(separators=(",", ":")).encode


def add_routes(app: web.Application, sim: BybitSim) -> None:
    prefix = sim.prefix
    for name, handler in PUBLIC_HANDLERS.items():
        endpoint = ENDPOINTS[name]
        app.router.add_route(endpoint.method, prefix + endpoint.path,
                             _gateway(sim, _public_pipeline(sim, name, handler), name))
    for name, private_handler in PRIVATE_HANDLERS.items():
        endpoint = ENDPOINTS[name]
        app.router.add_route(endpoint.method, prefix + endpoint.path,
                             _gateway(sim, _private_pipeline(sim, name, private_handler), name))


def add_not_found(app: web.Application, sim: BybitSim) -> None:
    """HTTP 404 for any other path under the exchange's prefix (register it last)."""
    app.router.add_route("*", sim.prefix + "/{tail:.*}", _gateway(sim, _not_found(sim), NOT_FOUND))


def _gateway(sim: BybitSim, handler: Callable[[web.Request], Any], name: str) -> Callable[[web.Request], Any]:
    """`handler` behind the capacity queue, behind the injected faults (the load balancer in front)."""
    queued = sim.capacity.wrap(handler, name, partial(_overloaded, sim), order=name in ORDER_ENTRY)
    return sim.faults.wrap(queued, name)


def _overloaded(sim: BybitSim, name: str) -> web.Response:
    """The answer to a request the full capacity queue refuses: retCode 10016 (server error) with HTTP 200."""
    return _error(sim, name, BybitError(SERVER_ERROR))


def envelope(result: Any, now: float, code: int = 0, message: str = "OK") -> bytes:
    return _encode({"retCode": code, "retMsg": message, "result": result, "retExtInfo": {},
                    "time": int(now * 1000)}).encode()


def _answer(sim: BybitSim, name: str, content: bytes, headers: Mapping[str, str] | None = None) -> web.Response:
    sim.stats.record(name, 200)
    return web.Response(body=content, status=200, content_type="application/json", headers=headers)


def _error(sim: BybitSim, name: str, error: BybitError, headers: Mapping[str, str] | None = None) -> web.Response:
    sim.stats.by_error[str(error.code)] += 1
    sim.stats.record(name, error.status)
    return web.Response(body=envelope({}, sim.clock(), error.code, error.message), status=error.status,
                        content_type="application/json", headers=headers)


def _ip_refused(sim: BybitSim, request: web.Request, name: str, now: float) -> web.Response | None:
    """HTTP 403 when the caller's IP is banned or this request goes over its window (which bans it)."""
    ip = request.remote or ""
    limiter = sim.limiter
    was_banned = limiter.banned(ip, now)
    if limiter.admit_ip(ip, now):
        return None
    if not was_banned:
        sim.stats.bans += 1
    sim.stats.by_error[BANNED_ERROR] += 1
    sim.stats.record(name, 403)
    return web.Response(status=403, text=IP_BAN_TEXT)


def _public_pipeline(sim: BybitSim, name: str, handler: PublicHandler) -> Callable[[web.Request], Any]:
    clock = sim.clock
    cache = sim.cache if name in MARKET_ANSWERS else sim.static_cache if name in STATIC_ANSWERS else None

    async def handle(request: web.Request) -> web.Response:
        now = clock()
        refused = _ip_refused(sim, request, name, now)
        if refused is not None:
            return refused
        params = dict(request.query)
        try:
            if cache is None:
                content = envelope(handler(sim, params, now), now)
            else:
                key = (name, request.rel_url.raw_query_string)
                result = cache.get(key)
                if result is None:
                    if len(cache) >= CACHE_MAX_ENTRIES:
                        cache.clear()
                    result = cache[key] = _encode(handler(sim, params, now))
                content = b'{"retCode":0,"retMsg":"OK","result":%s,"retExtInfo":{},"time":%d}' % (
                    result.encode(), int(now * 1000))
        except BybitError as e:
            return _error(sim, name, e)
        except Exception:
            log.exception("bybit %s failed", name)
            return _error(sim, name, BybitError(SERVER_ERROR))
        return _answer(sim, name, content)

    return handle


def _private_pipeline(sim: BybitSim, name: str, handler: PrivateHandler) -> Callable[[web.Request], Any]:
    clock, limiter = sim.clock, sim.limiter

    async def handle(request: web.Request) -> web.Response:
        now = clock()
        refused = _ip_refused(sim, request, name, now)
        if refused is not None:
            return refused
        headers: dict[str, str] = {}
        try:
            if request.method == "GET":
                payload = request.rel_url.raw_query_string
                params = dict(request.query)
            else:
                payload = (await request.read()).decode("utf-8", "replace") if request.body_exists else ""
                params = _json_params(payload)
            account = _authenticate(sim, request, payload, now)
            allowed, headers = limiter.admit_uid(account.uid, name, now)
            if not allowed:
                sim.stats.rate_limited += 1
                raise BybitError(TOO_MANY_VISITS)
            content = envelope(handler(sim, params, now, account), now)
        except BybitError as e:
            return _error(sim, name, e, headers)
        except Exception:
            log.exception("bybit %s failed", name)
            return _error(sim, name, BybitError(SERVER_ERROR), headers)
        return _answer(sim, name, content, headers)

    return handle


def _not_found(sim: BybitSim) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        refused = _ip_refused(sim, request, NOT_FOUND, sim.clock())
        if refused is not None:
            return refused
        sim.stats.record(NOT_FOUND, 404)
        return web.Response(status=404, text="404 page not found")

    return handle


def _json_params(raw: str) -> dict[str, str]:
    """A POST's JSON body as parameters (values as their text)."""
    try:
        decoded = json.loads(raw) if raw else {}
    except ValueError:
        raise params_error("request body is not valid JSON") from None
    if not isinstance(decoded, dict):
        raise params_error("request body is not a JSON object")
    return {str(k): _text(v) for k, v in decoded.items() if v is not None}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _authenticate(sim: BybitSim, request: web.Request, payload: str, now: float) -> Account:
    """The account of a signed request, after checking its key, timestamp and signature (in that order)."""
    key = request.headers.get("X-BAPI-API-KEY", "")
    account = sim.trading.accounts.get(key)
    if account is None:
        raise BybitError(INVALID_API_KEY)
    timestamp = request.headers.get("X-BAPI-TIMESTAMP", "")
    recv_window = request.headers.get("X-BAPI-RECV-WINDOW", "") or str(sim.config.recv_window_default_ms)
    if not (timestamp.isdigit() and recv_window.isdigit()):
        raise params_error("timestamp or recv_window invalid")
    now_ms = now * 1000
    if not now_ms - int(recv_window) <= int(timestamp) < now_ms + TIMESTAMP_AHEAD_MS:
        raise BybitError(TIMESTAMP_ERROR, f"invalid request, please check your server timestamp or recv_window "
                                          f"param. req_timestamp[{timestamp}],server_timestamp[{int(now_ms)}],"
                                          f"recv_window[{recv_window}]")
    expected = signature(account.secret, timestamp, key, recv_window, payload)
    if not hmac.compare_digest(request.headers.get("X-BAPI-SIGN", "").lower(), expected):
        raise BybitError(SIGN_ERROR, "error sign! origin_string[...]")
    return account
