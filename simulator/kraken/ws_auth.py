"""Kraken's authenticated WebSocket v2 at `/kraken/ws-auth/v2` (Kraken's own is `wss://ws-auth.kraken.com/v2`):
order entry and the account's `executions` channel on one connection, with a token from GetWebSocketsToken.

Follows KR /exchange/api-reference/spot-websocket-v2 (add_order, cancel_order, cancel_after, executions) and
/api-reference/trading/get-websockets-token (see docs/simulator.md, Kraken section):

- `POST /0/private/GetWebSocketsToken` (signed, on the REST call counter) answers `{"token", "expires": 900}`;
  a token must be used within `[kraken.ws] token_ttl_s` of its creation; a connection that used it keeps working.
- Requests `{"method", "params": {..., "token"}, "req_id"}` get `{"method", "req_id", "success", "result" |
  "error", "time_in", "time_out"}`:
  `add_order` (order_type limit|market, side, order_qty, symbol, limit_price, time_in_force gtc|ioc, cl_ord_id,
  order_userref, validate) -> `{"order_id", "cl_ord_id"?, "order_userref"?}`; `cancel_order` (order_id and/or
  cl_ord_id lists) -> one answer per order; `cancel_all_orders_after` (timeout s, 0 disables) ->
  `{"currentTime", "triggerTime"}`: when the timer fires, every open order of the key is cancelled and the timer
  is off until the next request; `subscribe`/`unsubscribe` `executions`; `ping` -> `pong`.
- Orders run the REST AddOrder/CancelOrder code (`simulator.kraken.trading`): the same checks, matching and the
  same per-pair trading counter (`EOrder:Rate limit exceeded` is shared by REST and WebSocket orders).
- `executions`: an ack, then a snapshot of the open orders (`snap_orders`, default true), then one update message
  per event of the account's orders: exec_type pending_new, new, trade (with last_qty/last_price), filled,
  canceled; each with order_status, cum_qty, cum_cost, avg_price, cl_ord_id/order_userref, timestamp. The answer
  to an order goes out before the events it caused.

Limits from `[kraken.ws]` as on the public endpoint: incoming messages per second (-> `Exceeded msg rate`, close
1008), connection attempts per IP per window (-> HTTP 429). Simplifications: the connection is not closed for
lack of subscriptions; no capacity queue or injected HTTP faults in front of it (the WebSocket faults apply).
Counters: `sim.stats.ws_api_requests` by method and outcome ("ok" or the error), `sim.stats.ws_api_events` by
exec_type ("executions new", ...: once per event pushed, however many sessions of the account it went to; each
copy is one of `sim.stats.ws` messages_sent), beside `sim.stats.ws`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web

from exchanges.kraken import (
    EXECUTIONS,
    INVALID_ARGUMENTS,
    INVALID_SESSION,
    WS_AUTH_PATH,
    WS_CANCEL_AFTER_METHOD,
    WS_ORDER_METHOD,
)
from simulator import ws_server
from simulator.kraken import trading
from simulator.kraken.account import Account, ExecEvent
from simulator.kraken.errors import KrakenError
from simulator.kraken.ws import RequestError, refuse_over_attempts, rfc3339
from simulator.limits import FixedWindowCounter
from simulator.market import BUY
from simulator.units import UNITS
from simulator.ws_server import WsServer, dumps

if TYPE_CHECKING:
    from simulator.kraken.sim import KrakenSim


class AuthConnection(ws_server.Connection):
    """One authenticated session: the tokens it used (a used token stays valid for it) and its subscription."""

    __slots__ = ("executions", "tokens")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport, ip: str, now: float) -> None:
        super().__init__(ws, transport, ip, now)
        self.tokens: dict[str, str] = {}  # token -> API key
        self.executions: str | None = None  # the API key whose executions it receives


class AuthServer(WsServer[AuthConnection]):
    """All ws-auth sessions of the simulated Kraken."""

    sim: KrakenSim

    def __init__(self, sim: KrakenSim) -> None:
        super().__init__(sim)
        limits = sim.config.ws
        self.attempts = FixedWindowCounter(limits.connection_attempts, limits.connection_window_s)
        self.subscribers: dict[str, dict[AuthConnection, None]] = {}  # API key -> connections
        self._switches: dict[str, tuple[float, asyncio.TimerHandle]] = {}  # API key -> (trigger time, timer)
        self._held: list[tuple[Account, list[ExecEvent]]] | None = None  # events while a request is answered
        self._handlers: dict[str, Callable[[AuthConnection, dict[str, Any], str], list[dict[str, Any]]]] = {
            WS_ORDER_METHOD: self._add_order, "cancel_order": self._cancel_order,
            WS_CANCEL_AFTER_METHOD: self._cancel_after, "subscribe": self._subscription,
            "unsubscribe": self._subscription,
        }

    def routes(self) -> list[tuple[str, ws_server.Handler]]:
        return [(self.sim.prefix + WS_AUTH_PATH, self.handle)]

    def admit(self, request: web.Request, opening: object) -> web.StreamResponse | None:
        return refuse_over_attempts(self.sim, self.attempts, request)

    def connect(self, ws: web.WebSocketResponse, transport: asyncio.Transport, request: web.Request,
                opening: object) -> AuthConnection:
        return AuthConnection(ws, transport, request.remote or "", asyncio.get_running_loop().time())

    def on_start(self) -> None:
        self.sim.trading.listeners.append(self.on_events)

    async def shutdown(self, app: web.Application) -> None:
        for _, timer in self._switches.values():
            timer.cancel()
        self._switches.clear()
        await super().shutdown(app)

    def within_rate(self, conn: AuthConnection) -> bool:
        return conn.count_incoming(asyncio.get_running_loop().time(), self.sim.config.ws.incoming_messages_per_s)

    def refuse_rate(self, conn: AuthConnection) -> None:
        stamp = rfc3339(self.now_ms())
        self.send_text(conn, dumps({"error": "Exceeded msg rate", "success": False, "time_in": stamp,
                                    "time_out": stamp}))
        self.close(conn, WSCloseCode.POLICY_VIOLATION, "Exceeded msg rate")

    def on_forget(self, conn: AuthConnection) -> None:
        if conn.executions is not None:
            subs = self.subscribers.get(conn.executions)
            if subs is not None:
                subs.pop(conn, None)
                if not subs:
                    del self.subscribers[conn.executions]
            conn.executions = None

    # --- requests ---------------------------------------------------------------------------------

    def on_text(self, conn: AuthConnection, text: str) -> None:
        time_in = rfc3339(self.now_ms())
        request: Any = None
        method = "request"
        self._held = []  # the events a request causes go out after its answers
        try:
            try:
                request = json.loads(text, parse_float=Decimal)
            except (ValueError, RecursionError):
                raise RequestError(INVALID_ARGUMENTS) from None
            if not isinstance(request, dict):
                raise RequestError(INVALID_ARGUMENTS)
            req_id = request.get("req_id")
            if req_id is not None and (isinstance(req_id, bool) or not isinstance(req_id, int)):
                raise RequestError(f"{INVALID_ARGUMENTS}:req_id")
            method = request.get("method")
            if not isinstance(method, str):
                raise RequestError(f"{INVALID_ARGUMENTS}:method")
            params = request.get("params", {})
            if not isinstance(params, dict):
                raise RequestError(f"{INVALID_ARGUMENTS}:params")
            if method == "ping":
                answers: list[dict[str, Any]] = [{"method": "pong"}]
            elif method in self._handlers:
                answers = self._handlers[method](conn, params, method)
            else:
                raise RequestError(f"{INVALID_ARGUMENTS}:method")
        except (RequestError, KrakenError) as err:
            answers = [{"method": method, "error": err.error, "success": False}]
        for answer in answers:
            self._record(str(answer.get("method")), answer.get("error"))
            snapshot = answer.pop("snapshot", False)
            self._answer(conn, answer, request if isinstance(request, dict) else {}, time_in)
            if snapshot:
                self._snapshot(conn)
        held, self._held = self._held, None
        for account, events in held:
            self.on_events(account, events)

    def _record(self, method: str, error: object) -> None:
        name = method if method in self._handlers or method == "pong" else "unknown"
        self.sim.stats.record_ws_api(name, "ok" if error is None else str(error))

    def _answer(self, conn: AuthConnection, answer: dict[str, Any], request: dict[str, Any], time_in: str) -> None:
        answer.setdefault("success", True)
        answer["time_in"] = time_in
        answer["time_out"] = rfc3339(self.now_ms())
        req_id = request.get("req_id")
        if isinstance(req_id, int) and not isinstance(req_id, bool):
            answer["req_id"] = req_id
        if not conn.closing:
            self.send_text(conn, dumps(answer))

    def _account(self, conn: AuthConnection, params: Mapping[str, Any]) -> Account:
        """The account of a request's token: one this connection used already, or a fresh one."""
        token = params.get("token")
        key = conn.tokens.get(token) if isinstance(token, str) else None
        if key is None:
            key = self.sim.ws_tokens.key_of(token, self.sim.clock(), self.sim.config.ws.token_ttl_s)
            if key is None:
                raise KrakenError(INVALID_SESSION)
            conn.tokens[str(token)] = key
        account = self.sim.trading.accounts.get(key)
        if account is None:
            raise KrakenError(INVALID_SESSION)
        return account

    def _subscription(self, conn: AuthConnection, params: dict[str, Any], method: str) -> list[dict[str, Any]]:
        """executions for the token's account; the answer's `snapshot` (popped before sending) asks for one."""
        if params.get("channel") != EXECUTIONS:
            raise RequestError(f"{INVALID_ARGUMENTS}:channel")
        account = self._account(conn, params)
        if method == "subscribe":
            if conn.executions is not None:
                raise RequestError("Already subscribed")
            conn.executions = account.api_key
            self.subscribers.setdefault(account.api_key, {})[conn] = None
            self.stats.ws["subscriptions"] += 1
        else:
            if conn.executions is None:
                raise RequestError("Subscription Not Found")
            self.on_forget(conn)
        snapshot = method == "subscribe" and params.get("snap_orders", True) is not False
        result = {"channel": EXECUTIONS, "snapshot": snapshot} if method == "subscribe" else {"channel": EXECUTIONS}
        return [{"method": method, "result": result, "snapshot": snapshot}]

    def _add_order(self, conn: AuthConnection, params: dict[str, Any], method: str) -> list[dict[str, Any]]:
        account = self._account(conn, params)
        rest_params = rest_order_params(params)
        result = trading.add_order(self.sim, rest_params, self.sim.clock(), account)
        txids = result.get("txid") or []
        answer: dict[str, Any] = {"order_id": txids[0]} if txids else {}
        if "cl_ord_id" in rest_params:
            answer["cl_ord_id"] = rest_params["cl_ord_id"]
        if "userref" in rest_params:
            answer["order_userref"] = int(rest_params["userref"])
        return [{"method": method, "result": answer}]

    def _cancel_order(self, conn: AuthConnection, params: dict[str, Any], method: str) -> list[dict[str, Any]]:
        account = self._account(conn, params)
        targets = [("txid", v) for v in _id_list(params, "order_id")] + \
                  [("cl_ord_id", v) for v in _id_list(params, "cl_ord_id")]
        if not targets:
            raise RequestError(f"{INVALID_ARGUMENTS}:order_id")
        answers: list[dict[str, Any]] = []
        for field, value in targets:
            try:
                trading.cancel_order(self.sim, {field: value}, self.sim.clock(), account)
                result = {"order_id": value} if field == "txid" else {"cl_ord_id": value}
                answers.append({"method": method, "result": result})
            except KrakenError as err:
                answers.append({"method": method, "error": err.error, "success": False})
        return answers

    def _cancel_after(self, conn: AuthConnection, params: dict[str, Any], method: str) -> list[dict[str, Any]]:
        account = self._account(conn, params)
        timeout = params.get("timeout")
        if type(timeout) is not int or timeout < 0:
            raise RequestError(f"{INVALID_ARGUMENTS}:timeout")
        now = self.sim.clock()
        previous = self._switches.pop(account.api_key, None)
        if previous is not None:
            previous[1].cancel()
        trigger = "0"
        if timeout > 0:
            handle = asyncio.get_running_loop().call_later(timeout, self._switch_fired, account.api_key)
            self._switches[account.api_key] = (now + timeout, handle)
            trigger = rfc3339((now + timeout) * 1000)
        return [{"method": method, "result": {"currentTime": rfc3339(now * 1000), "triggerTime": trigger}}]

    def _switch_fired(self, api_key: str) -> None:
        """The dead man's switch: every open order of the key is cancelled, and the switch is off."""
        self._switches.pop(api_key, None)
        account = self.sim.trading.accounts.get(api_key)
        if account is None:
            return
        now = self.sim.clock()
        self.stats.ws["dead_man_switch_fired"] += 1
        for order in list(account.open.values()):
            trading.cancel(self.sim, account, order, now, "Dead man's switch")

    # --- the executions channel ----------------------------------------------------------------------

    def on_events(self, account: Account, events: list[ExecEvent]) -> None:
        """Trading listener: one update message per event to every session subscribed to the account."""
        if self._held is not None:
            self._held.append((account, events))
            return
        subs = self.subscribers.get(account.api_key)
        if not subs:
            return
        counts = self.sim.stats.ws_api_events
        for ev in events:
            text = dumps({"channel": EXECUTIONS, "type": "update", "data": [execution(ev)]})
            sent = 0
            for conn in list(subs):
                if not conn.closing:
                    self.send_text(conn, text)
                    sent += 1
            if sent:
                counts[f"executions {ev.exec_type}"] += 1  # once per event, however many sessions it went to

    def _snapshot(self, conn: AuthConnection) -> None:
        account = self.sim.trading.accounts.get(conn.executions or "")
        if account is None:
            return
        now = self.sim.clock()
        data = [execution(ExecEvent(o, "new", "partially_filled" if o.executed else "new", now, o.executed, o.cost))
                for o in account.open.values()]
        self.send_text(conn, dumps({"channel": EXECUTIONS, "type": "snapshot", "data": data}))


def execution(ev: ExecEvent) -> dict[str, Any]:
    """One entry of an executions message (KR spot-websocket-v2/executions), numbers as JSON numbers."""
    order, spec = ev.order, ev.order.spec
    entry: dict[str, Any] = {
        "order_id": order.txid, "symbol": order.pair.symbol, "side": "buy" if order.side == BUY else "sell",
        "order_type": order.ordertype, "order_qty": float(spec.qty_str(order.volume)),
        "time_in_force": order.time_in_force, "exec_type": ev.exec_type, "order_status": ev.order_status,
        "order_userref": order.userref, "cum_qty": float(spec.qty_str(ev.cum_qty)),
        "cum_cost": ev.cum_cost / UNITS, "fee_usd_equiv": 0.0, "fee_ccy_pref": "fciq",
        "timestamp": rfc3339(ev.time_s * 1000),
    }
    if order.ordertype == "limit":
        entry["limit_price"] = float(spec.price_str(order.price))
    if ev.cum_qty:
        entry["avg_price"] = round(ev.cum_cost / UNITS / (ev.cum_qty * spec.step_size), spec.price_decimals)
    if order.cl_ord_id is not None:
        entry["cl_ord_id"] = order.cl_ord_id
    if ev.fill is not None:
        entry |= {"exec_id": f"T{ev.fill.trade_id}", "trade_id": ev.fill.trade_id,
                  "last_qty": float(spec.qty_str(ev.fill.qty)), "last_price": float(spec.price_str(ev.fill.price)),
                  "liquidity_ind": "t"}
    if ev.reason is not None:
        entry["reason"] = ev.reason
    return entry


def rest_order_params(params: Mapping[str, Any]) -> dict[str, str]:
    """An add_order's parameters as AddOrder's (the REST names and text values), for the shared order code."""
    names = {"symbol": "pair", "side": "type", "order_type": "ordertype", "order_qty": "volume",
             "limit_price": "price", "cl_ord_id": "cl_ord_id", "order_userref": "userref"}
    rest = {rest_name: _text(params[name]) for name, rest_name in names.items() if params.get(name) is not None}
    tif = params.get("time_in_force")
    if tif is not None:
        rest["timeinforce"] = str(tif).upper()
    if params.get("validate") is True:
        rest["validate"] = "true"
    return rest


def _text(value: object) -> str:
    """A parameter as AddOrder's text: numbers in plain decimal notation (1e-05 -> 0.00001)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        return format(number, "f")
    return str(value)


def _id_list(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RequestError(f"{INVALID_ARGUMENTS}:{name}")
    return value


SERVER_KEY = web.AppKey("kraken_ws_auth_server", AuthServer)


def add_routes(app: web.Application, sim: KrakenSim) -> None:
    """Serve `sim`'s authenticated WebSocket v2 under `<prefix>/ws-auth/v2`."""
    AuthServer(sim).mount(app, SERVER_KEY)
