"""The base of users that send orders over REST and follow them on the account's authenticated feed: one feed
connection per user subscribed to the account's order events, and bursts of REST orders (`BurstUser`).

Rows it reports (request type "WSAPI", as the WebSocket order users' rows: `loadgen.users.ws_order_rows`):

- one row per order sent, named after the adapter's `feed_order_endpoint`: the REST round trip (order->ack) as its
  response time, a classified failure when the exchange refused it or gave no answer (the REST request's own
  failure: rate limit, timeout, ...);
- "order→<STATE>" the first time each state of an acknowledged order is reported on the feed, with the time from
  sending the order to that event (events may come before the REST answer; they are matched to the order by client
  order id, or by the exchange's order id learnt from an event carrying both or from the answer);
- `lost_order_event`: a failure for each acknowledged order with no event within --order-event-timeout of its
  answer (or before the feed connection ended);
- "subscribe": the feed subscription's round trip (refused: a classified failure).

So, per run: orders sent = the order rows (acknowledged + rejected), and the acknowledged orders = those with a
first-state row + `lost_order_event` (+ those still in flight when the user was killed, counted in neither).
Plus "WS" rows "connect"/"reconnect" and "connection" (the feed ended abnormally). The receive loop yields to gevent
after every socket read. Late events (after the timeout) are not timed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gevent
from gevent.event import AsyncResult
from locust.env import Environment

from exchanges.base import FailureKind, FeedOrderApi, OrderUpdate, Verdict, WsApiAnswer
from loadgen.runtime import LIVE_ORDER_TARGETS
from loadgen.users.burst import BurstUser
from loadgen.users.order_connection import OrderConnection
from loadgen.users.request_events import fire, unexpected
from loadgen.users.ws_order_rows import EVENT_ROW, LOST_ORDER_EVENT, REQUEST_TYPE

SUBSCRIBE_ROW = "subscribe"
LOST = Verdict(False, FailureKind.TIMEOUT, message="no order event")


@dataclass(slots=True)
class _Order:
    sent_at: float | None = None  # wall-clock seconds the REST request went out; None until it is answered
    answered_at: float = 0.0
    order_id: str = ""
    states: set[str] = field(default_factory=set)
    early: list[tuple[str, float]] = field(default_factory=list)  # (state, arrival) of events before the answer
    final: bool = False


class FeedOrderUser(BurstUser):
    """Each task run is one burst (`BurstUser`): the feed opened if needed and `plan_burst`, then --order-burst
    orders at once, each sent over REST by `send_order` here with `order_params`, then `after_ack` (e.g. cancel an
    order that rests).

    Subclasses set `adapter` (an adapter with the `FeedOrderApi` methods) and implement `plan_burst` and
    `order_params`."""

    abstract = True
    adapter: ClassVar[Any]

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._connection = OrderConnection(self, self._handle, self._settle_due, self._ended, "feed")
        self._subscribed: AsyncResult | None = None
        self._tracked: dict[str, _Order] = {}  # client order id -> order
        self._client_ids: dict[str, str] = {}  # the exchange's order id -> client order id

    @property
    def api(self) -> FeedOrderApi:
        return self.adapter

    def on_start(self) -> None:
        if self.host and self.adapter.target_kind(self.host) not in LIVE_ORDER_TARGETS:
            self.refuse(f"{type(self).__name__} sends real orders: {self.host} is neither the simulator nor a testnet")
            return
        super().on_start()

    def order_params(self, plan: Any, index: int, client_order_id: str) -> dict[str, str]:
        """The parameters of order number `index` of a burst, carrying `client_order_id` as its client order id."""
        raise NotImplementedError

    def after_ack(self, plan: Any, index: int, order_id: str) -> None:
        """Called after order number `index` was acknowledged with the exchange's `order_id`; nothing by default."""

    def on_stop(self) -> None:
        """Let the orders in flight be answered, give them their timeout to be reported, account for the rest."""
        if self.refused:
            return
        timeout_s = self.runtime.settings.order_event_timeout_s
        self._orders.join(timeout=timeout_s)
        deadline = time.perf_counter() + timeout_s
        while self._tracked and self._connection.receiving and time.perf_counter() < deadline:
            gevent.sleep(0.05)
        self._orders.kill(block=True, timeout=2)
        self._close("user stopped")

    def plan_burst(self) -> Any | None:
        """What every order of the next burst needs (symbol, price, ...); None skips this burst."""
        raise NotImplementedError

    def prepare_burst(self) -> Any | None:
        """The feed first (opened again after it ended), then the subclass's plan."""
        if self._connection.ws is None and not self._open_feed():
            return None
        return self.plan_burst()

    def send_order(self, plan: Any, index: int) -> None:
        client_id = self.api.new_client_order_id()
        order = self._tracked[client_id] = _Order()
        reply = None
        try:
            reply = self.request(self.api.feed_order_endpoint, self.order_params(plan, index, client_id),
                                 row_type=REQUEST_TYPE)
        finally:
            if reply is None or not reply.ok:  # refused or unanswered (a failure of the order row), or not sent
                self._forget(client_id)
        if not reply.ok:
            return
        order.sent_at, order.answered_at = reply.sent_at, time.time()
        try:
            order_id = self.api.placed_order_id(reply.body) or ""
        except ValueError:
            order_id = ""
        if order_id:
            order.order_id = order_id
            self._client_ids[order_id] = client_id
        for state, arrived in order.early:
            self._event_row(state, order.sent_at, arrived)
        order.early.clear()
        if order.final:
            self._forget(client_id)
        if order_id:
            self.after_ack(plan, index, order_id)

    # --- the feed -----------------------------------------------------------------------------------

    def _open_feed(self) -> bool:
        settings = self.runtime.settings
        self._subscribed = AsyncResult()  # before the receive loop starts: it may answer at once
        if not self._connection.open(self.api.order_feed_url(self.host or "", settings.ws_host),
                                     settings.order_event_timeout_s).ok:
            return False
        credentials = self.credentials
        assert credentials is not None
        timestamp_ms = int(time.time() * 1000 - self.clock_offset_ms)
        started = time.perf_counter()
        text = self.api.order_feed_subscribe(list(settings.symbols), credentials.api_key, credentials.api_secret,
                                             credentials.passphrase, timestamp_ms)
        if not self._connection.send(text):
            self._subscribed.set(Verdict(False, FailureKind.WS_DROP, message="connection lost"))
        self._subscribed.wait(settings.order_event_timeout_s)
        subscribed = self._subscribed
        verdict = subscribed.value if subscribed.ready() else Verdict(False, FailureKind.TIMEOUT, message="no answer")
        fire(self.environment, REQUEST_TYPE, self._row(SUBSCRIBE_ROW), _ms(started), verdict=verdict)
        if not verdict.ok:
            self._close("not subscribed")
        return verdict.ok

    def _close(self, message: str) -> None:
        """End the feed: the acknowledged orders not yet reported are lost events; the connection is closed."""
        self._connection.stop_receiving()
        self._settle(None)
        if self._subscribed is not None and not self._subscribed.ready():
            self._subscribed.set(Verdict(False, FailureKind.WS_DROP, message=message))
        self._connection.close()

    def _ended(self, message: str | None) -> None:
        """The connection ended (`message`: how, when abnormally): the acknowledged orders are settled."""
        self._close(message or "connection closed")

    def _handle(self, text: str) -> None:
        try:
            message = self.api.decode_order_feed_message(text)
        except Exception as e:  # one unreadable message does not end the feed
            self._connection.log_once(e, "message")
            fire(self.environment, REQUEST_TYPE, self._row("message"), None, verdict=unexpected(e))
            return
        if isinstance(message, WsApiAnswer):
            if self._subscribed is not None and not self._subscribed.ready():
                self._subscribed.set(message.verdict)
            elif not message.verdict.ok:  # an error after the subscription: reported, the feed goes on
                fire(self.environment, REQUEST_TYPE, self._row("feed"), None, verdict=message.verdict)
        elif message:
            for update in message:
                self._updated(update)

    def _updated(self, update: OrderUpdate) -> None:
        client_id = update.client_order_id or self._client_ids.get(update.order_id, "")
        order = self._tracked.get(client_id)
        if order is None:
            return  # another user's order on the shared account, or one already settled
        if update.order_id and not order.order_id:
            order.order_id = update.order_id
            self._client_ids[update.order_id] = client_id
        if update.state not in order.states:
            order.states.add(update.state)
            if order.sent_at is None:
                order.early.append((update.state, time.time()))
            else:
                self._event_row(update.state, order.sent_at, time.time())
        if update.final:
            order.final = True
            if order.sent_at is not None:
                self._forget(client_id)

    def _event_row(self, state: str, sent_at: float, arrived: float) -> None:
        fire(self.environment, REQUEST_TYPE, self._row(EVENT_ROW.format(state)), (arrived - sent_at) * 1000)

    def _settle_due(self) -> None:
        self._settle(time.time() - self.runtime.settings.order_event_timeout_s)

    def _settle(self, answered_before: float | None) -> None:
        """Account for the orders acknowledged before `answered_before` (all of them when None): acknowledged
        without any event is a lost event; the others are done with. Orders still awaiting their answer stay."""
        for client_id, order in list(self._tracked.items()):
            if order.sent_at is None or (answered_before is not None and order.answered_at > answered_before):
                continue
            self._forget(client_id)
            if not order.states:
                fire(self.environment, REQUEST_TYPE, self._row(LOST_ORDER_EVENT), None, verdict=LOST)

    def _forget(self, client_id: str) -> None:
        order = self._tracked.pop(client_id, None)
        if order is not None and order.order_id:
            self._client_ids.pop(order.order_id, None)

    def _row(self, name: str) -> str:
        return self.stats_prefix + name


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
