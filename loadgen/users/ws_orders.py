"""The base of WebSocket order users: one authenticated order-API session per user, bursts of orders on it,
and the account's order events on the same connection.

Rows it reports (request type "WSAPI", names after the exchange's prefix in side-by-side runs):

- where the adapter names a `ws_session_endpoint` (a signed REST call each session needs first, e.g. Kraken's
  WebSocket token), that call as an ordinary REST row, before connecting;
- the session's requests (e.g. "session.logon") with their round trips;
- one row per order sent, named after the adapter's `ws_order_method`: order->ack as the response time, a
  classified failure when the exchange rejected it, `timeout` when no answer came within
  --order-event-timeout, `ws_drop` when the connection ended first;
- "order→<STATE>" the first time each state of an order is reported, with the time from sending the
  order to that event (events may come before the answer; both are matched by client order id);
- `lost_order_event`: a failure for each acknowledged order with no event within --order-event-timeout.

So, per run: orders sent = the order rows (acknowledged + rejected + unanswered), and the acknowledged
orders = those with a first-state row + `lost_order_event`. Plus "WS" rows "connect"/"reconnect".
Late events (after the timeout) are not timed. The receive loop yields to gevent after every socket read.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gevent
from gevent.event import AsyncResult
from locust import task
from locust.env import Environment
from locust.exception import StopUser

from exchanges.base import FailureKind, OrderUpdate, Verdict, WsApiAnswer, WsOrderApi
from loadgen.runtime import LIVE_ORDER_TARGETS
from loadgen.users.credentials import Credentials, MissingCredentials, ws_session_credentials
from loadgen.users.order_connection import OrderConnection
from loadgen.users.request_events import fire, unexpected
from loadgen.users.rest import ExchangeRestUser
from loadgen.users.ws_order_rows import EVENT_ROW, LOST_ORDER_EVENT, REQUEST_TYPE

_users = itertools.count(1)


@dataclass(slots=True)
class _Order:
    sent_at: float  # perf_counter seconds
    answered: bool = False
    states: set[str] = field(default_factory=set)
    final: bool = False


class WsOrderUser(ExchangeRestUser):
    """Each task run is one burst: `prepare_burst` once, then --order-burst orders sent at once on the session.

    Subclasses set `adapter` (an adapter with the `WsOrderApi` methods) and implement `prepare_burst` and
    `order_params`."""

    abstract = True
    needs_credentials = True
    adapter: ClassVar[Any]

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        # Client order ids must be unique across the users and worker processes sharing an account: they match
        # the account's events (which every session of it receives) to this user's orders.
        self._tag = f"u{next(_users)}x{secrets.token_hex(4)}"
        self._ids = itertools.count(1)
        self._connection = OrderConnection(self, self._handle, self._settle_due, self._ended, "session")
        self._orders: dict[str, _Order] = {}
        self._waiting: dict[str, AsyncResult] = {}  # session requests by id
        self._token: str | None = None  # what the session's token call answered (the adapter's), if it has one
        self._session_keys: Credentials  # set by on_start: the keys the session signs with
        self._ban: Verdict | None = None  # a ban (418) the receive loop saw, for the task to act on

    @property
    def api(self) -> WsOrderApi:
        return self.adapter

    def on_start(self) -> None:
        super().on_start()
        if self.refused:
            return
        if self.adapter.target_kind(self.host or "") not in LIVE_ORDER_TARGETS:
            self.refuse(f"{type(self).__name__} sends real orders: {self.host} is neither the simulator nor a testnet")
            return
        try:
            keys = ws_session_credentials(self.adapter, self.runtime.on_simulator) or self.credentials
        except MissingCredentials as e:
            self.refuse(str(e))
            return
        assert keys is not None
        self._session_keys = keys
        self.clock_offset_ms = self.measure_clock_offset()

    def on_stop(self) -> None:
        """Give the orders in flight their timeout to settle, then account for the rest and close."""
        if self.refused:
            return
        deadline = time.perf_counter() + self.runtime.settings.order_event_timeout_s
        while self._orders and self._connection.receiving and time.perf_counter() < deadline:
            gevent.sleep(0.05)
        self._close(FailureKind.WS_DROP, "user stopped")

    def wait_time(self) -> float:
        return self.runtime.settings.order_pause_s

    def prepare_burst(self) -> Any | None:
        """What every order of the next burst needs (symbol, price, ...); None skips this burst."""
        raise NotImplementedError

    def order_params(self, plan: Any, index: int, client_order_id: str) -> dict[str, Any]:
        """The parameters of order number `index` of a burst, carrying `client_order_id` as its client order id."""
        raise NotImplementedError

    @task
    def burst(self) -> None:
        if self._ban is not None:  # as on REST: stop (with backoff, --on-ban) or wait the ban out, never send into it
            ban, self._ban = self._ban, None
            self._account(ban)
        if self.runtime.gate.remaining_s() > 0:  # a pause (a ban waited out, a Retry-After) holds the sessions too
            self.runtime.gate.wait()
        if self._connection.ws is None and not self._open_session():
            return
        plan = self.prepare_burst()
        if plan is None:
            return
        keys = self._session_keys
        for index in range(self.runtime.settings.order_burst):
            client_id = f"{self._tag}n{next(self._ids)}"
            try:
                params = self.api.ws_order_sent_params(
                    self.order_params(plan, index, client_id), keys.api_key, keys.api_secret,
                    int(time.time() * 1000 - self.clock_offset_ms), self._token)
                text = self.api.ws_request(client_id, self.api.ws_order_method, params)
            except StopUser:
                raise
            except Exception as e:  # our own code failed: count it as an order that was not sent
                self._connection.log_once(e, "order")
                fire(self.environment, REQUEST_TYPE, self._row(self.api.ws_order_method), None, verdict=unexpected(e))
                continue
            self._orders[client_id] = _Order(time.perf_counter())
            if not self._connection.send(text):
                return  # the receive loop accounts for the orders in flight when it sees the connection end

    # --- the session --------------------------------------------------------------------------------

    def _open_session(self) -> bool:
        settings = self.runtime.settings
        token: str | None = None
        if self.api.ws_session_endpoint is not None:
            reply = self.request(self.api.ws_session_endpoint, {}, parse=self.api.parse_ws_session_token)
            if not reply.ok:
                return False
            token = reply.parsed
        keys = self._session_keys
        try:  # signed before connecting: the timestamp is a round trip older, well within the receive window
            requests = self.api.ws_session_requests(keys.api_key, keys.api_secret,
                                                    int(time.time() * 1000 - self.clock_offset_ms), token)
        except ValueError as e:  # an unusable key, e.g. a private key that does not load (the message names no secret)
            self.refuse(f"{self.adapter.name}: {e}")
            return False
        connected = self._connection.open(self.api.ws_order_url(self.host or "", settings.ws_host),
                                          settings.order_event_timeout_s)
        if not connected.ok:
            if connected.kind is FailureKind.BANNED:  # a banned IP's handshake: as a ban on REST
                self._account(connected)
            return False
        self._token = token
        for method, params in requests:
            if not self._session_request(method, params):
                self._close(FailureKind.WS_DROP, "session not opened")
                return False
        return True

    def _session_request(self, method: str, params: dict[str, Any]) -> bool:
        request_id = f"{self._tag}s{next(self._ids)}"
        waiter = self._waiting[request_id] = AsyncResult()
        started = time.perf_counter()
        if not self._connection.send(self.api.ws_request(request_id, method, params)):
            self._waiting.pop(request_id, None)
            return False
        waiter.wait(self.runtime.settings.order_event_timeout_s)
        verdict = waiter.value if waiter.ready() else Verdict(False, FailureKind.TIMEOUT, message="no answer")
        self._waiting.pop(request_id, None)
        fire(self.environment, REQUEST_TYPE, self._row(method), _ms(started), verdict=verdict)
        if verdict.kind is FailureKind.BANNED:
            self._ban = verdict
        return verdict.ok

    def _close(self, kind: FailureKind, message: str) -> None:
        """End the session: every order still in flight is accounted for, then the connection is closed."""
        self._connection.stop_receiving()
        self._settle(None, Verdict(False, kind, message=message))
        for waiter in self._waiting.values():
            waiter.set(Verdict(False, kind, message=message))
        self._connection.close()

    # --- receiving ----------------------------------------------------------------------------------

    def _ended(self, message: str | None) -> None:
        """The connection ended (`message`: how, when abnormally): the orders in flight are settled."""
        self._close(FailureKind.WS_DROP, message or "connection closed")

    def _handle(self, text: str) -> None:
        try:
            message = self.api.decode_ws_order_message(text)
        except Exception as e:  # one unreadable message does not end the session
            self._connection.log_once(e, "message")
            fire(self.environment, REQUEST_TYPE, self._row("message"), None, verdict=unexpected(e))
            return
        if isinstance(message, WsApiAnswer):
            self._answered(message)
        elif isinstance(message, OrderUpdate):
            self._updated(message)
        elif isinstance(message, list):
            for update in message:
                self._updated(update)

    def _answered(self, answer: WsApiAnswer) -> None:
        waiter = self._waiting.get(answer.request_id)
        if waiter is not None:
            waiter.set(answer.verdict)
            return
        order = self._orders.get(answer.request_id)
        if order is None or order.answered:
            return  # answered after its timeout: already counted
        order.answered = True
        if answer.verdict.order_count is not None:
            self.runtime.metrics.order_count(answer.verdict.order_count)
        fire(self.environment, REQUEST_TYPE, self._row(self.api.ws_order_method), _ms(order.sent_at),
             verdict=answer.verdict)
        if answer.verdict.kind is FailureKind.BANNED:
            self._ban = answer.verdict
        if not answer.verdict.ok or order.final:
            del self._orders[answer.request_id]

    def _updated(self, update: OrderUpdate) -> None:
        order = self._orders.get(update.client_order_id)
        if order is None:
            return
        if update.state not in order.states:
            order.states.add(update.state)
            fire(self.environment, REQUEST_TYPE, self._row(EVENT_ROW.format(update.state)), _ms(order.sent_at))
        if update.final:
            order.final = True
            if order.answered:
                del self._orders[update.client_order_id]

    def _settle_due(self) -> None:
        self._settle(time.perf_counter() - self.runtime.settings.order_event_timeout_s, None)

    def _settle(self, sent_before: float | None, unanswered: Verdict | None) -> None:
        """Account for the orders sent before `sent_before` (all of them when None): no answer is a failure of
        the order row, acknowledged without any event is a lost event; the others are done with."""
        lost = Verdict(False, FailureKind.TIMEOUT, message="no order event")
        late = unanswered or Verdict(False, FailureKind.TIMEOUT, message="no answer")
        due: list[tuple[str, _Order]] = []
        for client_id, order in self._orders.items():  # in send order: the first one sent later ends the walk
            if sent_before is not None and order.sent_at > sent_before:
                break
            due.append((client_id, order))
        for client_id, order in due:
            del self._orders[client_id]
            if not order.answered:
                fire(self.environment, REQUEST_TYPE, self._row(self.api.ws_order_method), None, verdict=late)
            elif not order.states:
                fire(self.environment, REQUEST_TYPE, self._row(LOST_ORDER_EVENT), None, verdict=lost)

    def _row(self, name: str) -> str:
        return self.stats_prefix + name


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
