"""Coinbase Exchange: hosts, endpoint catalog, token-bucket limits, signing, answer classification, the feed.

Facts from Coinbase's published Exchange API docs (docs.cdp.coinbase.com/exchange: rest-api/rate-limits,
rest-api/authentication, rest-api/requests, websocket-feed/overview, websocket-feed/channels,
websocket-feed/rate-limits); see shared/reference/exchanges.md section 2. Every request weighs 1: the
limits are token buckets of requests (public per IP, private per profile), not weights.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

from exchanges.base import (
    OK,
    Endpoint,
    ExchangeAdapter,
    FailureKind,
    Hosts,
    LimitKind,
    LimitSignals,
    OrderUpdate,
    RequestToSign,
    SignedRequest,
    StreamError,
    StreamMessage,
    SymbolRules,
    TargetKind,
    Verdict,
    WindowLimit,
    WsApiAnswer,
    retry_after_seconds,
    simulator_keys,
)

NAME = "coinbase"

HOSTS = Hosts(
    production_rest=("https://api.exchange.coinbase.com", "https://api.pro.coinbase.com"),  # old clients: *.pro
    production_ws=(
        "wss://ws-feed.exchange.coinbase.com",
        "wss://ws-direct.exchange.coinbase.com",
        "wss://ws-feed.pro.coinbase.com",
    ),
    testnet_rest=("https://api-public.sandbox.exchange.coinbase.com", "https://api-public.sandbox.pro.coinbase.com"),
    testnet_ws=(
        "wss://ws-feed-public.sandbox.exchange.coinbase.com",
        "wss://ws-direct.sandbox.exchange.coinbase.com",
    ),
    simulator_prefix="/coinbase",
)

# --- Endpoints -----------------------------------------------------------------------------------


def _ep(name: str, method: str, path: str, signed: bool = False, order: bool = False) -> Endpoint:
    return Endpoint(name, method, path, 1, signed, order)


ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        _ep("time", "GET", "/time"),
        _ep("currencies", "GET", "/currencies"),
        _ep("currency", "GET", "/currencies/{currency_id}"),
        _ep("products", "GET", "/products"),
        _ep("product", "GET", "/products/{product_id}"),
        _ep("ticker", "GET", "/products/{product_id}/ticker"),
        _ep("book", "GET", "/products/{product_id}/book"),
        _ep("trades", "GET", "/products/{product_id}/trades"),
        _ep("candles", "GET", "/products/{product_id}/candles"),
        _ep("stats", "GET", "/products/{product_id}/stats"),
        _ep("orders", "POST", "/orders", signed=True, order=True),
        _ep("orders GET", "GET", "/orders", signed=True),
        _ep("orders DELETE", "DELETE", "/orders", signed=True),
        _ep("order GET", "GET", "/orders/{order_id}", signed=True),
        _ep("order DELETE", "DELETE", "/orders/{order_id}", signed=True),
        _ep("accounts", "GET", "/accounts", signed=True),
        _ep("fills", "GET", "/fills", signed=True),
    )
}

# Which token bucket each endpoint draws from: public per IP, private per profile, /fills its own.
PUBLIC, PRIVATE, FILLS = "public", "private", "fills"


def bucket_of(endpoint: Endpoint) -> str:
    if not endpoint.signed:
        return PUBLIC
    return FILLS if endpoint.name == "fills" else PRIVATE


# --- Limits (defaults; every one is configurable in the simulator) --------------------------------


@dataclass(frozen=True, slots=True)
class TokenBucketLimit:
    """A lazily refilled token bucket: `rate_per_s` sustained, up to `burst` at once; one token per request."""

    rate_per_s: float
    burst: int


TOKEN_BUCKETS: dict[str, TokenBucketLimit] = {
    PUBLIC: TokenBucketLimit(10.0, 15),  # per IP
    PRIVATE: TokenBucketLimit(15.0, 30),  # per profile
    FILLS: TokenBucketLimit(10.0, 20),  # private /fills, per profile
}
# For polite users' pacing and the analysis: the public bucket's sustained rate, as requests per 1 s window.
RATE_LIMITS: dict[str, WindowLimit] = {"request_weight": WindowLimit(10, 1)}
RATE_LIMIT_MESSAGES = {PUBLIC: "Public rate limit exceeded", PRIVATE: "Private rate limit exceeded",
                       FILLS: "Private rate limit exceeded"}

TIMESTAMP_TOLERANCE_S = 30.0  # CB-ACCESS-TIMESTAMP must be within 30 s of the API's time
MAX_OPEN_ORDERS = 500  # per profile


@dataclass(frozen=True, slots=True)
class WsLimits:
    connections_per_s: float = 8.0  # connection requests per IP: a token bucket ...
    connection_burst: int = 20  # ... with this burst
    messages_per_s: int = 100  # client messages per IP and second
    subscriptions_per_product_channel: int = 10  # per product and channel, per account (authenticated ones)
    subscribe_deadline_s: float = 5.0  # a connection that has not subscribed by then is closed


WS_LIMITS = WsLimits()

# --- Products and channels ----------------------------------------------------------------------

PRODUCTS = ("BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD", "ETH-BTC")
CHANNELS = ("heartbeat", "ticker", "level2_batch", "matches")  # the public channels the suite subscribes to
AUTH_CHANNELS = ("level2", "level3", "full", "user")  # need an authenticated subscription since 2023-08-01
CANDLE_GRANULARITIES = (60, 300, 900, 3600, 21600, 86400)
MAX_CANDLES = 300
BOOK_LEVELS = (1, 2, 3)
TRADES_PAGE_MAX = 1000

# --- Classification ---------------------------------------------------------------------------------

# 400 answers from the matching engine rather than from parameter checks.
ORDER_REJECTION_PREFIXES = (
    "Insufficient funds",
    "Order already done",
    "Too many open orders",
    "Post only mode",
    "Limit only mode",
    "Cancel only mode",
    "Trading is disabled",
)


def error_message(body: bytes) -> str:
    """The `message` of an error body `{"message": "..."}`; "" when there is none."""
    if body[:1] != b"{":
        return ""
    try:
        payload = json.loads(body)
    except ValueError:
        return ""
    message = payload.get("message") if isinstance(payload, dict) else None
    return str(message) if message is not None else ""


def classify(status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
    """Read a Coinbase REST answer: ok, or what kind of failure it is."""
    if 200 <= status < 300:
        return OK
    retry_after = retry_after_seconds(headers)
    if status >= 500:
        return Verdict(False, FailureKind.SERVER_ERROR, None, f"HTTP {status}", retry_after)
    message = error_message(body)
    label = f"HTTP {status} {message[:60]}".rstrip()
    if status == 429:
        kind = FailureKind.RATE_LIMITED
    elif status == 401:
        kind = FailureKind.TIMESTAMP if "timestamp" in message.lower() else FailureKind.AUTH
    elif status == 403:
        kind = FailureKind.AUTH
    elif status in (400, 404):
        kind = FailureKind.ORDER_REJECTED if message.startswith(ORDER_REJECTION_PREFIXES) else FailureKind.BAD_REQUEST
    else:
        kind = FailureKind.EXCHANGE_ERROR
    return Verdict(False, kind, None, label, retry_after)


# --- Signing ------------------------------------------------------------------------------------------


def signature(secret_b64: str, timestamp: str, method: str, request_path: str, body: str) -> str:
    """base64(HMAC-SHA256(base64decode(secret), timestamp + METHOD + requestPath + body)).

    `request_path` is the path with its query string (e.g. `/orders?status=open`); `body` is "" for GET.
    Raises ValueError when the secret is not base64."""
    try:
        key = base64.b64decode(secret_b64, validate=True)
    except binascii.Error:
        raise ValueError("the API secret is not base64") from None
    prehash = f"{timestamp}{method.upper()}{request_path}{body}".encode()
    return base64.b64encode(hmac.new(key, prehash, hashlib.sha256).digest()).decode()


FEED_AUTH_PATH = "/users/self/verify"  # an authenticated feed subscription is signed as GET of this path


def feed_auth_fields(api_key: str, api_secret: str, passphrase: str, timestamp_ms: int) -> dict[str, str]:
    """The fields that make a feed subscribe message authenticated (needed for level2, level3, full, user)."""
    timestamp = timestamp_text(timestamp_ms)
    return {"key": api_key, "passphrase": passphrase, "timestamp": timestamp,
            "signature": signature(api_secret, timestamp, "GET", FEED_AUTH_PATH, "")}


def timestamp_text(timestamp_ms: int) -> str:
    """CB-ACCESS-TIMESTAMP: seconds since the epoch, with decimals."""
    return f"{timestamp_ms / 1000:.3f}"


BOOLEAN_FIELDS = frozenset({"post_only"})  # JSON booleans in an order body, even when given as text


def json_body(params: Mapping[str, str | int | float | bool]) -> str:
    """The JSON body of a POST: values as given (decimals stay strings), BOOLEAN_FIELDS as true/false."""
    fields = {k: (str(v).lower() == "true" if k in BOOLEAN_FIELDS else v) for k, v in params.items()}
    return json.dumps(fields, separators=(",", ":"))


def sign_request(
    api_key: str,
    api_secret: str,
    passphrase: str,
    method: str,
    path: str,
    params: Mapping[str, str | int | float | bool],
    timestamp_ms: int,
) -> SignedRequest:
    """GET and DELETE send `params` in the query string, which the signature covers; POST sends them as a
    JSON body. The four CB-ACCESS headers carry the key, signature, timestamp and passphrase."""
    method = method.upper()
    if method in ("GET", "DELETE"):
        query, body = urlencode(params), ""
    else:
        query, body = "", json_body(params) if params else ""
    request_path = f"{path}?{query}" if query else path
    timestamp = timestamp_text(timestamp_ms)
    headers = {
        "CB-ACCESS-KEY": api_key,
        "CB-ACCESS-SIGN": signature(api_secret, timestamp, method, request_path, body),
        "CB-ACCESS-TIMESTAMP": timestamp,
        "CB-ACCESS-PASSPHRASE": passphrase,
        "Content-Type": "application/json",
    }
    return SignedRequest(query=query, body=body, headers=headers)


# --- Credentials --------------------------------------------------------------------------------------

# The simulator's demo profile. Public by design: it only ever works against the local simulator.
SIM_DEMO_API_KEY = "5f1c0de0c0ffee5151a7e0000000cb01"
SIM_DEMO_API_SECRET = base64.b64encode(b"simCoinbaseDemoSecret".ljust(64, b"0")).decode()
SIM_DEMO_PASSPHRASE = "simcoinbasedemo"
USER_KEY_VARS = ("COINBASE_API_KEY", "COINBASE_API_SECRET", "COINBASE_API_PASSPHRASE")
SIM_DEMO_KEYS = (SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET, SIM_DEMO_PASSPHRASE)


@dataclass(frozen=True, slots=True)
class DemoProfile:
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)  # base64
    passphrase: str = field(repr=False)


def simulator_credentials(env: Mapping[str, str] = os.environ) -> DemoProfile:
    """The demo profile's key, base64 secret and passphrase; SIM_COINBASE_API_* override them.
    Raises ValueError when SIM_COINBASE_API_SECRET is not base64."""
    key, secret, passphrase = simulator_keys(USER_KEY_VARS, SIM_DEMO_KEYS, env)
    try:
        base64.b64decode(secret, validate=True)
    except binascii.Error:
        raise ValueError("SIM_COINBASE_API_SECRET is not base64") from None
    return DemoProfile(key, secret, passphrase)


# --- The WebSocket feed -----------------------------------------------------------------------------

FEED_PATH = "/ws-feed"  # in the simulator; the real feed is the root of its own host


def stream_name(product_id: str, channel: str) -> str:
    """The suite's name for one channel of one product, e.g. "matches:BTC-USD" (also the Locust name)."""
    return f"{channel}:{product_id}"


def split_stream(name: str) -> tuple[str, str]:
    """(channel, product id) of a stream name."""
    channel, _, product_id = name.partition(":")
    return channel, product_id


def feed_url(ws_base: str) -> str:
    """The feed is the root of Coinbase's own WebSocket hosts; elsewhere (the simulator) it is `/ws-feed`."""
    base = ws_base.rstrip("/")
    if ADAPTER.target_kind(base) in (TargetKind.PRODUCTION, TargetKind.TESTNET):
        return base
    return f"{base}{FEED_PATH}"


def subscription_message(kind: str, streams: list[str]) -> str:
    """A `subscribe` or `unsubscribe` message for `streams`: one product list when every channel has the
    same products, else one `{"name", "product_ids"}` object per channel."""
    by_channel: dict[str, list[str]] = {}
    for name in streams:
        channel, product_id = split_stream(name)
        by_channel.setdefault(channel, []).append(product_id)
    product_sets = {tuple(products) for products in by_channel.values()}
    if len(product_sets) == 1:
        (products,) = product_sets
        message: dict[str, object] = {"type": kind, "product_ids": list(products), "channels": list(by_channel)}
    else:
        channels = [{"name": channel, "product_ids": products} for channel, products in by_channel.items()]
        message = {"type": kind, "channels": channels}
    return json.dumps(message, separators=(",", ":"))


LEVEL2_CHANNEL = "level2_batch"  # snapshot and l2update messages name no channel: the suite subscribes to this one
_CHANNEL_OF_TYPE = {
    "heartbeat": "heartbeat",
    "ticker": "ticker",
    "snapshot": LEVEL2_CHANNEL,
    "l2update": LEVEL2_CHANNEL,
    "match": "matches",
    "last_match": "matches",
}


def parse_time_ms(text: str) -> float:
    """Milliseconds since the epoch of an ISO 8601 time such as "2014-11-07T08:19:27.028459Z"."""
    return datetime.fromisoformat(text).timestamp() * 1000.0


def decode_feed_message(text: str | bytes) -> StreamMessage | None:
    """One feed message as a StreamMessage named "<channel>:<product>"; None for `subscriptions`
    acknowledgements. An `error` message raises StreamError. `last_match` (a replay of the latest match
    on subscription) and `snapshot` carry no event time."""
    payload = json.loads(text)
    if not isinstance(payload, dict):
        raise ValueError("feed message is not a JSON object")
    kind = payload.get("type")
    if kind == "subscriptions":
        return None
    if kind == "error":
        reason = str(payload.get("reason") or payload.get("message") or "")
        raise StreamError(Verdict(False, FailureKind.EXCHANGE_ERROR, message=reason[:80]))
    channel = _CHANNEL_OF_TYPE.get(str(kind))
    if channel is None:
        raise ValueError(f"unknown feed message type {kind!r}")
    time_text = payload.get("time")
    event_ms = parse_time_ms(time_text) if time_text and kind != "last_match" else None
    return StreamMessage(stream_name(payload["product_id"], channel), event_ms, payload)


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """A missed or out-of-order message, and the stream whose resubscription repairs it."""

    verdict: Verdict
    stream: str


class FeedMonitor:
    """Checks one connection's feed for missed and out-of-order messages, per product.

    Coinbase's `sequence` is per product and shared by all channels; it is contiguous only on the full
    channel, so on the public channels it proves order, not completeness. Completeness comes from the
    trade ids, which are contiguous per product: a `match` must follow the previous one's trade id, and a
    heartbeat's `last_trade_id` must not be ahead of the matches received. Level2 carries no sequence: the
    local book kept from `snapshot` and `l2update` must never cross. `last_match` and `snapshot` (sent on
    (re)subscription) restart a product's matches and book, and `restart(stream)` forgets what a
    resubscription replaces, so messages still in flight from before it are never reported.
    """

    def __init__(self) -> None:
        self._last_sequence: dict[tuple[str, str], int] = {}  # (channel, product) -> highest sequence seen
        self._last_trade: dict[str, int] = {}  # product -> trade id of the latest match (or heartbeat baseline)
        self.books: dict[str, tuple[dict[float, float], dict[float, float]]] = {}  # product -> (bids, asks)
        self._resyncing: set[str] = set()  # products waiting for a new snapshot after a resubscription

    def reset(self) -> None:
        """Forget everything (a new connection: every stream starts afresh)."""
        self._last_sequence.clear()
        self._last_trade.clear()
        self.books.clear()
        self._resyncing.clear()

    def restart(self, stream: str) -> None:
        """Forget one stream's state: it is being resubscribed."""
        channel, product = split_stream(stream)
        self._last_sequence.pop((channel, product), None)
        if channel == "matches":
            self._last_trade.pop(product, None)
        elif channel == LEVEL2_CHANNEL:
            self.books.pop(product, None)
            self._resyncing.add(product)  # updates sent before the resubscription took effect are expected

    def check(self, message: StreamMessage) -> FeedProblem | None:
        data = message.data
        kind = data["type"]
        product = data["product_id"]
        if kind == "snapshot":
            self.books[product] = (_levels(data["bids"]), _levels(data["asks"]))
            self._resyncing.discard(product)
            return None
        if kind == "l2update":
            return self._book_update(product, data["changes"], message.stream)
        if kind == "last_match":
            self._last_sequence[("matches", product)] = int(data["sequence"])
            self._last_trade[product] = int(data["trade_id"])
            return None
        key = (_CHANNEL_OF_TYPE[kind], product)
        sequence = int(data["sequence"])
        last = self._last_sequence.get(key)
        self._last_sequence[key] = sequence if last is None else max(last, sequence)
        if kind == "match":  # every match has a sequence and a trade id of its own
            trade_id = int(data["trade_id"])
            previous = self._last_trade.get(product)
            self._last_trade[product] = trade_id if previous is None else max(previous, trade_id)
            if (last is not None and sequence <= last) or (previous is not None and trade_id <= previous):
                return FeedProblem(OUT_OF_ORDER, message.stream)
            if previous is not None and trade_id != previous + 1:
                return FeedProblem(TRADES_SKIPPED, message.stream)
            return None
        if last is not None and sequence < last:  # a ticker or heartbeat may repeat the latest sequence
            return FeedProblem(OUT_OF_ORDER, message.stream)
        if kind == "heartbeat" and data.get("last_trade_id") is not None:
            announced = int(data["last_trade_id"])
            seen = self._last_trade.get(product)
            if seen is None or ("matches", product) not in self._last_sequence:
                self._last_trade[product] = announced  # the baseline for the first match
            elif announced > seen:
                self._last_trade[product] = announced
                return FeedProblem(TRADES_SKIPPED, stream_name(product, "matches"))
        return None

    def _book_update(self, product: str, changes: list[list[str]], stream: str) -> FeedProblem | None:
        book = self.books.get(product)
        if book is None:
            if product in self._resyncing:
                return None
            self._resyncing.add(product)  # reported once; the next snapshot starts the book
            return FeedProblem(OUT_OF_ORDER_L2, stream)
        bids, asks = book
        for side, price, size in changes:
            levels = bids if side == "buy" else asks
            amount = float(size)
            if amount == 0.0:
                levels.pop(float(price), None)
            else:
                levels[float(price)] = amount
        if bids and asks and max(bids) >= min(asks):
            self.books.pop(product)
            self._resyncing.add(product)
            return FeedProblem(BOOK_CROSSED, stream)
        return None


def _levels(rows: list[list[str]]) -> dict[float, float]:
    return {float(price): float(size) for price, size, *_ in rows}


OUT_OF_ORDER = Verdict(False, FailureKind.WS_GAP, message="out of order")
OUT_OF_ORDER_L2 = Verdict(False, FailureKind.WS_GAP, message="l2update before snapshot")
TRADES_SKIPPED = Verdict(False, FailureKind.WS_GAP, message="trade ids skipped")
BOOK_CROSSED = Verdict(False, FailureKind.WS_GAP, message="book crossed")


# --- The profile's own orders on the feed (the authenticated `user` channel) -----------------------------

USER_CHANNEL = "user"  # the full channel's messages of the authenticated profile's orders
ORDER_EVENT_TYPES = ("received", "open", "match", "done")  # `change` and `activate` concern features not used here
AUTH_FAILED = "Authentication Failed"


def user_subscription(products: list[str], api_key: str, api_secret: str, passphrase: str, timestamp_ms: int) -> str:
    """The signed subscribe message for the `user` channel of `products`."""
    message = {"type": "subscribe", "product_ids": list(products), "channels": [USER_CHANNEL],
               **feed_auth_fields(api_key, api_secret, passphrase, timestamp_ms)}
    return json.dumps(message, separators=(",", ":"))


def decode_user_message(text: str | bytes) -> WsApiAnswer | list[OrderUpdate] | None:
    """A `subscriptions` acknowledgement (ok) or an `error` (refused) as the subscription's answer; `received`,
    `open`, `match` and `done` as the profile's order events (a match names the profile's side by its `taker_*` or
    `maker_*` fields, both in a self-trade); None for other messages, which clients are to ignore."""
    payload = json.loads(text)
    if not isinstance(payload, dict):
        raise ValueError("feed message is not a JSON object")
    kind = payload.get("type")
    if kind == "subscriptions":
        return WsApiAnswer("", OK)
    if kind == "error":
        message = str(payload.get("message") or "")
        failure = FailureKind.AUTH if message == AUTH_FAILED else FailureKind.EXCHANGE_ERROR
        reason = str(payload.get("reason") or "")
        return WsApiAnswer("", Verdict(False, failure, message=f"{message} {reason}"[:80].rstrip()))
    if kind not in ORDER_EVENT_TYPES:
        return None
    time_text = payload.get("time")
    event_ms = parse_time_ms(time_text) if time_text else None
    if kind == "match":
        sides = [role for role in ("taker", "maker") if f"{role}_user_id" in payload or f"{role}_profile_id" in payload]
        return [OrderUpdate("", kind, False, event_ms, order_id=str(payload[f"{role}_order_id"])) for role in sides]
    return [OrderUpdate(str(payload.get("client_oid") or ""), kind, kind == "done", event_ms,
                        order_id=str(payload["order_id"]))]


# --- Orders -------------------------------------------------------------------------------------------


def parse_product_rules(product: bytes) -> SymbolRules:
    """Price tick, size step and minimum order value from a `GET /products/{id}` answer."""
    payload = json.loads(product)
    step = Decimal(payload["base_increment"])
    return SymbolRules(
        tick_size=Decimal(payload["quote_increment"]),
        step_size=step,
        min_qty=step,
        min_notional=Decimal(payload.get("min_market_funds") or "0"),
    )


def parse_ticker_price(body: bytes) -> Decimal:
    return Decimal(json.loads(body)["price"])


def limit_order_params(product_id: str, side: str, price: str, size: str) -> dict[str, str]:
    """A GTC post-only limit order: it rests in the book (or is rejected), never takes liquidity."""
    return {
        "type": "limit",
        "side": side,
        "product_id": product_id,
        "price": price,
        "size": size,
        "time_in_force": "GTC",
        "post_only": "true",
    }


def resting_order_id(order_answer: bytes) -> str | None:
    """The id of an order that may still rest in the book after placement; None when it is done or rejected."""
    payload = json.loads(order_answer) if order_answer else {}
    if isinstance(payload, dict) and payload.get("status") in ("pending", "open", "active"):
        return str(payload["id"])
    return None


class CoinbaseAdapter(ExchangeAdapter):
    name = NAME
    hosts = HOSTS
    endpoints = ENDPOINTS
    default_symbols = ("BTC-USD", "ETH-USD")
    default_streams = CHANNELS
    rate_limits = RATE_LIMITS
    user_key_vars = USER_KEY_VARS
    simulator_demo_keys = SIM_DEMO_KEYS
    limit_unit = "requests/s"
    limit_kind = LimitKind.TOKEN_BUCKET
    published_limit = TOKEN_BUCKETS[PUBLIC].rate_per_s  # the public bucket's sustained rate, per IP
    limit_signals = LimitSignals(
        rate_limited=f'HTTP 429 {{"message": "{RATE_LIMIT_MESSAGES[PUBLIC]}"}} (or Private)',
        ws_connect_limit=f"{WS_LIMITS.connections_per_s:g} connection requests per second per IP, "
        f"burst {WS_LIMITS.connection_burst}",
    )

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
        return classify(status, headers, body)

    def counts_toward_limit(self, endpoint: Endpoint) -> bool:
        return bucket_of(endpoint) == PUBLIC  # limit_unit is the public bucket's

    def sign(self, request: RequestToSign) -> SignedRequest:
        # Coinbase has no receive window: the timestamp must be within 30 s of the API's time.
        return sign_request(request.api_key, request.api_secret, request.passphrase, request.method, request.path,
                            request.params, request.timestamp_ms)

    def parse_server_time(self, body: bytes) -> int:
        return round(float(json.loads(body)["epoch"]) * 1000)

    def is_stream_kind(self, kind: str) -> bool:
        return kind in CHANNELS

    def stream_name(self, symbol: str, kind: str) -> str:
        return stream_name(symbol, kind)

    def stream_url(self, ws_base: str, streams: list[str]) -> str:
        return feed_url(ws_base)

    def subscribe_messages(self, streams: list[str]) -> list[str]:
        return [subscription_message("subscribe", streams)] if streams else []

    def resubscribe_messages(self, stream: str, req_id: int) -> list[str]:
        # Coinbase's subscription messages have no request id; the new subscription replays a level2
        # snapshot, the last match or the latest ticker.
        return [subscription_message("unsubscribe", [stream]), subscription_message("subscribe", [stream])]

    def decode_stream_message(self, text: str | bytes) -> StreamMessage | None:
        return decode_feed_message(text)

    price_endpoint = "ticker"

    def price_params(self, symbol: str) -> dict[str, str]:
        return {"product_id": symbol}

    def parse_price(self, body: bytes) -> Decimal:
        return parse_ticker_price(body)

    # --- FeedOrderApi: REST orders followed on the `user` channel ---

    feed_order_endpoint = "orders"

    def order_feed_url(self, rest_base: str, ws_base: str) -> str:
        return feed_url(ws_base)

    def order_feed_subscribe(self, symbols: list[str], api_key: str, api_secret: str, passphrase: str,
                             timestamp_ms: int) -> str:
        return user_subscription(symbols, api_key, api_secret, passphrase, timestamp_ms)

    def new_client_order_id(self) -> str:
        return str(uuid.uuid4())  # client_oid must be a UUID

    def placed_order_id(self, body: bytes) -> str | None:
        payload = json.loads(body) if body else None
        return str(payload["id"]) if isinstance(payload, dict) and payload.get("id") else None

    def decode_order_feed_message(self, text: str) -> WsApiAnswer | list[OrderUpdate] | None:
        return decode_user_message(text)

    def simulator_keys(self, env: Mapping[str, str] = os.environ) -> tuple[str, ...]:
        profile = simulator_credentials(env)  # checks that a SIM_COINBASE_API_SECRET given is base64
        return profile.api_key, profile.api_secret, profile.passphrase


ADAPTER = CoinbaseAdapter()
