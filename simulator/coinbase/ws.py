"""The simulated Coinbase Exchange WebSocket feed at `/coinbase/ws-feed` (the real one is the root of its host).

Behaviour a client meets (Coinbase's websocket-feed docs; shared/reference/exchanges.md section 2.4):

- A client subscribes with `{"type": "subscribe", "product_ids": [...], "channels": [name or
  {"name", "product_ids"}]}` within `subscribe_deadline_s` (5 s) or is closed (1008). Every subscribe
  and unsubscribe is acknowledged with `{"type": "subscriptions", "channels": [...]}` listing all the
  connection's subscriptions; unsubscribing a channel named without products drops all of its products.
- Channels: `heartbeat` (every second per product: sequence, last_trade_id, time), `ticker` (one per
  match with 24 h figures and the best bid and ask; the latest one on subscription), `level2_batch`
  (a `snapshot` of the whole book, then one `l2update` with the changes of each market tick, book
  changes made by REST orders included), `matches` (one `match` per trade; `last_match` on
  subscription). `sequence` is per product and grows with every book change and trade, so it orders
  messages across channels; trade ids are contiguous per product, REST-driven trades included.
- `level2`, `level3`, `full` and `user` need an authenticated subscription (the subscribe message signed
  like `GET /users/self/verify`: key, passphrase, timestamp within 30 s, signature), and are refused
  without one as Coinbase refuses them. With one, `level2` is served (its messages are level2_batch's:
  the market changes once a tick), and so is `user`: the full channel's `received`, `open`, `match` and
  `done` messages of the subscriber's own profile's orders of the products named (`user_feed`), with its
  `user_id` and `profile_id`, to the connections subscribed for that profile only. level3 and full are not
  served. A bad signature gets
  `{"type": "error", "message": "Authentication Failed", "reason": "{\"message\": ...}"}`. Unknown
  channels, products and types, and malformed JSON, get `{"type": "error", "message": ..., "reason": ...}`.
- Limits from `sim.config.ws`: connection requests per IP as a token bucket (HTTP 429 before the
  upgrade), client messages per IP per second (an error, then close 1008), authenticated subscriptions
  per product and channel per profile (the subscribe is refused, nothing of it subscribed).
- Fault `sim.config.faults.ws_drop_per_min`: connections are cut without a close frame (the client sees
  1006). Readers that fall too far behind are cut off (`simulator.ws_fanout`). Server shutdown closes
  every connection with 1001.

Every message is encoded once and the same frame goes to every subscriber. Counters in `sim.stats.ws`:
connections_open/_total, messages_sent, subscriptions, rejected_attempts, rejected_subscriptions,
subscribe_timeouts, disconnects_msg_rate, control_errors, drops_slow_consumer, depth_diffs_lost, and
`user <type>` (the user channel's messages sent, per type);
injected drops count in `sim.stats.faults["ws_drop"]`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web

from exchanges.coinbase import AUTH_CHANNELS, CHANNELS, FEED_AUTH_PATH, FEED_PATH, TIMESTAMP_TOLERANCE_S, signature
from simulator import ws_server
from simulator.coinbase.market_data import maker_order_id, thirty_day_volume
from simulator.coinbase.user_feed import Sequences, UserMessages
from simulator.coinbase.wire import iso_time, secret_bytes, sequence, stable_uuid
from simulator.limits import FixedWindowCounter, TokenBucket
from simulator.market import BUY, SELL, DepthDiff, SymbolMarket, TickResult, Trade
from simulator.ws_fanout import text_frame
from simulator.ws_server import Handler, WsServer, dumps

if TYPE_CHECKING:
    from simulator.coinbase.account import Profile
    from simulator.coinbase.sim import CoinbaseSim

MAX_INCOMING_MESSAGE_BYTES = 64 * 1024
AUTH_REASON = ("level2, level3, and full channels now require authentication. Sign the subscribe message as "
               "for GET /users/self/verify (key, passphrase, timestamp, signature)")
USER_CHANNEL = "user"  # the profile's own orders
SERVED_CHANNELS = (*CHANNELS, "level2", USER_CHANNEL)  # level2 and user only on authenticated subscriptions
BOOK_CHANNELS = ("level2_batch", "level2")  # the same snapshot and l2update messages
POLICY_VIOLATION = int(WSCloseCode.POLICY_VIOLATION)


class Connection(ws_server.Connection):
    """One feed connection: its subscriptions and subscribe deadline."""

    __slots__ = ("counted", "deadline", "subscribed", "subscriptions")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport, ip: str, now: float) -> None:
        super().__init__(ws, transport, ip, now)
        self.subscriptions: dict[tuple[str, str], Channel] = {}  # (channel, product) -> channel, in order
        self.subscribed = False  # a subscribe has succeeded (the deadline no longer applies)
        self.counted: dict[tuple[str, str], str] = {}  # (channel, product) -> the profile it counts against
        self.deadline: asyncio.TimerHandle | None = None


class Channel:
    """One channel of one product and the connections subscribed to it."""

    __slots__ = ("name", "product_id", "subscribers")

    def __init__(self, name: str, product_id: str) -> None:
        self.name = name
        self.product_id = product_id
        self.subscribers: dict[Connection, None] = {}


class SubscribeError(Exception):
    """A subscription message Coinbase answers with an error message."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class SymbolFeed:
    """Turns one product's market ticks into feed messages on the channels subscribed for it."""

    def __init__(self, server: StreamServer, sym: SymbolMarket) -> None:
        self.server = server
        self.sym = sym
        self.product_id = sym.spec.symbol
        self.channels: dict[str, Channel] = {}  # channel name -> channel, only while it has subscribers
        self.trade_cursor = sym.next_trade_id  # the last trade id published
        self.update_cursor = sym.last_update_id  # the last book update id published
        self.previous_tick_ms: int | None = None

    def on_tick(self, result: TickResult) -> None:
        now_ms = result.time_ms
        new_second = self.previous_tick_ms is None or now_ms // 1000 != self.previous_tick_ms // 1000
        self.previous_tick_ms = now_ms
        self._trades(now_ms)
        self._book_changes(now_ms)
        if new_second and (channel := self.channels.get("heartbeat")) is not None:
            self.server.publish([channel], self.heartbeat(now_ms))

    # --- messages ---------------------------------------------------------------------------------

    def heartbeat(self, now_ms: int) -> dict[str, Any]:
        return {
            "type": "heartbeat", "sequence": sequence(self.sym, self.trade_cursor), "last_trade_id": self.trade_cursor,
            "product_id": self.product_id, "time": iso_time(now_ms),
        }

    def match(self, trade: Trade, seq: int, kind: str = "match") -> dict[str, Any]:
        sym = self.sym
        maker_side = BUY if trade.buyer_is_maker else SELL
        maker, taker = self.server.sim.trading.user_trades.get(trade.id, (None, None))
        return {
            "type": kind, "trade_id": trade.id,
            "maker_order_id": maker or maker_order_id(sym, maker_side, trade.price),
            "taker_order_id": taker or stable_uuid("taker", self.product_id, trade.id),
            "side": maker_side.lower(), "size": sym.spec.qty_str(trade.qty), "price": sym.spec.price_str(trade.price),
            "product_id": self.product_id, "sequence": seq, "time": iso_time(trade.time_ms),
        }

    def ticker(self, trade: Trade, seq: int, now_ms: int) -> dict[str, Any]:
        sym, spec, sim = self.sym, self.sym.spec, self.server.sim
        day = sim.day_stats(sym, now_ms)
        bid, ask = sym.best_bid(), sym.best_ask()
        return {
            "type": "ticker", "sequence": seq, "product_id": self.product_id, "price": spec.price_str(trade.price),
            "open_24h": spec.price_str(spec.ticks(day.open)), "volume_24h": f"{day.volume:.8f}",
            "low_24h": spec.price_str(spec.ticks(day.low)), "high_24h": spec.price_str(spec.ticks(day.high)),
            "volume_30d": f"{thirty_day_volume(sim, sym, now_ms):.8f}",
            "best_bid": spec.price_str(bid or 0), "best_bid_size": spec.qty_str(sym.bids[bid] if bid else 0),
            "best_ask": spec.price_str(ask or 0), "best_ask_size": spec.qty_str(sym.asks[ask] if ask else 0),
            "side": "sell" if trade.buyer_is_maker else "buy",  # the taker's side
            "time": iso_time(trade.time_ms), "trade_id": trade.id, "last_size": spec.qty_str(trade.qty),
        }

    def snapshot_frame(self) -> bytes:
        """The whole book as a `snapshot` frame, encoded once per market state."""
        sym = self.sym

        def encode() -> bytes:
            price, size = sym.spec.price_str, sym.spec.qty_str
            return text_frame(dumps({
                "type": "snapshot", "product_id": self.product_id,
                "bids": [[price(p), size(q)] for p, q in sym.top(BUY, len(sym.bids))],
                "asks": [[price(p), size(q)] for p, q in sym.top(SELL, len(sym.asks))],
            }))

        return self.server.sim.cached(("snapshot", self.product_id), encode)

    def last_published_trade(self) -> Trade | None:
        for trade in reversed(self.sym.trades):
            if trade.id <= self.trade_cursor:
                return trade
        return None

    # --- per tick ---------------------------------------------------------------------------------

    def _trades(self, now_ms: int) -> None:
        """Publish every trade since the last one published (REST-driven trades between ticks included)."""
        sym = self.sym
        if sym.next_trade_id == self.trade_cursor:
            return
        new: list[Trade] = []
        for trade in reversed(sym.trades):
            if trade.id <= self.trade_cursor:
                break
            new.append(trade)
        self.trade_cursor = sym.next_trade_id
        matches, tickers = self.channels.get("matches"), self.channels.get("ticker")
        if matches is None and tickers is None:
            return
        for trade in reversed(new):
            seq = sequence(sym, trade.id)
            if matches is not None:
                self.server.publish([matches], self.match(trade, seq))
            if tickers is not None:
                self.server.publish([tickers], self.ticker(trade, seq, now_ms))

    def _book_changes(self, now_ms: int) -> None:
        """Publish every book change since the last update id published as one `l2update`."""
        sym, cursor = self.sym, self.update_cursor
        self.update_cursor = sym.last_update_id
        channels = [c for name in BOOK_CHANNELS if (c := self.channels.get(name)) is not None]
        if not channels or sym.last_update_id == cursor:
            return
        diffs: list[DepthDiff] = []
        for diff in reversed(sym.diffs):
            if diff.last_id <= cursor:
                break
            diffs.append(diff)
        if not diffs:
            return
        diffs.reverse()
        if diffs[0].first_id != cursor + 1:
            self.server.stats.ws["depth_diffs_lost"] += 1  # more changes than the market keeps: a real gap
        final: dict[tuple[str, int], int] = {}
        for diff in diffs:
            for side, price, qty in diff.changes:
                final[(side, price)] = qty
        price_str, size_str = sym.spec.price_str, sym.spec.qty_str
        self.server.publish(channels, {
            "type": "l2update", "product_id": self.product_id,
            "changes": [[side.lower(), price_str(p), size_str(q)] for (side, p), q in final.items()],
            "time": iso_time(now_ms),
        })


class StreamServer(WsServer[Connection]):
    """All feed connections of one simulated Coinbase, and the channels they listen to."""

    def __init__(self, sim: CoinbaseSim) -> None:
        super().__init__(sim)
        self.sim: CoinbaseSim = sim
        self.feeds: dict[str, SymbolFeed] = {}
        limits = sim.config.ws
        self._connection_buckets: dict[str, TokenBucket] = {}
        self._messages = FixedWindowCounter(limits.messages_per_s, 1)
        self._subscriptions: Counter[tuple[str, str, str]] = Counter()  # (profile id, channel, product)
        self._user_sequences = Sequences()
        messages = UserMessages(self)
        for profile in sim.trading.profiles.values():
            profile.feed = messages

    def routes(self) -> list[tuple[str, Handler]]:
        return [(f"{self.sim.prefix}{FEED_PATH}", self.handle)]

    def on_start(self) -> None:
        self.feeds = {name: SymbolFeed(self, sym) for name, sym in self.sim.market.symbols.items()}

    def on_tick(self, sym: SymbolMarket, result: TickResult) -> None:
        feed = self.feeds.get(sym.spec.symbol)
        if feed is not None:
            feed.on_tick(result)

    # --- connections --------------------------------------------------------------------------

    def admit(self, request: web.Request, opening: object) -> web.StreamResponse | None:
        limits = self.sim.config.ws
        ip = request.remote or ""
        bucket = self._connection_buckets.get(ip)
        if bucket is None:
            bucket = self._connection_buckets[ip] = TokenBucket(limits.connections_per_s, limits.connection_burst)
        if not bucket.try_take(1, self.sim.clock()):
            self.stats.ws["rejected_attempts"] += 1
            return web.json_response({"message": "Too many connection requests"}, status=429)
        return None

    def websocket_response(self) -> web.WebSocketResponse:
        return web.WebSocketResponse(compress=False, max_msg_size=MAX_INCOMING_MESSAGE_BYTES)

    def not_an_upgrade(self) -> web.StreamResponse:
        return web.json_response({"message": "Expected a WebSocket upgrade"}, status=400)

    def connect(self, ws: web.WebSocketResponse, transport: asyncio.Transport, request: web.Request,
                opening: object) -> Connection:
        return Connection(ws, transport, request.remote or "", asyncio.get_running_loop().time())

    def on_open(self, conn: Connection, opening: object) -> None:
        conn.deadline = asyncio.get_running_loop().call_later(self.sim.config.ws.subscribe_deadline_s,
                                                              self._deadline, conn)

    def within_rate(self, conn: Connection) -> bool:
        """Coinbase counts client messages per IP, not per connection."""
        return self._messages.add(conn.ip, 1, self.sim.clock()) <= self.sim.config.ws.messages_per_s

    def refuse_rate(self, conn: Connection) -> None:
        self._send(conn, {"type": "error", "message": "Too many requests",
                          "reason": f"more than {self.sim.config.ws.messages_per_s} messages per second from this IP"})
        self.close(conn, POLICY_VIOLATION, "Too many requests")

    def _deadline(self, conn: Connection) -> None:
        if not conn.subscribed and not conn.closing:
            self.stats.ws["subscribe_timeouts"] += 1
            self.close(conn, POLICY_VIOLATION, "No subscription received in time")

    def on_forget(self, conn: Connection) -> None:
        if conn.deadline is not None:
            conn.deadline.cancel()
        for key in list(conn.subscriptions):
            self._unsubscribe(conn, key)

    # --- subscriptions ------------------------------------------------------------------------

    def on_text(self, conn: Connection, text: str) -> None:
        try:
            try:
                request = json.loads(text)
            except (ValueError, RecursionError):
                raise SubscribeError("Malformed JSON") from None
            if not isinstance(request, dict) or request.get("type") not in ("subscribe", "unsubscribe"):
                raise SubscribeError("Failed to subscribe", "Type has to be either subscribe or unsubscribe")
            if request["type"] == "subscribe":
                self._subscribe_request(conn, request)
            else:
                self._unsubscribe_request(conn, request)
        except SubscribeError as err:
            self.stats.ws["control_errors"] += 1
            error = {"type": "error", "message": err.message}
            if err.reason:
                error["reason"] = err.reason
            self._send(conn, error)

    def _authenticated(self, request: dict[str, Any]) -> Profile | None:
        """The profile of a subscribe message with valid credentials; None without credentials;
        SubscribeError with bad ones."""
        if not any(field in request for field in ("key", "signature", "passphrase", "timestamp")):
            return None
        profile = self.sim.trading.profiles.get(str(request.get("key", "")))
        timestamp = str(request.get("timestamp", ""))
        try:
            fresh = abs(self.sim.clock() - float(timestamp)) <= TIMESTAMP_TOLERANCE_S
        except ValueError:
            fresh = False
        if profile is None:
            problem = "Invalid API Key"
        elif not hmac.compare_digest(secret_bytes(str(request.get("passphrase", ""))),
                                     secret_bytes(profile.passphrase)):
            problem = "Invalid Passphrase"
        elif not fresh:
            problem = "request timestamp expired"
        elif not hmac.compare_digest(secret_bytes(str(request.get("signature", ""))),
                                     secret_bytes(signature(profile.secret, timestamp, "GET", FEED_AUTH_PATH, ""))):
            problem = "invalid signature"
        else:
            return profile
        raise SubscribeError("Authentication Failed", dumps({"message": problem}))

    def _requested(self, request: dict[str, Any], authenticated: bool, subscribing: bool) -> list[tuple[str, str]]:
        """The (channel, product) pairs a message names, in order; channel names without products
        (unsubscribe only) are returned with product ""."""
        products = request.get("product_ids", [])
        channels = request.get("channels")
        if not isinstance(products, list) or not all(isinstance(p, str) for p in products):
            raise SubscribeError("Failed to subscribe", "product_ids must be a list of strings")
        if not isinstance(channels, list) or not channels:
            raise SubscribeError("Failed to subscribe", "No channels provided")
        pairs: list[tuple[str, str]] = []
        for entry in channels:
            if isinstance(entry, str):
                name, names = entry, products
            elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
                name, names = entry["name"], entry.get("product_ids", products)
                if not isinstance(names, list) or not all(isinstance(p, str) for p in names):
                    raise SubscribeError("Failed to subscribe", "product_ids must be a list of strings")
            else:
                raise SubscribeError("Failed to subscribe", "channels must be names or {name, product_ids} objects")
            if name in AUTH_CHANNELS and subscribing and not authenticated:
                raise SubscribeError("Failed to subscribe", AUTH_REASON)
            if name not in SERVED_CHANNELS:
                reason = f"{name} is not served by the simulator" if name in AUTH_CHANNELS else (
                    f"{name} is not a valid channel")
                raise SubscribeError("Failed to subscribe", reason)
            for product in names:
                if product not in self.feeds:
                    raise SubscribeError("Failed to subscribe", f"{product} is not a valid product")
            if not names:
                if subscribing:
                    raise SubscribeError("Failed to subscribe", f"No product ids provided for {name}")
                pairs.append((name, ""))
            pairs.extend((name, product) for product in names)
        return list(dict.fromkeys(pairs))

    def _subscribe_request(self, conn: Connection, request: dict[str, Any]) -> None:
        """Subscribe to every pair named, or to none. Authenticated subscriptions count against their profile's
        cap per product and channel (Coinbase counts per account; anonymous ones have none)."""
        profile = self._authenticated(request)
        requested = self._requested(request, authenticated=profile is not None, subscribing=True)
        new = [pair for pair in requested if pair not in conn.subscriptions]
        cap = self.sim.config.ws.subscriptions_per_product_channel
        for name, product in new if profile is not None else ():
            if self._subscriptions[(profile.id, name, product)] >= cap:
                self.stats.ws["rejected_subscriptions"] += 1
                raise SubscribeError("Failed to subscribe",
                                     f"at most {cap} subscriptions to {name} for {product} are allowed")
        for name, product in new:
            feed = self.feeds[product]
            channel = feed.channels.get(name)
            if channel is None:
                channel = feed.channels[name] = Channel(name, product)
            channel.subscribers[conn] = None
            conn.subscriptions[(name, product)] = channel
            if profile is not None:
                conn.counted[(name, product)] = profile.id
                self._subscriptions[(profile.id, name, product)] += 1
            self.stats.ws["subscriptions"] += 1
        conn.subscribed = True
        self._acknowledge(conn)
        now_ms = int(self.sim.clock() * 1000)
        for name, product in new:
            self._greet(conn, self.feeds[product], name, now_ms)

    def _greet(self, conn: Connection, feed: SymbolFeed, channel: str, now_ms: int) -> None:
        """What a new subscription starts with: the book, the last match or the latest ticker."""
        if channel in BOOK_CHANNELS:
            self.fanout.send(conn, feed.snapshot_frame())
            self.stats.ws["messages_sent"] += 1
            return
        if channel not in ("matches", "ticker"):
            return
        trade = feed.last_published_trade()
        if trade is None:
            return
        seq = sequence(feed.sym, feed.trade_cursor)
        if channel == "matches":
            self._send(conn, feed.match(trade, seq, kind="last_match"))
        else:
            self._send(conn, feed.ticker(trade, seq, now_ms))

    def _unsubscribe_request(self, conn: Connection, request: dict[str, Any]) -> None:
        for name, product in self._requested(request, authenticated=False, subscribing=False):
            keys = [k for k in conn.subscriptions if k[0] == name] if not product else [(name, product)]
            for key in keys:
                self._unsubscribe(conn, key)
        self._acknowledge(conn)

    def _unsubscribe(self, conn: Connection, key: tuple[str, str]) -> None:
        channel = conn.subscriptions.pop(key, None)
        if channel is None:
            return
        channel.subscribers.pop(conn, None)
        profile_id = conn.counted.pop(key, None)
        if profile_id is not None:
            counted = (profile_id, *key)
            self._subscriptions[counted] -= 1
            if self._subscriptions[counted] <= 0:
                del self._subscriptions[counted]
        if not channel.subscribers:
            self.feeds[channel.product_id].channels.pop(channel.name, None)

    def _acknowledge(self, conn: Connection) -> None:
        by_channel: dict[str, list[str]] = {}
        for name, product in conn.subscriptions:
            by_channel.setdefault(name, []).append(product)
        self._send(conn, {"type": "subscriptions",
                            "channels": [{"name": n, "product_ids": p} for n, p in by_channel.items()]})

    # --- sending --------------------------------------------------------------------------------

    def publish(self, channels: list[Channel], payload: object) -> None:
        """Encode one message once and queue the same frame for every subscriber of `channels`."""
        frame: bytes | None = None
        for channel in channels:
            if channel.subscribers:
                frame = frame or text_frame(dumps(payload))
                self.stats.ws["messages_sent"] += self.fanout.broadcast(channel.subscribers, frame)

    def _send(self, conn: Connection, payload: object) -> None:
        self.send_text(conn, dumps(payload))

    # --- the user channel (`user_feed.UserFeed`) ---------------------------------------------------

    def _order_listeners(self, profile_id: str, product_id: str) -> list[Connection]:
        feed = self.feeds.get(product_id)
        channel = feed.channels.get(USER_CHANNEL) if feed is not None else None
        if channel is None:
            return []
        key = (USER_CHANNEL, product_id)
        return [conn for conn in channel.subscribers if conn.counted.get(key) == profile_id]

    def wants_orders(self, profile_id: str, product_id: str) -> bool:
        return bool(self._order_listeners(profile_id, product_id))

    def publish_order(self, profile_id: str, product_id: str, payload: dict[str, Any]) -> None:
        listeners = self._order_listeners(profile_id, product_id)
        if not listeners:
            return
        payload["sequence"] = self._user_sequences.next(product_id, sequence(self.feeds[product_id].sym))
        sent = self.fanout.broadcast(listeners, text_frame(dumps(payload)))
        self.stats.ws["messages_sent"] += sent
        self.stats.ws[f"user {payload['type']}"] += sent


SERVER_KEY = web.AppKey("coinbase_feed_server", StreamServer)


def add_routes(app: web.Application, sim: CoinbaseSim) -> None:
    """Serve `sim`'s feed at `<prefix>/ws-feed` and hook the server into the app's lifecycle."""
    StreamServer(sim).mount(app, SERVER_KEY)
