"""The WebSocket order user's accounting: acks, per-state event rows, rejections, lost events, unanswered orders."""

import dataclasses
import time
from argparse import Namespace

import pytest
from locust.env import Environment
from locust.exception import StopUser

from exchanges.base import OK, FailureKind, OrderUpdate, Verdict, WsApiAnswer
from exchanges.binance import ADAPTER
from exchanges.kraken import ADAPTER as KRAKEN
from loadgen.options import OPTIONS, parse_settings
from loadgen.runtime import build_runtime
from loadgen.users.credentials import Credentials
from loadgen.users.ws_order_rows import EVENT_ROW, LOST_ORDER_EVENT, REQUEST_TYPE
from loadgen.users.ws_orders import WsOrderUser, _Order

HOST = "http://127.0.0.1:9/binance"


@pytest.fixture
def user():
    user_class = type("Trader", (WsOrderUser,), {"adapter": ADAPTER, "host": HOST})
    defaults = {flag[2:].replace("-", "_"): default for flag, default, _ in OPTIONS}
    options = Namespace(**defaults, csv_prefix=None)
    environment = Environment(user_classes=[user_class], host=HOST, parsed_options=options)
    environment.create_local_runner()
    trader = user_class(environment)
    trader.runtime = build_runtime(environment, ADAPTER, parse_settings(options, ADAPTER, HOST))
    return trader


def row(user, name):
    return user.environment.stats.get(name, REQUEST_TYPE)


def sent(user, *ids):
    for client_id in ids:
        user._orders[client_id] = _Order(time.perf_counter())


def test_ack_then_events_one_row_per_state_and_done_when_final(user):
    sent(user, "a")
    user._updated(OrderUpdate("a", "NEW", False, None))  # events may come before the answer
    user._answered(WsApiAnswer("a", OK))
    user._updated(OrderUpdate("a", "PARTIALLY_FILLED", False, None))
    user._updated(OrderUpdate("a", "PARTIALLY_FILLED", False, None))
    user._updated(OrderUpdate("a", "FILLED", True, None))
    assert row(user, "order.place").num_requests == 1 and row(user, "order.place").num_failures == 0
    assert [row(user, EVENT_ROW.format(s)).num_requests for s in ("NEW", "PARTIALLY_FILLED", "FILLED")] == [1, 1, 1]
    assert user._orders == {}


def test_rejected_lost_and_unanswered_orders_are_failures(user):
    sent(user, "rejected", "lost", "unanswered", "young")
    user._answered(WsApiAnswer("rejected", Verdict(False, FailureKind.RATE_LIMITED, "-1015", "HTTP 429")))
    user._answered(WsApiAnswer("lost", OK))
    user._orders["young"].sent_at += 60  # sent after the cut-off: left alone
    user._settle(time.perf_counter(), None)
    placed = row(user, "order.place")
    assert (placed.num_requests, placed.num_failures) == (3, 2)  # lost was acknowledged; unanswered timed out
    assert row(user, LOST_ORDER_EVENT).num_failures == 1
    assert set(user._orders) == {"young"}
    errors = {(e.name, e.error) for e in user.environment.stats.errors.values()}
    assert ("order.place", "rate_limited: -1015 HTTP 429") in {(n, str(e)) for n, e in errors}
    user._answered(WsApiAnswer("unanswered", OK))  # too late: already counted
    assert row(user, "order.place").num_requests == 3


def test_a_session_token_is_fetched_over_rest_first_and_no_connection_without_it():
    """An adapter with a `ws_session_endpoint` (Kraken's token): the user calls it as a REST row before connecting;
    when it fails, the failure is that row's and no connection is attempted."""
    host = "http://127.0.0.1:9/kraken"  # nothing listens: the token call fails
    user_class = type("Trader", (WsOrderUser,), {"adapter": KRAKEN, "host": host})
    defaults = {flag[2:].replace("-", "_"): default for flag, default, _ in OPTIONS}
    options = Namespace(**defaults, csv_prefix=None)
    environment = Environment(user_classes=[user_class], host=host, parsed_options=options)
    environment.create_local_runner()
    trader = user_class(environment)
    trader.runtime = build_runtime(environment, KRAKEN, parse_settings(options, KRAKEN, host))
    trader.credentials = Credentials(*KRAKEN.simulator_demo_keys)
    assert trader._open_session() is False
    token_row = environment.stats.get("GetWebSocketsToken", "POST")
    assert (token_row.num_requests, token_row.num_failures) == (1, 1)
    assert environment.stats.get("connect", "WS").num_requests == 0


def test_several_events_in_one_message_each_count(user, monkeypatch):
    sent(user, "a")
    user._answered(WsApiAnswer("a", OK))
    events = [OrderUpdate("a", "NEW", False, None), OrderUpdate("a", "FILLED", True, None)]
    monkeypatch.setattr(ADAPTER, "decode_ws_order_message", lambda text: events)
    user._handle("{}")
    assert [row(user, EVENT_ROW.format(s)).num_requests for s in ("NEW", "FILLED")] == [1, 1]
    assert user._orders == {}


def test_a_ban_seen_on_the_session_stops_the_user_before_its_next_burst(user):
    """As on REST with backoff: a 418 is not sent into; the user stops (--on-ban stop-user)."""
    user.runtime.settings = dataclasses.replace(user.runtime.settings, backoff=True)
    sent(user, "a")
    user._answered(WsApiAnswer("a", Verdict(False, FailureKind.BANNED, "-1003", "HTTP 418", retry_after_s=60)))
    assert row(user, "order.place").num_failures == 1
    user.stop = lambda *a, **k: None  # not running under a runner here
    with pytest.raises(StopUser):
        user.burst()
    assert user._connection.ws is None and user._ban is None  # no session was opened into the ban
