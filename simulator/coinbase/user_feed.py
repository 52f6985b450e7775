"""The messages of the authenticated `user` channel: the full channel's `received`, `open`, `match` and `done`
messages of one profile's own orders, with the `user_id` and `profile_id` that authenticated messages carry.

The order code (`trading`, `account`) reports its orders' changes to `UserMessages` (a profile's `feed`), which builds
a message only when a connection listens to the profile's orders of that product. Shapes as Coinbase's Exchange
docs (websocket-feed/channels, websocket-feed/authentication) and ccxt's coinbaseexchange show them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from simulator.coinbase.account import Order
from simulator.coinbase.wire import iso_time
from simulator.units import units_str

FEE_RATE = "0.0000"  # the simulator charges no fees


class UserFeed(Protocol):
    """Where a profile's order messages go (the feed server)."""

    def wants_orders(self, profile_id: str, product_id: str) -> bool:
        """Whether a connection listens to the profile's orders of the product."""

    def publish_order(self, profile_id: str, product_id: str, payload: dict[str, Any]) -> None:
        """Send one message to the connections that listen to the profile's orders of the product."""


def _head(order: Order, kind: str, now_ms: int) -> dict[str, Any]:
    return {"type": kind, "side": order.side, "product_id": order.spec.symbol, "time": iso_time(now_ms),
            "sequence": 0, "profile_id": order.profile.id, "user_id": order.profile.user_id}


def _size(order: Order, lots: int) -> str:
    return f"{Decimal(lots) * Decimal(order.spec.qty_str(1)):.8f}"


def _price(order: Order) -> str:
    return order.spec.price_str(order.price)


class UserMessages:
    """The `user` channel's messages of the order code's reports (`account.OrderEvents`), for `server`."""

    def __init__(self, server: UserFeed) -> None:
        self.server = server

    def _listener(self, order: Order) -> UserFeed | None:
        server = self.server
        return server if server.wants_orders(order.profile.id, order.spec.symbol) else None

    def received(self, order: Order, now_ms: int) -> None:
        """The order was accepted by the matching engine (every order, before it trades or rests)."""
        feed = self._listener(order)
        if feed is None:
            return
        message = _head(order, "received", now_ms) | {"order_id": order.id, "order_type": order.type}
        if order.type == "limit" or not order.funds:
            message["size"] = _size(order, order.size)
        if order.type == "limit":
            message["price"] = _price(order)
        if order.funds:
            message["funds"] = units_str(order.funds)
        if order.client_oid:
            message["client_oid"] = order.client_oid
        feed.publish_order(order.profile.id, order.spec.symbol, message)


    def opened(self, order: Order, remaining: int, now_ms: int) -> None:
        """The order's remainder now rests in the book."""
        feed = self._listener(order)
        if feed is not None:
            feed.publish_order(order.profile.id, order.spec.symbol, _head(order, "open", now_ms) | {
                "order_id": order.id, "price": _price(order), "remaining_size": _size(order, remaining)})


    def done(self, order: Order, reason: str, now_ms: int) -> None:
        """The order left the book or will never rest in it: `reason` "filled" or "canceled". Market orders carry
        no price or remaining size, as on Coinbase."""
        feed = self._listener(order)
        if feed is None:
            return
        message = _head(order, "done", now_ms) | {"order_id": order.id, "reason": reason}
        if order.type == "limit":
            message["price"] = _price(order)
            message["remaining_size"] = _size(order, max(0, order.size - order.filled))
        feed.publish_order(order.profile.id, order.spec.symbol, message)


    def match(self, order: Order, trade_id: int, price: int, lots: int, counterparty: str, maker: bool,
              now_ms: int) -> None:
        """One trade of the order: as the taker (`maker` False) or as the resting maker. `side` is the maker's side,
        as on the public feed; the profile's side of the trade is named by `taker_*` or `maker_*` fields."""
        feed = self._listener(order)
        if feed is None:
            return
        profile = order.profile
        maker_side = order.side if maker else ("sell" if order.side == "buy" else "buy")
        role = "maker" if maker else "taker"
        message = _head(order, "match", now_ms) | {
            "side": maker_side, "trade_id": trade_id,
            "maker_order_id": order.id if maker else counterparty,
            "taker_order_id": counterparty if maker else order.id,
            "size": _size(order, lots), "price": order.spec.price_str(price),
            f"{role}_user_id": profile.user_id, f"{role}_profile_id": profile.id, f"{role}_fee_rate": FEE_RATE,
        }
        feed.publish_order(profile.id, order.spec.symbol, message)


class Sequences:
    """Each product's sequence for the profile's messages: the product's own, or one more than the last message's
    when that is not larger (Coinbase's authenticated messages do not advance the public sequence; clients such
    as ccxt apply an order's later messages only when their sequence grows)."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def next(self, product_id: str, market_sequence: int) -> int:
        value = max(market_sequence, self._last.get(product_id, 0) + 1)
        self._last[product_id] = value
        return value
