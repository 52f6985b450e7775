"""Kraken Spot: hosts, endpoint catalog, pairs and assets, limits per tier, signing, answer classification,
WebSocket v2 streams and the book checksum.

Facts from Kraken's published docs and the official krakenfx/api-specs (spot-rest/openapi_v3.yaml);
see shared/reference/exchanges.md section 3. Kraken answers every REST call with the envelope
`{"error": [...], "result": {...}}`, and errors, rate limits included, arrive with HTTP 200: a
non-empty `error` list is the only signal, so every answer is classified from its body.

There is no Spot sandbox: order users send AddOrder with `validate=true` (checked, never placed)
unless the target is the simulator.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import math
import os
import time
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from exchanges.base import (
    OK,
    BookUpdate,
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

NAME = "kraken"

HOSTS = Hosts(
    production_rest=("https://api.kraken.com",),
    # Public and authenticated v2 hosts; the beta hosts share the production trading engine.
    production_ws=(
        "wss://ws.kraken.com/v2",
        "wss://ws-auth.kraken.com/v2",
        "wss://beta-ws.kraken.com/v2",
        "wss://beta-ws-auth.kraken.com/v2",
    ),
    testnet_rest=(),  # no Spot sandbox: AddOrder with validate=true instead
    testnet_ws=(),
    simulator_prefix="/kraken",
)
WS_PATH = "/ws/v2"  # where the simulator serves WebSocket v2 under its prefix (Kraken's own is the host's /v2)
# The authenticated v2 endpoint (orders, the executions channel): Kraken's wss://ws-auth.kraken.com/v2, the
# simulator's <prefix>/ws-auth/v2.
WS_AUTH_PRODUCTION = "wss://ws-auth.kraken.com/v2"
WS_AUTH_PATH = "/ws-auth/v2"

# --- Endpoints ----------------------------------------------------------------------------------

PUBLIC_PREFIX = "/0/public/"
PRIVATE_PREFIX = "/0/private/"


def _public(method: str) -> Endpoint:
    return Endpoint(method, "GET", f"{PUBLIC_PREFIX}{method}", 1)


def _private(method: str, weight: int, order: bool = False) -> Endpoint:
    return Endpoint(method, "POST", f"{PRIVATE_PREFIX}{method}", weight, signed=True, counts_as_order=order)


# The weight is the call's cost on the REST call counter. AddOrder and CancelOrder do not touch that
# counter: the matching engine's per-pair trading counter limits them instead.
ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        _public("Time"),
        _public("Assets"),
        _public("AssetPairs"),
        _public("Ticker"),
        _public("Depth"),
        _public("Trades"),
        _public("OHLC"),
        _private("Balance", 1),
        _private("BalanceEx", 1),
        _private("OpenOrders", 1),
        _private("AddOrder", 0, order=True),
        _private("CancelOrder", 0),
        _private("GetWebSocketsToken", 1),
    )
}
TRADING_ENDPOINTS = frozenset({"AddOrder", "CancelOrder"})
# Trades and OHLC are limited per IP and pair; the other public methods per IP.
PER_PAIR_PUBLIC = frozenset({"Trades", "OHLC"})

DEPTH_COUNT_DEFAULT, DEPTH_COUNT_MAX = 100, 500
TRADES_COUNT_DEFAULT, TRADES_COUNT_MAX = 1000, 1000
OHLC_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)  # minutes
OHLC_MAX_ROWS = 720

# --- Assets and pairs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Asset:
    id: str  # Kraken's asset name: "XXBT", "ZUSD", "SOL"
    altname: str  # "XBT", "USD"
    decimals: int  # balance precision
    display_decimals: int


@dataclass(frozen=True, slots=True)
class Pair:
    """One asset pair with its three names: the REST id (`XXBTZUSD`), its altname (`XBTUSD`), the v1
    `wsname` (`XBT/USD`) that AssetPairs reports, and the WebSocket v2 `symbol` (`BTC/USD`)."""

    id: str
    altname: str
    wsname: str
    symbol: str
    base: str  # asset ids
    quote: str
    pair_decimals: int  # price precision
    lot_decimals: int  # volume precision
    cost_decimals: int
    ordermin: str
    costmin: str

    @property
    def tick_size(self) -> str:
        return format(Decimal(1).scaleb(-self.pair_decimals), "f")


ASSETS: dict[str, Asset] = {
    a.id: a
    for a in (
        Asset("XXBT", "XBT", 10, 5),
        Asset("XETH", "ETH", 10, 5),
        Asset("SOL", "SOL", 10, 5),
        Asset("XXDG", "XDG", 8, 2),
        Asset("ZUSD", "USD", 4, 2),
    )
}

PAIRS: dict[str, Pair] = {
    p.id: p
    for p in (
        Pair("XXBTZUSD", "XBTUSD", "XBT/USD", "BTC/USD", "XXBT", "ZUSD", 1, 8, 5, "0.00005", "0.5"),
        Pair("XETHZUSD", "ETHUSD", "ETH/USD", "ETH/USD", "XETH", "ZUSD", 2, 8, 5, "0.002", "0.5"),
        Pair("SOLUSD", "SOLUSD", "SOL/USD", "SOL/USD", "SOL", "ZUSD", 2, 8, 5, "0.02", "0.5"),
        Pair("XDGUSD", "XDGUSD", "XDG/USD", "DOGE/USD", "XXDG", "ZUSD", 7, 8, 5, "13", "0.5"),
        Pair("XETHXXBT", "ETHXBT", "ETH/XBT", "ETH/BTC", "XETH", "XXBT", 5, 8, 10, "0.002", "0.00002"),
    )
}

# WebSocket v2 symbols use common codes where Kraken's own asset names differ.
V2_CODES = {"XBT": "BTC", "XDG": "DOGE"}
KRAKEN_CODES = {common: kraken for kraken, common in V2_CODES.items()}


def rest_pair(symbol: str) -> str:
    """The REST `pair` for a symbol: a v2 symbol becomes Kraken's altname (`BTC/USD` -> `XBTUSD`);
    a name without a slash (`XXBTZUSD`, `XBTUSD`) is passed on as is."""
    base, slash, quote = symbol.upper().partition("/")
    if not slash:
        return base
    return KRAKEN_CODES.get(base, base) + KRAKEN_CODES.get(quote, quote)


# Fee schedule shown in AssetPairs (volume in USD, percent), as Kraken publishes it.
TAKER_FEES = ((0, 0.4), (10_000, 0.35), (50_000, 0.24), (100_000, 0.22), (250_000, 0.2), (500_000, 0.18),
              (1_000_000, 0.16), (2_500_000, 0.14), (5_000_000, 0.12), (10_000_000, 0.1))
MAKER_FEES = ((0, 0.25), (10_000, 0.2), (50_000, 0.14), (100_000, 0.12), (250_000, 0.1), (500_000, 0.08),
              (1_000_000, 0.06), (2_500_000, 0.04), (5_000_000, 0.02), (10_000_000, 0.0))

# --- Limits (defaults; every one is configurable in the simulator) -----------------------------


@dataclass(frozen=True, slots=True)
class CounterLimit:
    """A decaying counter: each call adds its cost, the counter drains at `decay_per_s`, at most `max_counter`."""

    max_counter: float
    decay_per_s: float

    def safe_window(self) -> WindowLimit:
        """A sliding window that never lets the counter overflow: `max_counter` calls per drain time."""
        return WindowLimit(int(self.max_counter), max(1, math.ceil(self.max_counter / self.decay_per_s)))


@dataclass(frozen=True, slots=True)
class TierLimits:
    """A verification tier's limits (KR /exchange/guides/rest/ratelimits and .../general/ratelimits)."""

    max_counter: float  # REST call counter per API key ...
    decay_per_s: float  # ... and how fast it drains
    trading_threshold: float  # matching-engine counter per API key and pair ...
    trading_decay_per_s: float
    max_open_orders: int  # per pair


TIERS: dict[str, TierLimits] = {
    "starter": TierLimits(15.0, 0.33, 60.0, 1.0, 60),
    "intermediate": TierLimits(20.0, 0.5, 125.0, 2.34, 80),
    "pro": TierLimits(20.0, 1.0, 180.0, 3.75, 225),
}
DEFAULT_TIER = "starter"

# Public calls: Kraken says "1 per second (or less) would remain within the rate limits" and restricts
# faster callers "for a few seconds (or longer)"; the burst it tolerates is not published. Modelled as
# a per-IP decaying counter (Trades and OHLC per IP and pair).
PUBLIC_LIMIT = CounterLimit(max_counter=15.0, decay_per_s=1.0)


@dataclass(frozen=True, slots=True)
class Lockout:
    """`EGeneral:Temporary lockout` after repeated invalid keys or signatures: "typically a few minutes"
    (KR errors page; the official SDK says ~15 min)."""

    failures: int = 10  # invalid-key or invalid-signature answers an IP may get within window_s ...
    window_s: int = 60
    lockout_s: int = 300  # ... before its private calls are refused for this long


LOCKOUT = Lockout()

# Cancelling a young order costs more on the trading counter: (order younger than s, penalty).
CANCEL_PENALTIES: tuple[tuple[float, int], ...] = ((5, 8), (10, 6), (15, 5), (45, 4), (90, 2), (300, 1))
ADD_ORDER_COST = 1


def cancel_penalty(order_age_s: float) -> int:
    for younger_than_s, penalty in CANCEL_PENALTIES:
        if order_age_s < younger_than_s:
            return penalty
    return 0


# Polite users budget the public per-IP counter as a sliding window that can never overflow it.
RATE_LIMITS: dict[str, WindowLimit] = {"request_weight": PUBLIC_LIMIT.safe_window()}

# --- Errors --------------------------------------------------------------------------------------

RATE_LIMIT_EXCEEDED = "EAPI:Rate limit exceeded"  # the REST call counter of the key is full
TOO_MANY_REQUESTS = "EGeneral:Too many requests"  # public calls from one IP too fast
TRADING_RATE_LIMIT = "EOrder:Rate limit exceeded"  # the per-pair trading counter is full
TEMPORARY_LOCKOUT = "EGeneral:Temporary lockout"  # after repeated invalid keys or signatures
INVALID_KEY = "EAPI:Invalid key"
INVALID_SIGNATURE = "EAPI:Invalid signature"
INVALID_NONCE = "EAPI:Invalid nonce"
INVALID_SESSION = "ESession:Invalid session"  # WebSocket v2: a missing, unknown or expired token
UNKNOWN_PAIR = "EQuery:Unknown asset pair"
UNKNOWN_ASSET = "EQuery:Unknown asset"
INVALID_ARGUMENTS = "EGeneral:Invalid arguments"
UNKNOWN_METHOD = "EGeneral:Unknown method"
INTERNAL_ERROR = "EGeneral:Internal error"
SERVICE_BUSY = "EService:Busy"  # the service is overloaded (the simulator's answer when its capacity queue is full)

RATE_LIMIT_ERRORS = (RATE_LIMIT_EXCEEDED, TOO_MANY_REQUESTS, TRADING_RATE_LIMIT, "EOrder:Domain rate limit exceeded")
THROTTLED_PREFIX = "EService:Throttled"  # "EService: Throttled: <unix ts>": too many concurrent requests
# The service cannot take the request now (overloaded or offline): like a 5xx, its execution status is unknown.
SERVICE_ERRORS = (SERVICE_BUSY, "EService:Unavailable")


def error_kind(error: str) -> FailureKind:
    """The failure kind of one Kraken error string, e.g. `EAPI:Rate limit exceeded` -> rate_limited."""
    if error in RATE_LIMIT_ERRORS or error.replace(" ", "").startswith(THROTTLED_PREFIX):
        return FailureKind.RATE_LIMITED
    if error == TEMPORARY_LOCKOUT:
        return FailureKind.BANNED
    if error in SERVICE_ERRORS:
        return FailureKind.SERVER_ERROR
    if error == INVALID_NONCE:
        return FailureKind.TIMESTAMP
    if error in (INVALID_KEY, INVALID_SIGNATURE, "EGeneral:Permission denied", INVALID_SESSION):
        return FailureKind.AUTH
    if error.startswith("EOrder:"):
        return FailureKind.ORDER_REJECTED
    if error.startswith(("EQuery:", INVALID_ARGUMENTS)):
        return FailureKind.BAD_REQUEST
    return FailureKind.EXCHANGE_ERROR


def _error_code(error: str) -> str:
    """A low-cardinality form of an error string (the throttle error carries a timestamp)."""
    if error.replace(" ", "").startswith(THROTTLED_PREFIX):
        return THROTTLED_PREFIX
    return error[:80]


def classify(status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
    """Read a Kraken REST answer: ok only with an envelope whose `error` list has no error (warnings,
    `W...`, are fine); otherwise the first error's kind, whatever the HTTP status says."""
    retry_after = retry_after_seconds(headers)
    errors: list[str] | None = None
    if body[:1] == b"{":
        try:
            payload = json.loads(body)
            if isinstance(payload, dict) and isinstance(payload.get("error"), list):
                errors = [str(e) for e in payload["error"] if not str(e).startswith("W")]
                if not errors and "result" not in payload:
                    errors = None
        except ValueError:
            pass
    if errors:
        error = errors[0]
        return Verdict(False, error_kind(error), _error_code(error), f"HTTP {status}", retry_after)
    if status == 429:
        return Verdict(False, FailureKind.RATE_LIMITED, None, "HTTP 429", retry_after)
    if status >= 500:
        return Verdict(False, FailureKind.SERVER_ERROR, None, f"HTTP {status}", retry_after)
    if errors is None:
        return Verdict(False, FailureKind.PROTOCOL, None, f"HTTP {status} without Kraken's envelope")
    return OK if 200 <= status < 300 else Verdict(False, FailureKind.EXCHANGE_ERROR, None, f"HTTP {status}")


def result_of(body: bytes) -> Any:
    """The `result` of a successful answer."""
    return json.loads(body)["result"]


def pair_result(body: bytes) -> Any:
    """The one pair's entry in a per-pair answer (Ticker, Depth, Trades, OHLC), whatever name it is keyed by."""
    result = result_of(body)
    entries = [value for key, value in result.items() if key != "last"]
    if len(entries) != 1:
        raise ValueError(f"expected one pair in the answer, got {len(entries)}")
    return entries[0]


# --- Signing -------------------------------------------------------------------------------------


def api_sign(uri_path: str, nonce: str | int, post_data: str, secret_b64: str) -> str:
    """API-Sign = base64(HMAC-SHA512(base64decode(secret), uri_path + SHA256(nonce + post_data)))."""
    try:
        secret = base64.b64decode(secret_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the Kraken API secret is not valid base64") from None
    digest = hashlib.sha256(f"{nonce}{post_data}".encode()).digest()
    return base64.b64encode(hmac.new(secret, uri_path.encode() + digest, hashlib.sha512).digest()).decode()


class NonceSource:
    """Always-increasing nonces: the time in microseconds, and one more than the last when the clock has
    not moved on. One per process serves every user, so a key's nonces increase across them; processes
    sharing a key stay ordered as far as their clocks agree."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last = max(time.time_ns() // 1000, self._last + 1)
        return self._last


NONCES = NonceSource()


def sign_request(api_key: str, api_secret: str, params: Mapping[str, str | int | float], nonce: int,
                 uri_path: str) -> SignedRequest:
    """A private call: form body `nonce=...&<params>`, signed over the URI path and that body."""
    body = urlencode({"nonce": nonce, **params})
    headers = {
        "API-Key": api_key,
        "API-Sign": api_sign(uri_path, nonce, body, api_secret),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return SignedRequest(query="", body=body, headers=headers)


# --- Credentials ---------------------------------------------------------------------------------

# The simulator's demo account. Public by design: it only ever works against the local simulator.
SIM_DEMO_API_KEY = "simKrakenDemoKey00000000000000000000000000000000000000"
SIM_DEMO_API_SECRET = base64.b64encode(b"simKrakenDemoSecret-not-a-real-secret-0000000000000000000000000").decode()

USER_KEY_VARS = ("KRAKEN_API_KEY", "KRAKEN_API_SECRET")


def simulator_credentials(env: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """The demo account's key and base64 secret; SIM_KRAKEN_API_KEY and SIM_KRAKEN_API_SECRET override them."""
    key, secret = simulator_keys(USER_KEY_VARS, (SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET), env)
    return key, secret


# --- WebSocket v2 --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class WsLimits:
    """WebSocket limits. Kraken publishes none of these as numbers: its message rate limit is "dynamic"
    (error `Exceeded msg rate`), connection attempts are capped per IP by Cloudflare, and it closes
    connections that have no subscription. The defaults are the simulator's assumptions."""

    incoming_messages_per_s: int = 50  # per connection; more -> `Exceeded msg rate` and close 1008
    connection_attempts: int = 150  # per IP per connection_window_s; more -> HTTP 429 before the upgrade
    connection_window_s: int = 10
    unsubscribed_timeout_s: float = 10.0  # a connection without any subscription is closed after this
    heartbeat_interval_s: float = 1.0  # a heartbeat when nothing else was sent for this long
    # GetWebSocketsToken: "the token should be used within 15 minutes of creation" (KR get-websockets-token); a
    # connection that authenticated with it keeps working after that.
    token_ttl_s: float = 900.0


WS_LIMITS = WsLimits()

BOOK_DEPTH = 10  # the users' book subscription: Kraken's default depth, which is what the checksum covers
CHECKSUM_LEVELS = 10
BOOK_DEPTHS = (10, 25, 100, 500, 1000)
STREAM_KINDS = ("ticker", "trade", "book")
TRADE_SNAPSHOT_SIZE = 50


def stream_name(symbol: str, kind: str) -> str:
    """`<channel>:<v2 symbol>`, e.g. `book:BTC/USD`; the name Locust reports the stream's messages under."""
    return f"{kind}:{symbol.upper()}"


def subscribe_messages(streams: Iterable[str], first_req_id: int = 1) -> list[str]:
    """One subscribe request per channel, for all the channel's symbols."""
    by_channel: dict[str, list[str]] = {}
    for name in streams:
        channel, _, symbol = name.partition(":")
        by_channel.setdefault(channel, []).append(symbol)
    return [
        _request("subscribe", channel, symbols, first_req_id + i)
        for i, (channel, symbols) in enumerate(by_channel.items())
    ]


def resubscribe_messages(stream: str, req_id: int) -> list[str]:
    """Unsubscribe and subscribe one stream again: the new subscription starts with a fresh snapshot."""
    channel, _, symbol = stream.partition(":")
    return [_request("unsubscribe", channel, [symbol], req_id), _request("subscribe", channel, [symbol], req_id + 1)]


def _request(method: str, channel: str, symbols: list[str], req_id: int) -> str:
    params: dict[str, Any] = {"channel": channel, "symbol": symbols}
    if channel == "book":
        params["depth"] = BOOK_DEPTH  # an unsubscribe must repeat the depth
    if method == "subscribe":
        params["snapshot"] = True
    return json.dumps({"method": method, "params": params, "req_id": req_id}, separators=(",", ":"))


def ping_message(req_id: int) -> str:
    return json.dumps({"method": "ping", "req_id": req_id})


def parse_rfc3339_ms(text: str) -> float:
    """Milliseconds since the epoch of an RFC 3339 time such as `2023-10-06T17:35:55.440295Z`."""
    return datetime.fromisoformat(text).timestamp() * 1000.0


def decode_message(text: str | bytes) -> StreamMessage | None:
    """A channel message as a StreamMessage named `<channel>:<symbol>`, its `data` list kept as decoded
    with numbers as their wire text (the book checksum needs them so). None for heartbeats, status
    and successful acknowledgements; a pong is returned under the name `pong` (its times give the
    clock offset). A refused request raises StreamError."""
    payload = json.loads(text, parse_float=str, parse_int=str)
    if not isinstance(payload, dict):
        raise ValueError("Kraken v2 frames are JSON objects")
    channel = payload.get("channel")
    if channel is not None:
        data = payload.get("data")
        if channel in ("heartbeat", "status") or not data:
            return None
        last = data[-1]
        stamp = last.get("timestamp")
        return StreamMessage(f"{channel}:{data[0]['symbol']}", parse_rfc3339_ms(stamp) if stamp else None, payload)
    method = payload.get("method")
    if payload.get("success") is False or "error" in payload:
        error = str(payload.get("error", "request failed"))
        raise StreamError(Verdict(False, _stream_error_kind(error), str(method or "request"), error[:80]))
    if method == "pong":
        return StreamMessage("pong", None, payload)
    if method in ("subscribe", "unsubscribe"):
        return None
    raise ValueError("not a Kraken v2 frame")


def _stream_error_kind(error: str) -> FailureKind:
    if "rate" in error.lower():
        return FailureKind.RATE_LIMITED
    if "not supported" in error or "Invalid" in error:
        return FailureKind.BAD_REQUEST
    return FailureKind.EXCHANGE_ERROR


def pong_clock_offset_ms(sent_ms: float, received_ms: float, pong: Mapping[str, Any]) -> float:
    """Local minus server clock from a ping sent at `sent_ms` and its pong (server times in microseconds)."""
    server_ms = (parse_rfc3339_ms(pong["time_in"]) + parse_rfc3339_ms(pong["time_out"])) / 2.0
    return (sent_ms + received_ms) / 2.0 - server_ms


def book_update(message: StreamMessage) -> BookUpdate | None:
    """The book snapshot or update in a `book` message, levels as wire text."""
    payload = message.data
    if not isinstance(payload, dict) or payload.get("channel") != "book":
        return None
    entry = payload["data"][0]
    return BookUpdate(
        stream=message.stream,
        snapshot=payload.get("type") == "snapshot",
        bids=[(level["price"], level["qty"]) for level in entry.get("bids", ())],
        asks=[(level["price"], level["qty"]) for level in entry.get("asks", ())],
        checksum=int(entry["checksum"]),
    )


def checksum_field(text: str) -> str:
    """A price or quantity as the checksum takes it: the wire text without '.' and leading zeros."""
    return text.replace(".", "").lstrip("0")


def book_checksum(asks: Iterable[tuple[str, str]], bids: Iterable[tuple[str, str]]) -> int:
    """CRC32 (unsigned) of the top 10 asks (low to high) then the top 10 bids (high to low), each level
    its price then its quantity, as text without '.' and leading zeros (KR book-checksum-v2)."""
    parts = [checksum_field(p) + checksum_field(q) for p, q in _top(asks)]
    parts += [checksum_field(p) + checksum_field(q) for p, q in _top(bids)]
    return zlib.crc32("".join(parts).encode())


def _top(levels: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for level in levels:
        out.append(level)
        if len(out) == CHECKSUM_LEVELS:
            break
    return out


# --- Orders --------------------------------------------------------------------------------------


def parse_pair_rules(asset_pairs: bytes) -> SymbolRules:
    """Tick size, lot step, minimum volume and minimum cost of the one pair in an AssetPairs answer."""
    (info,) = result_of(asset_pairs).values()
    return SymbolRules(
        tick_size=Decimal(info.get("tick_size") or Decimal(1).scaleb(-int(info["pair_decimals"]))),
        step_size=Decimal(1).scaleb(-int(info["lot_decimals"])),
        min_qty=Decimal(info.get("ordermin") or "0"),
        min_notional=Decimal(info.get("costmin") or "0"),
    )


def parse_last_price(ticker: bytes) -> Decimal:
    """The last trade price (`c[0]`) from a Ticker answer for one pair."""
    return Decimal(pair_result(ticker)["c"][0])


def limit_order_params(pair: str, side: str, price: str, volume: str, validate: bool) -> dict[str, str]:
    params = {"pair": pair, "type": side, "ordertype": "limit", "price": price, "volume": volume}
    if validate:
        params["validate"] = "true"
    return params


def order_txid(add_order_answer: bytes) -> str | None:
    """The txid of a placed order; None for a validated one (which gets none)."""
    txids = result_of(add_order_answer).get("txid") or []
    return str(txids[0]) if txids else None


# --- Orders over WebSocket v2 (ws-auth) ------------------------------------------------------------

WS_ORDER_METHOD = "add_order"
WS_CANCEL_AFTER_METHOD = "cancel_all_orders_after"  # the dead man's switch (KR spot-websocket-v2/cancel_after)
EXECUTIONS = "executions"
# exec_type values after which no further event comes for the order (KR spot-websocket-v2/executions).
FINAL_EXEC_TYPES = frozenset({"filled", "canceled", "expired"})
WS_IDS_KEPT = 100_000  # ids remembered per process for answers and events still to come


class WsIds:
    """Kraken's v2 requests carry an integer `req_id`, and a `cl_ord_id` is a UUID or at most 18 characters of
    free text (KR guides/general/clordid); the order users name requests and orders with strings of their own.
    This maps them both ways, per process: a request's string to a new integer (forgotten once answered), an
    order's to a random short UUID (32 hex digits, unique across processes sharing the account). Every session of
    the account gets every event of its orders, so an order's id is kept past its final event; beyond WS_IDS_KEPT
    of either kind, the oldest are forgotten (their answers and events come far too late to be timed anyway)."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self._requests: dict[int, str] = {}
        self._orders: dict[str, str] = {}

    def req_id(self, request_id: str) -> int:
        number = next(self._numbers)
        _remember(self._requests, number, request_id)
        return number

    def request_of(self, req_id: object) -> str | None:
        return self._requests.pop(req_id, None) if isinstance(req_id, int) else None

    def cl_ord_id(self, client_order_id: str) -> str:
        cl_ord_id = uuid.uuid4().hex
        _remember(self._orders, cl_ord_id, client_order_id)
        return cl_ord_id

    def order_of(self, cl_ord_id: object) -> str | None:
        return self._orders.get(cl_ord_id) if isinstance(cl_ord_id, str) else None


def _remember(ids: dict[Any, str], key: Any, value: str) -> None:
    ids[key] = value
    if len(ids) > WS_IDS_KEPT:
        del ids[next(iter(ids))]


WS_IDS = WsIds()


def parse_ws_token(body: bytes) -> str:
    """The token of a GetWebSocketsToken answer."""
    token = result_of(body)["token"]
    if not isinstance(token, str) or not token:
        raise ValueError("GetWebSocketsToken answered without a token")
    return token


def ws_order_request(ids: WsIds, request_id: str, method: str, params: Mapping[str, Any]) -> str:
    """One v2 request frame; an order's `cl_ord_id` (the caller's client order id) is sent as its mapped UUID."""
    if "cl_ord_id" in params:
        params = {**params, "cl_ord_id": ids.cl_ord_id(str(params["cl_ord_id"]))}
    return json.dumps({"method": method, "params": params, "req_id": ids.req_id(request_id)}, separators=(",", ":"))


def decode_ws_order_message(ids: WsIds, text: str) -> WsApiAnswer | list[OrderUpdate] | None:
    """An answer to one of our requests (by its req_id), the events of an `executions` update for our orders
    (by their cl_ord_id; the state is the exec_type in capitals, e.g. NEW, TRADE, FILLED), or None for
    anything else (status, heartbeats, the snapshot, other clients' orders)."""
    payload = json.loads(text)
    if not isinstance(payload, dict):
        return None
    if payload.get("channel") == EXECUTIONS:
        if payload.get("type") != "update":
            return None
        updates = []
        for entry in payload.get("data") or []:
            exec_type = str(entry.get("exec_type", ""))
            final = exec_type in FINAL_EXEC_TYPES
            client_id = ids.order_of(entry.get("cl_ord_id"))
            if client_id is not None:
                stamp = entry.get("timestamp")
                updates.append(OrderUpdate(client_id, exec_type.upper(), final,
                                           parse_rfc3339_ms(stamp) if stamp else None))
        return updates or None
    if "method" not in payload or "success" not in payload:
        return None
    request_id = ids.request_of(payload.get("req_id"))
    if request_id is None:
        return None
    if payload["success"] is True:
        return WsApiAnswer(request_id, OK)
    error = str(payload.get("error") or "request failed")
    return WsApiAnswer(request_id, Verdict(False, error_kind(error), _error_code(error), "WS"))


class KrakenAdapter(ExchangeAdapter):
    name = NAME
    hosts = HOSTS
    endpoints = ENDPOINTS
    default_symbols = ("BTC/USD", "ETH/USD")
    default_streams = ("trade", "ticker", "book")
    rate_limits = RATE_LIMITS
    user_key_vars = USER_KEY_VARS
    simulator_demo_keys = (SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET)
    limit_unit = "calls/s"  # the public per-IP counter drains at this many calls per second
    limit_kind = LimitKind.DECAYING_COUNTER
    published_limit = PUBLIC_LIMIT.decay_per_s  # "a frequency of 1 per second (or less)" stays within it
    limit_signals = LimitSignals(
        rate_limited=f"{RATE_LIMIT_EXCEEDED}, {TOO_MANY_REQUESTS} or {TRADING_RATE_LIMIT} in an HTTP 200 body",
        banned=f"{TEMPORARY_LOCKOUT} in an HTTP 200 body",
        ban_advice=(
            f"Kraken locks out private calls ({TEMPORARY_LOCKOUT}, typically a few minutes) after repeated invalid "
            "keys or signatures, not for sending too fast: fix the key and the signature (see the auth errors) "
            "before sending more."
        ),
        ws_connect_limit="a per-IP cap on connection attempts that Kraken does not publish (Cloudflare's)",
    )
    time_endpoint = "Time"

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
        return classify(status, headers, body)

    def counts_toward_limit(self, endpoint: Endpoint) -> bool:
        """limit_unit is the public per-IP counter's: Trades and OHLC count per IP and pair, signed calls per key."""
        return not endpoint.signed and endpoint.name not in PER_PAIR_PUBLIC

    def ws_base_for(self, rest_base: str) -> str:
        """Kraken's WebSocket v2 endpoint for its own REST host; elsewhere (the simulator) `<base>/ws/v2`."""
        if self.target_kind(rest_base) is TargetKind.PRODUCTION:
            return self.hosts.production_ws[0]
        return super().ws_base_for(rest_base).rstrip("/") + WS_PATH

    def sign(self, request: RequestToSign) -> SignedRequest:
        # Kraken has no receive window: the nonce only has to increase, so it comes from NONCES, not the clock.
        return sign_request(request.api_key, request.api_secret, request.params, NONCES.next(), request.path)

    def parse_server_time(self, body: bytes) -> int:
        """Time's `unixtime` has whole seconds: the middle of that second is the unbiased estimate."""
        return int(result_of(body)["unixtime"]) * 1000 + 500

    # --- streams

    def is_stream_kind(self, kind: str) -> bool:
        return kind in STREAM_KINDS

    def stream_name(self, symbol: str, kind: str) -> str:
        return stream_name(symbol, kind)

    def stream_url(self, ws_base: str, streams: list[str]) -> str:
        return ws_base  # one endpoint; streams are subscribed by message

    def subscribe_messages(self, streams: list[str]) -> list[str]:
        return subscribe_messages(streams)

    def decode_stream_message(self, text: str | bytes) -> StreamMessage | None:
        return decode_message(text)

    def is_checksum_book_kind(self, kind: str) -> bool:
        return kind == "book"

    def book_update(self, message: StreamMessage) -> BookUpdate | None:
        return book_update(message)

    def book_checksum(self, asks: Iterable[tuple[str, str]], bids: Iterable[tuple[str, str]]) -> int:
        return book_checksum(asks, bids)

    def book_depth(self, kind: str) -> int:
        return BOOK_DEPTH

    def resubscribe_messages(self, stream: str, req_id: int) -> list[str]:
        return resubscribe_messages(stream, req_id)

    price_endpoint = "Ticker"

    def price_params(self, symbol: str) -> dict[str, str]:
        return {"pair": rest_pair(symbol)}

    def parse_price(self, body: bytes) -> Decimal:
        return parse_last_price(body)

    # --- orders over WebSocket (WsOrderApi)

    ws_order_method = WS_ORDER_METHOD
    ws_session_endpoint = "GetWebSocketsToken"

    def parse_ws_session_token(self, body: bytes) -> str:
        return parse_ws_token(body)

    def ws_order_url(self, rest_base: str, ws_base: str) -> str:
        """ws-auth for Kraken's own hosts; elsewhere (the simulator) the public base with /ws/v2 -> /ws-auth/v2."""
        if self.target_kind(rest_base) is TargetKind.PRODUCTION:
            return WS_AUTH_PRODUCTION
        base = ws_base.rstrip("/")
        return base.removesuffix(WS_PATH) + WS_AUTH_PATH

    def ws_session_requests(self, api_key: str, api_secret: str, timestamp_ms: int,
                            token: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Subscribe to the account's executions (no snapshot: only this session's orders are tracked)."""
        return [("subscribe", {"channel": EXECUTIONS, "token": token, "snap_orders": False, "snap_trades": False})]

    def ws_order_sent_params(self, params: dict[str, Any], api_key: str, api_secret: str, timestamp_ms: int,
                             token: str | None) -> dict[str, Any]:
        return params | {"token": token}

    def ws_request(self, request_id: str, method: str, params: Mapping[str, Any]) -> str:
        return ws_order_request(WS_IDS, request_id, method, params)

    def decode_ws_order_message(self, text: str) -> WsApiAnswer | list[OrderUpdate] | None:
        return decode_ws_order_message(WS_IDS, text)


ADAPTER = KrakenAdapter()
