"""Bybit v5 (spot): hosts, endpoint catalog, instruments, limits, signing, answer classification and the public
WebSocket streams with their sequenced order books.

Facts from Bybit's published v5 docs (bybit-exchange.github.io/docs/v5, source github.com/bybit-exchange/docs);
docs/simulator.md's Bybit section lists each with its page. Every REST answer is the envelope
`{"retCode", "retMsg", "result", "retExtInfo", "time"}`; errors, the per-UID rate limit (10006) included, come
with HTTP 200, so answers are classified from the body. The per-IP limit is the exception: over it, Bybit
answers HTTP 403 ("access too frequent") and bans the IP for at least 10 minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
    RequestToSign,
    SignedRequest,
    StreamError,
    StreamMessage,
    SymbolRules,
    TargetKind,
    Verdict,
    WindowLimit,
    simulator_keys,
)

NAME = "bybit"

HOSTS = Hosts(
    production_rest=("https://api.bybit.com", "https://api.bytick.com"),
    production_ws=("wss://stream.bybit.com/v5/public/spot", "wss://stream.bybit.com/v5/private"),
    testnet_rest=("https://api-testnet.bybit.com",),
    testnet_ws=("wss://stream-testnet.bybit.com/v5/public/spot", "wss://stream-testnet.bybit.com/v5/private"),
    simulator_prefix="/bybit",
)
PUBLIC_SPOT_WS_PATH = "/v5/public/spot"  # the spot public stream's path, on Bybit's stream host and in the simulator
CATEGORY = "spot"

# --- Endpoints ----------------------------------------------------------------------------------


def _public(name: str) -> Endpoint:
    return Endpoint(name, "GET", f"/v5/{name}")


def _signed(name: str, method: str, order: bool = False) -> Endpoint:
    return Endpoint(name, method, f"/v5/{name}", signed=True, counts_as_order=order)


# Bybit counts requests, not weights: every endpoint costs 1 on the IP limit and on its own per-UID limit.
ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        _public("market/time"),
        _public("market/instruments-info"),
        _public("market/tickers"),
        _public("market/orderbook"),
        _public("market/recent-trade"),
        _public("market/kline"),
        _signed("order/create", "POST", order=True),
        _signed("order/cancel", "POST"),
        _signed("order/realtime", "GET"),
        _signed("order/history", "GET"),
        _signed("account/wallet-balance", "GET"),
        _signed("account/info", "GET"),
        _signed("user/query-api", "GET"),
        _signed("asset/coin/query-info", "GET"),
    )
}

ORDERBOOK_LIMIT_DEFAULT, ORDERBOOK_LIMIT_MAX = 1, 1000  # spot: [1, 1000], default 1
RECENT_TRADE_LIMIT_DEFAULT, RECENT_TRADE_LIMIT_MAX = 60, 60  # spot: [1, 60], default 60
KLINE_LIMIT_DEFAULT, KLINE_LIMIT_MAX = 200, 1000
KLINE_INTERVALS: dict[str, int] = {  # interval -> minutes (D, W, M: a day, a week, 30 days for the simulator)
    "1": 1, "3": 3, "5": 5, "15": 15, "30": 30, "60": 60, "120": 120, "240": 240, "360": 360, "720": 720,
    "D": 1440, "W": 10080, "M": 43200,
}

# --- Instruments --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instrument:
    """One spot symbol with the filters instruments-info reports (priceFilter, lotSizeFilter)."""

    symbol: str
    base: str
    quote: str
    tick_size: str
    base_precision: str  # the quantity step
    quote_precision: str
    min_order_qty: str
    max_order_qty: str
    min_order_amt: str  # minimum order value, in the quote coin
    max_order_amt: str

    @property
    def price_decimals(self) -> int:
        return _decimals(self.tick_size)

    @property
    def qty_decimals(self) -> int:
        return _decimals(self.base_precision)


def _decimals(step: str) -> int:
    return max(0, -Decimal(step).normalize().as_tuple().exponent)  # type: ignore[operator]


INSTRUMENTS: dict[str, Instrument] = {
    i.symbol: i
    for i in (
        Instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.000001", "0.00000001", "0.000048", "71.73956243", "1",
                   "2000000"),
        Instrument("ETHUSDT", "ETH", "USDT", "0.01", "0.00001", "0.0000001", "0.00062", "1229.2336343", "1", "2000000"),
        Instrument("SOLUSDT", "SOL", "USDT", "0.01", "0.001", "0.00001", "0.005", "15000", "1", "2000000"),
        Instrument("XRPUSDT", "XRP", "USDT", "0.0001", "0.01", "0.000001", "0.4", "500000", "1", "2000000"),
    )
}
COINS = ("BTC", "ETH", "SOL", "XRP", "USDT")

# --- Limits (defaults; every one is configurable in the simulator) -----------------------------


@dataclass(frozen=True, slots=True)
class IpLimit:
    """The HTTP IP limit: `requests` per `window_s` per IP over all endpoints; over it, HTTP 403 "access too
    frequent" and the IP is banned for `ban_s` ("wait for at least 10 minutes")."""

    requests: int = 600
    window_s: int = 5
    ban_s: float = 600.0


IP_LIMIT = IpLimit()

# Per UID and endpoint, requests per second (the API rate limit table, spot column; UTA 2.0 Pro defaults).
# Over it: retCode 10006 "Too many visits!" with HTTP 200.
UID_LIMITS_PER_S: dict[str, int] = {
    "order/create": 20,
    "order/cancel": 20,
    "order/realtime": 50,
    "order/history": 50,
    "account/wallet-balance": 50,
    "account/info": 50,
    "user/query-api": 10,
    "asset/coin/query-info": 5,
}

RATE_LIMITS: dict[str, WindowLimit] = {"request_weight": WindowLimit(IP_LIMIT.requests, IP_LIMIT.window_s)}

RECV_WINDOW_DEFAULT_MS = 5000
# The timestamp must satisfy server_time - recv_window <= timestamp < server_time + 1000.
TIMESTAMP_AHEAD_MS = 1000

# --- Errors --------------------------------------------------------------------------------------

PARAMS_ERROR = 10001
TIMESTAMP_ERROR = 10002
INVALID_API_KEY = 10003
SIGN_ERROR = 10004
PERMISSION_DENIED = 10005
TOO_MANY_VISITS = 10006
UNMATCHED_IP = 10010
SERVER_ERROR = 10016  # "internal server error; service is restarting" (the simulator's busy answer)
SYSTEM_FREQUENCY = 10429  # system level frequency protection
ORDER_NOT_EXISTS = 170213
INVALID_SYMBOL = 170121
INSUFFICIENT_BALANCE = 170131
ORDER_QTY_TOO_LOW = 170136
ORDER_QTY_DECIMALS = 170137
ORDER_PRICE_DECIMALS = 170134
ORDER_VALUE_TOO_LOW = 170140
DUPLICATE_ORDER_LINK_ID = 170141
INVALID_PARAMETER_VALUE = 170130
SPOT_INTERNAL_ERRORS = frozenset({170001, 170007})  # internal error; timeout waiting for the backend

MESSAGES: dict[int, str] = {
    PARAMS_ERROR: "Request parameter error.",
    TIMESTAMP_ERROR: "invalid request, please check your server timestamp or recv_window param",
    INVALID_API_KEY: "API key is invalid.",
    SIGN_ERROR: "error sign! origin_string[%s]",
    PERMISSION_DENIED: "Permission denied, please check your API key permissions.",
    TOO_MANY_VISITS: "Too many visits!",
    SERVER_ERROR: "Server error.",
    ORDER_NOT_EXISTS: "Order does not exist.",
    INVALID_SYMBOL: "Invalid symbol.",
    INSUFFICIENT_BALANCE: "Insufficient balance.",
    ORDER_QTY_TOO_LOW: "Order quantity lower than the minimum.",
    ORDER_QTY_DECIMALS: "Order volume decimal too long.",
    ORDER_PRICE_DECIMALS: "Order price decimal too long.",
    ORDER_VALUE_TOO_LOW: "Order value exceeded lower limit.",
    DUPLICATE_ORDER_LINK_ID: "Duplicate clientOrderId.",
    INVALID_PARAMETER_VALUE: "Data sent for parameter is not valid.",
}
IP_BAN_TEXT = "access too frequent"  # the body of the 403 over the IP limit


def error_kind(code: int) -> FailureKind:
    """The failure kind of a Bybit retCode."""
    if code in (TOO_MANY_VISITS, SYSTEM_FREQUENCY):
        return FailureKind.RATE_LIMITED
    if code == TIMESTAMP_ERROR:
        return FailureKind.TIMESTAMP
    if code in (INVALID_API_KEY, SIGN_ERROR, PERMISSION_DENIED, UNMATCHED_IP):
        return FailureKind.AUTH
    if code == SERVER_ERROR or code in SPOT_INTERNAL_ERRORS:
        return FailureKind.SERVER_ERROR
    if code in (PARAMS_ERROR, INVALID_SYMBOL, INVALID_PARAMETER_VALUE):
        return FailureKind.BAD_REQUEST
    if 170000 <= code < 180000 or 110000 <= code < 120000:
        return FailureKind.ORDER_REJECTED
    return FailureKind.EXCHANGE_ERROR


def classify(status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
    """Read a Bybit v5 answer: HTTP 403 is the IP ban; otherwise the envelope's `retCode` decides (0 is ok),
    whatever the HTTP status; an answer without the envelope is classified by its status."""
    if status == 403:
        return Verdict(False, FailureKind.BANNED, None, f"HTTP 403 {IP_BAN_TEXT}")
    code: int | None = None
    if body[:1] == b"{":
        try:
            payload = json.loads(body)
            if isinstance(payload, dict) and "retCode" in payload:
                code = int(payload["retCode"])
        except (ValueError, TypeError):
            pass
    if code is not None:
        if code == 0:
            return OK if 200 <= status < 300 else Verdict(False, FailureKind.EXCHANGE_ERROR, None, f"HTTP {status}")
        return Verdict(False, error_kind(code), str(code), f"HTTP {status}")
    if status == 429:
        return Verdict(False, FailureKind.RATE_LIMITED, None, "HTTP 429")
    if status >= 500:
        return Verdict(False, FailureKind.SERVER_ERROR, None, f"HTTP {status}")
    if status == 401:
        return Verdict(False, FailureKind.AUTH, None, f"HTTP {status}")
    if status in (400, 404):
        return Verdict(False, FailureKind.BAD_REQUEST, None, f"HTTP {status}")
    return Verdict(False, FailureKind.PROTOCOL, None, f"HTTP {status} without Bybit's envelope")


def result_of(body: bytes) -> Any:
    """The `result` of a successful answer."""
    return json.loads(body)["result"]


# --- Signing -------------------------------------------------------------------------------------


def signature(secret: str, timestamp_ms: int | str, api_key: str, recv_window_ms: int | str, payload: str) -> str:
    """X-BAPI-SIGN: the lower-case hex HMAC-SHA256 of timestamp + API key + recv window + payload, the payload
    being the query string of a GET or the JSON body of a POST."""
    text = f"{timestamp_ms}{api_key}{recv_window_ms}{payload}"
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def sign_request(request: RequestToSign) -> SignedRequest:
    """A GET signs its query string, a POST its JSON body (both sent exactly as signed)."""
    recv_window = request.recv_window_ms if request.recv_window_ms is not None else RECV_WINDOW_DEFAULT_MS
    params = {k: str(v) for k, v in request.params.items()}
    if request.method == "GET":
        query, body, payload = urlencode(params), "", urlencode(params)
    else:
        query, body = "", json.dumps(params, separators=(",", ":"))
        payload = body
    headers = {
        "X-BAPI-API-KEY": request.api_key,
        "X-BAPI-TIMESTAMP": str(request.timestamp_ms),
        "X-BAPI-RECV-WINDOW": str(recv_window),
        "X-BAPI-SIGN": signature(request.api_secret, request.timestamp_ms, request.api_key, recv_window, payload),
    }
    if body:
        headers["Content-Type"] = "application/json"
    return SignedRequest(query=query, body=body, headers=headers)


# --- Credentials ---------------------------------------------------------------------------------

# The simulator's demo account. Public by design: it only ever works against the local simulator.
SIM_DEMO_API_KEY = "simBybitDemoKey0000"
SIM_DEMO_API_SECRET = "simBybitDemoSecret-not-a-real-secret-000000"

USER_KEY_VARS = ("BYBIT_API_KEY", "BYBIT_API_SECRET")


def simulator_credentials(env: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """The demo account's key and secret; SIM_BYBIT_API_KEY and SIM_BYBIT_API_SECRET override them."""
    key, secret = simulator_keys(USER_KEY_VARS, (SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET), env)
    return key, secret


# --- Public WebSocket ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WsLimits:
    """Public WebSocket limits: 500 connections per 5 minutes per IP (per domain); at most 10 args per spot
    subscribe request; a connection with no ping-pong and no data is cut after 10 minutes. Bybit publishes
    no incoming-message rate: `incoming_messages_per_s` is the simulator's assumption."""

    connection_attempts: int = 500
    connection_window_s: int = 300
    max_args_per_request: int = 10
    idle_timeout_s: float = 600.0
    incoming_messages_per_s: int = 50


WS_LIMITS = WsLimits()

BOOK_DEPTH = 50  # the users' book topic: orderbook.50.<symbol>
BOOK_DEPTHS = (1, 50, 200, 1000)  # spot depths
STREAM_KINDS = ("trade", "ticker", "orderbook")
TOPIC_PREFIXES = {"trade": "publicTrade", "ticker": "tickers", "orderbook": f"orderbook.{BOOK_DEPTH}"}
PING_INTERVAL_S = 20.0  # the client's {"op":"ping"}, as Bybit recommends


def stream_name(symbol: str, kind: str) -> str:
    """The topic, e.g. `orderbook.50.BTCUSDT`, `publicTrade.BTCUSDT`, `tickers.BTCUSDT`."""
    return f"{TOPIC_PREFIXES[kind]}.{symbol.upper()}"


def subscribe_messages(streams: Iterable[str], max_args: int = WS_LIMITS.max_args_per_request) -> list[str]:
    """One subscribe request per `max_args` topics (spot takes at most 10 args per request)."""
    topics = list(streams)
    return [_op("subscribe", topics[i:i + max_args], str(i // max_args + 1)) for i in range(0, len(topics), max_args)]


def resubscribe_messages(stream: str, req_id: int) -> list[str]:
    """Unsubscribe and subscribe one topic again: the new subscription starts with a snapshot."""
    return [_op("unsubscribe", [stream], str(req_id)), _op("subscribe", [stream], str(req_id + 1))]


def ping_message(req_id: str = "") -> str:
    return json.dumps({"req_id": req_id, "op": "ping"}, separators=(",", ":")) if req_id else '{"op":"ping"}'


def _op(op: str, args: list[str], req_id: str) -> str:
    return json.dumps({"req_id": req_id, "op": op, "args": args}, separators=(",", ":"))


def decode_message(text: str | bytes) -> StreamMessage | None:
    """A topic message as a StreamMessage named by its topic (its `ts` the event time); None for subscription
    acknowledgements and pongs. A refused request raises StreamError."""
    payload = json.loads(text)
    if not isinstance(payload, dict):
        raise ValueError("Bybit frames are JSON objects")
    topic = payload.get("topic")
    if isinstance(topic, str):
        ts = payload.get("ts")
        return StreamMessage(topic, float(ts) if ts is not None else None, payload)
    if "op" in payload or "success" in payload:
        if payload.get("success") is False:
            message = str(payload.get("ret_msg") or "request failed")
            kind = FailureKind.BAD_REQUEST if "args" in message or "topic" in message else FailureKind.EXCHANGE_ERROR
            raise StreamError(Verdict(False, kind, str(payload.get("op") or "request"), message[:80]))
        return None
    raise ValueError("not a Bybit v5 frame")


def book_update(message: StreamMessage) -> BookUpdate | None:
    """The snapshot or delta of an `orderbook.<depth>.<symbol>` message. `u` is the update id, "always in
    sequence" per topic: a delta follows the message whose `u` is one less; a snapshot (or `u` = 1, a service
    restart's snapshot) starts the book afresh."""
    payload = message.data
    if not isinstance(payload, dict) or not str(payload.get("topic", "")).startswith("orderbook."):
        return None
    data = payload["data"]
    update_id = int(data["u"])
    snapshot = payload.get("type") == "snapshot" or update_id == 1
    return BookUpdate(
        stream=message.stream,
        snapshot=snapshot,
        bids=[(p, q) for p, q in data.get("b", ())],
        asks=[(p, q) for p, q in data.get("a", ())],
        sequence=update_id,
        prev_sequence=None if snapshot else update_id - 1,
    )


# --- Orders --------------------------------------------------------------------------------------


def parse_instrument_rules(body: bytes) -> SymbolRules:
    """Tick, quantity step and minimums of the one instrument in an instruments-info answer."""
    (info,) = result_of(body)["list"]
    lot, price = info["lotSizeFilter"], info["priceFilter"]
    return SymbolRules(
        tick_size=Decimal(price["tickSize"]),
        step_size=Decimal(lot["basePrecision"]),
        min_qty=Decimal(lot["minOrderQty"]),
        min_notional=Decimal(lot["minOrderAmt"]),
    )


def parse_last_price(body: bytes) -> Decimal:
    """`lastPrice` of the one ticker in a tickers answer."""
    (ticker,) = result_of(body)["list"]
    return Decimal(ticker["lastPrice"])


def limit_order_params(symbol: str, side: str, price: str, qty: str) -> dict[str, str]:
    return {"category": CATEGORY, "symbol": symbol, "side": side, "orderType": "Limit", "qty": qty, "price": price,
            "timeInForce": "GTC"}


def order_id(body: bytes) -> str:
    return str(result_of(body)["orderId"])


class BybitAdapter(ExchangeAdapter):
    name = NAME
    hosts = HOSTS
    endpoints = ENDPOINTS
    default_symbols = ("BTCUSDT", "ETHUSDT")
    default_streams = STREAM_KINDS
    rate_limits = RATE_LIMITS
    user_key_vars = USER_KEY_VARS
    simulator_demo_keys = (SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET)
    limit_unit = f"requests/{IP_LIMIT.window_s}s"  # the HTTP IP limit: 600 requests per 5 s
    limit_kind = LimitKind.FIXED_WINDOW
    published_limit = float(IP_LIMIT.requests)
    limit_signals = LimitSignals(
        rate_limited=f"retCode {TOO_MANY_VISITS} (Too many visits!) in an HTTP 200 body, per UID and endpoint",
        banned=f"HTTP 403 ({IP_BAN_TEXT}) over the IP limit",
        ban_advice=(
            "Bybit answers HTTP 403 and bans the IP for at least 10 minutes as soon as it sends more than 600 "
            "requests in 5 s (all endpoints together): stay under that rate, and after a 403 stop every session "
            "and wait 10 minutes."
        ),
        ws_connect_limit="500 connections per 5 minutes per IP",
    )
    time_endpoint = "market/time"
    recv_window_default_ms = RECV_WINDOW_DEFAULT_MS

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
        return classify(status, headers, body)

    def counts_toward_limit(self, endpoint: Endpoint) -> bool:
        return True  # the IP limit counts every request

    def ws_base_for(self, rest_base: str) -> str:
        """Bybit's public spot stream for its own REST hosts; elsewhere (the simulator) `<base>/v5/public/spot`."""
        kind = self.target_kind(rest_base)
        if kind is TargetKind.PRODUCTION:
            return self.hosts.production_ws[0]
        if kind is TargetKind.TESTNET:
            return self.hosts.testnet_ws[0]
        return super().ws_base_for(rest_base).rstrip("/") + PUBLIC_SPOT_WS_PATH

    def sign(self, request: RequestToSign) -> SignedRequest:
        return sign_request(request)

    def parse_server_time(self, body: bytes) -> int:
        return int(result_of(body)["timeNano"]) // 1_000_000

    # --- streams

    def is_stream_kind(self, kind: str) -> bool:
        return kind in STREAM_KINDS

    def stream_name(self, symbol: str, kind: str) -> str:
        return stream_name(symbol, kind)

    def stream_url(self, ws_base: str, streams: list[str]) -> str:
        return ws_base  # one endpoint; topics are subscribed by message

    def subscribe_messages(self, streams: list[str]) -> list[str]:
        return subscribe_messages(streams)

    def decode_stream_message(self, text: str | bytes) -> StreamMessage | None:
        return decode_message(text)

    def is_sequenced_book_kind(self, kind: str) -> bool:
        return kind == "orderbook"

    def book_update(self, message: StreamMessage) -> BookUpdate | None:
        return book_update(message)

    def book_depth(self, kind: str) -> int:
        return BOOK_DEPTH

    def resubscribe_messages(self, stream: str, req_id: int) -> list[str]:
        return resubscribe_messages(stream, req_id)

    price_endpoint = "market/tickers"

    def price_params(self, symbol: str) -> dict[str, str]:
        return {"category": CATEGORY, "symbol": symbol.upper()}

    def parse_price(self, body: bytes) -> Decimal:
        return parse_last_price(body)


ADAPTER = BybitAdapter()
