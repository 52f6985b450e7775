"""The accounting of the users that send REST orders and follow them on a feed: acks, events before and after the
answer (matched by client order id or the exchange's order id), rejections, lost events, other users' orders."""

import json
import time
from argparse import Namespace

import pytest
from locust.env import Environment

from exchanges.base import OK, FailureKind, OrderUpdate, Verdict
from exchanges.coinbase import ADAPTER
from loadgen.options import OPTIONS, parse_settings
from loadgen.runtime import build_runtime
from loadgen.users.feed_orders import FeedOrderUser
from loadgen.users.rest import Reply
from loadgen.users.ws_order_rows import EVENT_ROW, LOST_ORDER_EVENT, REQUEST_TYPE

HOST = "http://127.0.0.1:9/coinbase"


@pytest.fixture
def user():
    user_class = type("Trader", (FeedOrderUser,), {"adapter": ADAPTER, "host": HOST,
                                                   "order_params": lambda self, plan, index, cid: {"client_oid": cid}})
    defaults = {flag[2:].replace("-", "_"): default for flag, default, _ in OPTIONS}
    options = Namespace(**defaults, csv_prefix=None)
    environment = Environment(user_classes=[user_class], host=HOST, parsed_options=options)
    environment.create_local_runner()
    trader = user_class(environment)
    trader.runtime = build_runtime(environment, ADAPTER, parse_settings(options, ADAPTER, HOST))
    return trader


def answering(user, verdict, order_id, events=()):
    """Stand in for the REST request: record the row as `request` does, deliver `events` (the feed's, before the
    answer), then answer."""
    def request(endpoint, params, row_type=None, parse=None):
        sent_at = time.time()
        for update in events:
            user._updated(update if update.client_order_id != "?" else
                          OrderUpdate(params["client_oid"], update.state, update.final, None, order_id=order_id))
        user.environment.events.request.fire(request_type=row_type, name=endpoint, response_time=1.0,
                                             response_length=0, exception=None if verdict.ok else Exception("x"),
                                             context={})
        return Reply(verdict, 200 if verdict.ok else 429, json.dumps({"id": order_id}).encode(), None, sent_at,
                     time.time())
    user.request = request


def row(user, name):
    return user.environment.stats.get(name, REQUEST_TYPE)


def test_events_before_and_after_the_answer_one_row_per_state_and_done_when_final(user):
    answering(user, OK, "o1", [OrderUpdate("?", "received", False, None)])  # received comes before the answer
    user.send_order(None, 0)
    assert row(user, EVENT_ROW.format("received")).num_requests == 1
    user._updated(OrderUpdate("", "open", False, None, order_id="o1"))  # by the exchange's id only
    user._updated(OrderUpdate("", "match", False, None, order_id="o1"))
    user._updated(OrderUpdate("", "match", False, None, order_id="o1"))
    user._updated(OrderUpdate("", "done", True, None, order_id="o1"))
    user._updated(OrderUpdate("", "done", True, None, order_id="other"))  # another user's order: ignored
    assert [row(user, EVENT_ROW.format(s)).num_requests for s in ("received", "open", "match", "done")] == [1, 1, 1, 1]
    assert row(user, "orders").num_requests == 1 and user._tracked == {} and user._client_ids == {}


def test_rejected_orders_are_forgotten_and_acked_orders_without_events_are_lost(user):
    answering(user, Verdict(False, FailureKind.RATE_LIMITED, message="HTTP 429"), "")
    user.send_order(None, 0)
    assert user._tracked == {}
    answering(user, OK, "o2")
    user.send_order(None, 1)
    answering(user, OK, "o3")
    user.send_order(None, 2)
    user._updated(OrderUpdate("", "received", False, None, order_id="o3"))
    user._settle(time.time() - 60)  # answered after the cut-off: left alone
    assert len(user._tracked) == 2
    user._settle(None)  # the feed ended: o2 never reported is lost, o3 was reported
    assert row(user, LOST_ORDER_EVENT).num_failures == 1 and user._tracked == {}
    assert (row(user, "orders").num_requests, row(user, "orders").num_failures) == (3, 1)


def test_a_production_host_is_refused_before_anything_is_sent(user):
    user.host = "https://api.exchange.coinbase.com"
    user.stop = lambda: None  # not started by a runner here
    user.on_start()
    assert user.refused and user._connection.ws is None
