"""Binance's WebSocket API at `/binance/ws-api/v3`: order entry and the user data stream on one connection.

Follows Binance's web-socket-api.md (see docs/simulator.md, Binance section). A request
`{"id", "method", "params"}` gets `{"id", "status", "result" | "error", "rateLimits"}` back. The order
methods run the REST endpoints' code (`simulator.binance.trading`) and are charged the same weights
through the same limiter (429 -1003, then 418 and a ban, as on REST); order placement counts against
the account's ORDERS windows, and `rateLimits` reports those counts as REST's X-MBX-ORDER-COUNT-* headers do.
Signed requests carry `apiKey`, `timestamp` and `signature` (HMAC-SHA256 of the other parameters sorted by
name); after `session.logon` they may omit them. `userDataStream.subscribe` (after logon) and
`userDataStream.subscribe.signature` push the account's `executionReport` and `outboundAccountPosition`
events on the same connection as `{"subscriptionId": N, "event": {...}}`.

Connection rules (`[binance.ws]`, the same values as the market streams'): connection attempts per IP per
window (HTTP 429 before the upgrade), a ping every `ping_interval_s` and a close (1008) when no pong echoes it
within `pong_timeout_s`, a close (1000) at `max_lifetime_s`; opening a connection weighs 2. A banned IP is
disconnected (its 418 answer, then a close 1008; its other connections within a housekeeping pass) and its
handshakes are refused with HTTP 418. Session rules (`[binance.ws_api]`): `active_subscriptions` user data
stream subscriptions at a time (-1191), one per account (-2035).

Signatures: HMAC-SHA256 (hex) for the account's HMAC key, Ed25519 (base64) for an Ed25519 API key of the account,
checked with the public key it registered (the demo account has one of each, `exchanges.binance`).
`session.logon` takes only Ed25519 keys (an HMAC key: 400 -4056), as Binance's; an HMAC key signs each request
instead. Simplifications: no capacity queue or injected HTTP faults in front of it (the WebSocket faults of
`WsServer` apply).
Counters (apart from the REST figures):
`sim.stats.ws_api_requests` by method and status, `sim.stats.ws_api_events` by event and order state.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from exchanges.binance import (
    ENDPOINTS,
    FREE_WHEN_SUCCESSFUL,
    WS_API_CONNECT_WEIGHT,
    WS_API_METHODS,
    WS_API_PATH,
    WS_API_SESSION_WEIGHT,
    ed25519_verify,
    hmac_signature,
    ws_api_signature_payload,
    ws_api_value,
)
from simulator import ws_server
from simulator.binance import trading
from simulator.binance.account import Account, OrderEvent
from simulator.binance.errors import BinanceError, mandatory
from simulator.binance.rest import account_for_key, signed_timestamp
from simulator.binance.ws import _is_valid_request_id
from simulator.limits import FixedWindowCounter
from simulator.units import quote_units, units_str
from simulator.ws_fanout import CLOSE_HANDSHAKE_TIMEOUT_S, OPCODE_PING, OPCODE_PONG, frame
from simulator.ws_server import WsServer, dumps

if TYPE_CHECKING:
    from simulator.binance.limiter import Rejection
    from simulator.binance.sim import BinanceSim

Handler = Callable[["BinanceSim", Mapping[str, str], float, "Account | None"], Any]
HANDLERS: dict[str, Handler] = {
    "order.place": trading.place_order,
    "order.test": trading.test_order,
    "order.cancel": trading.cancel_order,
    "order.status": trading.query_order,
    "openOrders.status": trading.open_orders,
}
SESSION_METHODS = ("session.logon", "userDataStream.subscribe", "userDataStream.subscribe.signature")
_MALFORMED = BinanceError(-1000, "Malformed request.")
_UNKNOWN_METHOD = BinanceError(-1020, "This operation is not supported.")
_SUBSCRIPTION_ACTIVE = BinanceError(-2035, "User Data Stream subscription already active.")
_NOT_LOGGED_IN = BinanceError(-1002, "You are not authorized to execute this request.", 401)


class ApiConnection(ws_server.Connection):
    """One WS API session: its logged-in account and its user data stream subscriptions."""

    __slots__ = ("account", "next_ping_at", "next_subscription_id", "ping_payload", "ping_unanswered_since",
                 "return_rate_limits", "subscriptions")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport, ip: str, now: float) -> None:
        super().__init__(ws, transport, ip, now)
        self.account: Account | None = None
        self.next_ping_at = now
        self.ping_payload = b""
        self.ping_unanswered_since: float | None = None
        self.return_rate_limits = True
        self.next_subscription_id = 0
        self.subscriptions: dict[int, str] = {}  # subscription id -> API key


class WsApiServer(WsServer[ApiConnection]):
    """All WS API sessions of the simulated Binance."""

    sim: BinanceSim
    counted_types = frozenset((WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.PING, WSMsgType.PONG))

    def __init__(self, sim: BinanceSim) -> None:
        super().__init__(sim)
        self.subscribers: dict[str, dict[tuple[ApiConnection, int], None]] = {}  # API key -> (conn, id)
        limits = sim.config.ws
        self.attempts = FixedWindowCounter(limits.connection_attempts, limits.connection_window_s)

    def routes(self) -> list[tuple[str, ws_server.Handler]]:
        return [(self.sim.prefix + WS_API_PATH, self.handle)]

    def connect(self, ws: web.WebSocketResponse, transport: asyncio.Transport, request: web.Request,
                opening: Any) -> ApiConnection:
        conn = ApiConnection(ws, transport, request.remote or "", asyncio.get_running_loop().time())
        conn.return_rate_limits = request.query.get("returnRateLimits", "").lower() != "false"
        return conn

    def admit(self, request: web.Request, opening: Any) -> web.StreamResponse | None:
        limits, now = self.sim.config.ws, self.sim.clock()
        banned_until = self.sim.limiter.bans.banned_until(request.remote or "", now)
        if banned_until is not None:  # a banned IP's handshake is a request like any other: 418
            self.stats.ws["api_banned_attempts"] += 1
            rejection = self.sim.limiter.banned(banned_until, now)
            return web.json_response({"code": rejection.code, "msg": rejection.msg}, status=418,
                                     headers={"Retry-After": str(rejection.retry_after_s)})
        if self.attempts.add(request.remote or "", 1, now) > limits.connection_attempts:
            self.stats.ws["api_rejected_attempts"] += 1
            return web.json_response(
                {"code": -1003, "msg": f"Too many connection attempts; current limit is "
                                       f"{limits.connection_attempts} per {limits.connection_window_s} s."},
                status=429, headers={"Retry-After": str(math.ceil(self.attempts.reset_in(now)))})
        return None

    def websocket_response(self) -> web.WebSocketResponse:
        return web.WebSocketResponse(autoping=False, compress=False, max_msg_size=self.max_message_bytes,
                                     timeout=CLOSE_HANDSHAKE_TIMEOUT_S)

    def on_open(self, conn: ApiConnection, opening: Any) -> None:
        self.sim.limiter.weight.add(conn.ip, WS_API_CONNECT_WEIGHT, self.sim.clock())  # connecting costs weight
        conn.next_ping_at = conn.opened_at + self.sim.config.ws.ping_interval_s

    def on_control_frame(self, conn: ApiConnection, msg: WSMessage) -> None:
        if msg.type is WSMsgType.PING:
            self.fanout.send(conn, frame(OPCODE_PONG, msg.data))
        elif msg.type is WSMsgType.PONG and msg.data == conn.ping_payload:
            conn.ping_unanswered_since = None

    def housekeeping_period(self) -> float:
        limits = self.sim.config.ws
        return max(0.01, min(1.0, limits.ping_interval_s / 4, limits.pong_timeout_s / 4))

    def on_housekeep(self, conn: ApiConnection, now: float) -> None:
        """The connection rules of the market streams: lifetime, a ping every interval, a pong in time."""
        limits = self.sim.config.ws
        if self.sim.limiter.bans.banned_until(conn.ip, self.sim.clock()) is not None:
            self._disconnect_banned(conn)  # banned by its REST requests, or by another connection's
        elif now - conn.opened_at >= limits.max_lifetime_s:
            self.stats.ws["lifetime_closes"] += 1
            self.close(conn, WSCloseCode.OK, "Connection lifetime exceeded")
        elif conn.ping_unanswered_since is not None and now - conn.ping_unanswered_since >= limits.pong_timeout_s:
            self.stats.ws["pong_timeouts"] += 1
            self.close(conn, WSCloseCode.POLICY_VIOLATION, "Pong timeout")
        elif now >= conn.next_ping_at:
            conn.next_ping_at = now + limits.ping_interval_s
            conn.ping_payload = str(int(self.sim.clock() * 1000)).encode()
            if conn.ping_unanswered_since is None:
                conn.ping_unanswered_since = now
            self.fanout.send(conn, frame(OPCODE_PING, conn.ping_payload))

    def on_forget(self, conn: ApiConnection) -> None:
        for sub_id, key in conn.subscriptions.items():
            subs = self.subscribers.get(key)
            if subs is not None:
                subs.pop((conn, sub_id), None)
                if not subs:
                    del self.subscribers[key]
        conn.subscriptions.clear()
        if not self.subscribers and self.on_order_events in self.sim.trading.listeners:
            self.sim.trading.listeners.remove(self.on_order_events)  # no order events are built for nobody

    # --- requests ---------------------------------------------------------------------------------

    def on_text(self, conn: ApiConnection, text: str) -> None:
        try:
            request = json.loads(text)
        except ValueError:
            request = None
        if not isinstance(request, dict) or not _is_valid_request_id(request.get("id")):
            self._send(conn, {"id": None, "status": 400, "error": _error(_MALFORMED)})
            return
        request_id, method, raw = request.get("id"), request.get("method"), request.get("params", {})
        if not isinstance(method, str) or not isinstance(raw, dict):
            self._send(conn, {"id": request_id, "status": 400, "error": _error(_MALFORMED)})
            return
        self._request(conn, request_id, method, raw)

    def _request(self, conn: ApiConnection, request_id: object, method: str, raw: dict[str, Any]) -> None:
        sim, limiter = self.sim, self.sim.limiter
        now = sim.clock()
        ip = conn.ip
        params = {k: ws_api_value(v) for k, v in raw.items()}
        endpoint = ENDPOINTS.get(WS_API_METHODS.get(method, ""))
        stats_name = method if endpoint is not None or method in SESSION_METHODS else "unknown"
        banned_until = limiter.bans.banned_until(ip, now)
        if banned_until is not None:
            self._rejected(conn, request_id, stats_name, limiter.banned(banned_until, now),
                           limiter.weight.used(ip, now))
            return
        free_when_ok = endpoint is not None and endpoint.name in FREE_WHEN_SUCCESSFUL
        weight = endpoint.weight_for(params) if endpoint is not None else WS_API_SESSION_WEIGHT
        used = limiter.weight.add(ip, 0 if free_when_ok else weight, now)
        raw_used = limiter.raw.add(ip, 1, now)
        if used > limiter.weight.limit or raw_used > limiter.raw.limit:
            self._rejected(conn, request_id, stats_name, limiter.over_limit(ip, used, raw_used, now), used)
            return
        account: Account | None = None
        answer: dict[str, Any] = {"id": request_id}
        try:
            if endpoint is not None:
                account = self._signed(conn, raw, params, now) if endpoint.signed else None
                result = HANDLERS[method](sim, params, now, account)
            elif method in SESSION_METHODS:
                result = self._session(conn, method, raw, params, now)
            else:
                raise _UNKNOWN_METHOD
            answer["status"] = 200
            answer["result"] = result
        except BinanceError as e:
            answer["status"] = e.status
            answer["error"] = _error(e, e.retry_after_s, now)
            if e.retry_after_s is not None:
                sim.stats.rate_limited += 1
            if free_when_ok:
                used = limiter.weight.add(ip, weight, now)
        sim.stats.record_ws_api(stats_name, answer["status"])
        show = params.get("returnRateLimits")
        if (show != "false") if show is not None else conn.return_rate_limits:
            orders_of = account.api_key if account is not None and endpoint is not None and endpoint.counts_as_order \
                else None
            answer["rateLimits"] = limiter.ws_rate_limits(used, orders_of, now)
        self._send(conn, answer)

    def _signed(self, conn: ApiConnection, raw: Mapping[str, Any], params: Mapping[str, str], now: float) -> Account:
        """The account of a signed request: the session's after logon, else the one its signature proves."""
        if conn.account is not None and "signature" not in params:
            return conn.account
        api_key = params.get("apiKey", "")
        account = account_for_key(self.sim, api_key)
        signature = params.get("signature")
        if not signature:
            raise mandatory("signature")
        payload = ws_api_signature_payload(raw)
        public_key = account.ed25519_keys.get(api_key)
        valid = (ed25519_verify(public_key, payload, signature) if public_key is not None
                 else hmac.compare_digest(hmac_signature(account.secret, payload), signature.lower()))
        if not valid:
            raise BinanceError(-1022, "Signature for this request is not valid.")
        signed_timestamp(params, now)
        return account

    def _session(self, conn: ApiConnection, method: str, raw: Mapping[str, Any], params: Mapping[str, str],
                 now: float) -> dict[str, Any]:
        now_ms = int(now * 1000)
        if method == "session.logon":
            if "signature" not in params:
                raise mandatory("signature")
            account = self._signed(conn, raw, params, now)
            if params["apiKey"] not in account.ed25519_keys:  # "Only Ed25519 keys are supported for this feature."
                raise BinanceError(-4056, "HMAC_SHA256 API key is not supported.")
            conn.account = account
            self.stats.ws["api_ed25519_logons"] += 1
            if "returnRateLimits" in params:
                conn.return_rate_limits = params["returnRateLimits"] != "false"
            return {"apiKey": params["apiKey"], "authorizedSince": now_ms,
                    "connectedSince": int((now - (asyncio.get_running_loop().time() - conn.opened_at)) * 1000),
                    "returnRateLimits": conn.return_rate_limits, "serverTime": now_ms,
                    "userDataStream": bool(conn.subscriptions)}
        if method == "userDataStream.subscribe":
            if conn.account is None:
                raise _NOT_LOGGED_IN
            account = conn.account
        else:
            if "signature" not in params:
                raise mandatory("signature")
            account = self._signed(conn, raw, params, now)
        limits = self.sim.config.ws_api
        if len(conn.subscriptions) >= limits.active_subscriptions:
            raise BinanceError(-1191, f"Too many subscriptions. Connection may create up to "
                                      f"'{limits.active_subscriptions}' subscriptions at a time.")
        if account.api_key in conn.subscriptions.values():
            raise _SUBSCRIPTION_ACTIVE
        sub_id = conn.next_subscription_id
        conn.next_subscription_id += 1
        conn.subscriptions[sub_id] = account.api_key
        if self.on_order_events not in self.sim.trading.listeners:
            self.sim.trading.listeners.append(self.on_order_events)
        self.subscribers.setdefault(account.api_key, {})[(conn, sub_id)] = None
        return {"subscriptionId": sub_id}

    def _rejected(self, conn: ApiConnection, request_id: object, stats_name: str, rejection: Rejection,
                  used: int) -> None:
        if rejection.status == 429:
            self.sim.stats.rate_limited += 1
        elif rejection.new_ban:
            self.sim.stats.bans += 1
        self.sim.stats.record_ws_api(stats_name, rejection.status)
        now = self.sim.clock()
        error = BinanceError(rejection.code, rejection.msg, rejection.status)
        self._send(conn, {"id": request_id, "status": rejection.status,
                          "error": _error(error, rejection.retry_after_s, now),
                          "rateLimits": self.sim.limiter.ws_rate_limits(used, None, now)})
        if rejection.status == 418:
            self._disconnect_banned(conn)

    def _disconnect_banned(self, conn: ApiConnection) -> None:
        """Binance disconnects a banned IP: the 418 answer goes out first, then a close (1008); the IP's other
        connections follow at the next housekeeping pass."""
        if not conn.closing:
            self.stats.ws["api_ban_closes"] += 1
            self.close(conn, WSCloseCode.POLICY_VIOLATION, "IP banned")

    def _send(self, conn: ApiConnection, answer: dict[str, Any]) -> None:
        if not conn.closing:
            self.send_text(conn, dumps(answer))

    # --- the user data stream -----------------------------------------------------------------------

    def on_order_events(self, account: Account, events: list[OrderEvent]) -> None:
        """Push the account's executionReports, then its changed balances, to every subscription of it."""
        subs = self.subscribers.get(account.api_key)
        if not subs or not events:
            return
        now_ms = int(self.sim.clock() * 1000)
        reports = [execution_report(e, now_ms) for e in events]
        spec = events[0].order.spec
        position = {"e": "outboundAccountPosition", "E": now_ms, "u": account.update_ms,
                    "B": [{"a": a, "f": units_str(account.balance(a).free), "l": units_str(account.balance(a).locked)}
                          for a in (spec.base, spec.quote)]}
        pushed = False
        for conn, sub_id in list(subs):
            if conn.closing:
                continue
            for report in (*reports, position):
                self.send_text(conn, dumps({"subscriptionId": sub_id, "event": report}))
            pushed = True
        if pushed:  # counted once per event, however many sessions of the account it went to
            counts = self.sim.stats.ws_api_events
            for report in reports:
                counts[f"executionReport {report['X']}"] += 1
            counts["outboundAccountPosition"] += 1


def execution_report(event: OrderEvent, now_ms: int) -> dict[str, Any]:
    """The user data stream's executionReport for one order change (user-data-stream.md)."""
    order, fill, spec = event.order, event.fill, event.order.spec
    last_qty = fill.qty if fill is not None else 0
    last_price = fill.price if fill is not None else 0
    last_quote = quote_units(spec, fill.price, fill.qty) if fill is not None else 0
    return {
        "e": "executionReport", "E": now_ms, "s": order.symbol, "c": order.client_order_id, "S": order.side,
        "o": order.type, "f": order.time_in_force, "q": spec.qty_str(order.orig_qty), "p": spec.price_str(order.price),
        "P": "0.00000000", "F": "0.00000000", "g": -1, "C": "", "x": event.exec_type, "X": event.status, "r": "NONE",
        "i": order.order_id, "l": spec.qty_str(last_qty), "z": spec.qty_str(event.executed_qty),
        "L": spec.price_str(last_price), "n": "0", "N": None, "T": event.time_ms,
        "t": fill.trade_id if fill is not None else -1, "v": 0, "I": 0, "w": event.status == "NEW" and
        order.type != "MARKET", "m": event.maker, "M": False, "O": order.time_ms, "Z": units_str(event.cumm_quote),
        "Y": units_str(last_quote), "Q": units_str(order.orig_quote_qty), "W": order.time_ms, "V": trading.STP_MODE,
    }


def _error(error: BinanceError, retry_after_s: int | None = None, now: float | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "msg": error.msg}
    if retry_after_s is not None and now is not None:
        body["data"] = {"serverTime": int(now * 1000), "retryAfter": int((now + retry_after_s) * 1000)}
    return body


SERVER_KEY = web.AppKey("binance_ws_api_server", WsApiServer)


def add_routes(app: web.Application, sim: BinanceSim) -> None:
    WsApiServer(sim).mount(app, SERVER_KEY)
