"""Binance Spot: hosts, endpoint catalog and weights, limits, signing, answer classification, streams.

Facts from Binance's published Spot API docs (rest-api.md, web-socket-streams.md, errors.md,
CHANGELOG.md); see shared/reference/exchanges.md section 1. Weights are those in force since
2026-04-02 (successful order placement and cancellation weigh 0; failed ones still count).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from exchanges.base import (
    OK,
    DepthDiff,
    DepthSnapshot,
    Endpoint,
    ExchangeAdapter,
    FailureKind,
    Hosts,
    LimitSignals,
    OrderUpdate,
    RequestToSign,
    SignedRequest,
    StreamMessage,
    SymbolRules,
    TargetKind,
    Verdict,
    WindowLimit,
    WsApiAnswer,
    retry_after_seconds,
    simulator_keys,
)

NAME = "binance"

HOSTS = Hosts(
    production_rest=(
        "https://api.binance.com",
        "https://api-gcp.binance.com",
        "https://api1.binance.com",
        "https://api2.binance.com",
        "https://api3.binance.com",
        "https://api4.binance.com",
        "https://data-api.binance.vision",
    ),
    production_ws=(
        "wss://stream.binance.com:9443",
        "wss://stream.binance.com:443",
        "wss://data-stream.binance.vision",
    ),
    testnet_rest=("https://testnet.binance.vision", "https://api1.testnet.binance.vision"),
    testnet_ws=("wss://stream.testnet.binance.vision",),
    simulator_prefix="/binance",
)

# --- Request weights ---------------------------------------------------------------------------


def depth_weight(params: Mapping[str, str]) -> int:
    limit = _int_param(params, "limit", 100)
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def symbol_or_all_weight(params: Mapping[str, str]) -> int:
    """ticker/price and ticker/bookTicker: 2 for one symbol, 4 for several or all."""
    return 2 if "symbol" in params else 4


def ticker_24hr_weight(params: Mapping[str, str]) -> int:
    if "symbol" in params:
        return 2
    symbols = params.get("symbols")
    if symbols:
        try:
            count = len(json.loads(symbols))
        except (ValueError, TypeError):
            count = 1
        if count <= 20:
            return 2
        if count <= 100:
            return 40
    return 80


def open_orders_weight(params: Mapping[str, str]) -> int:
    return 6 if "symbol" in params else 80


def order_test_weight(params: Mapping[str, str]) -> int:
    return 20 if params.get("computeCommissionRates", "").lower() == "true" else 1


def _int_param(params: Mapping[str, str], key: str, default: int) -> int:
    try:
        return int(params.get(key, default))
    except (TypeError, ValueError):
        return default


def _ep(name: str, method: str, weight, signed: bool = False, order: bool = False, path: str = "") -> Endpoint:
    return Endpoint(name, method, path or f"/api/v3/{name}", weight, signed, order)


ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        _ep("ping", "GET", 1),
        _ep("time", "GET", 1),
        _ep("exchangeInfo", "GET", 20),
        _ep("depth", "GET", depth_weight),
        _ep("trades", "GET", 25),
        _ep("aggTrades", "GET", 4),
        _ep("klines", "GET", 2),
        _ep("ticker/price", "GET", symbol_or_all_weight),
        _ep("ticker/bookTicker", "GET", symbol_or_all_weight),
        _ep("ticker/24hr", "GET", ticker_24hr_weight),
        _ep("order/test", "POST", order_test_weight, signed=True),
        # Successful placement and cancellation weigh 0 since 2026-04-02; a failed call weighs 1.
        _ep("order", "POST", 1, signed=True, order=True),
        Endpoint("order GET", "GET", "/api/v3/order", 4, signed=True),
        Endpoint("order DELETE", "DELETE", "/api/v3/order", 1, signed=True),
        _ep("openOrders", "GET", open_orders_weight, signed=True),
        _ep("account", "GET", 20, signed=True),
    )
}

# Endpoints whose successful calls are free (the weight is charged only when they fail).
FREE_WHEN_SUCCESSFUL = frozenset({"order", "order DELETE"})

# --- WebSocket API (web-socket-api.md) ----------------------------------------------------------
WS_API_PATH = "/ws-api/v3"
# WS API method -> the REST endpoint whose weight, signing and order counting it shares (one source of truth).
WS_API_METHODS: dict[str, str] = {
    "order.place": "order",
    "order.test": "order/test",
    "order.cancel": "order DELETE",
    "order.status": "order GET",
    "openOrders.status": "openOrders",
}
WS_API_CONNECT_WEIGHT = 2  # opening a connection
WS_API_SESSION_WEIGHT = 2  # session.logon, userDataStream.subscribe and userDataStream.subscribe.signature
WS_API_PRODUCTION = "wss://ws-api.binance.com:443" + WS_API_PATH
WS_API_TESTNET = "wss://ws-api.testnet.binance.vision" + WS_API_PATH
FINAL_ORDER_STATES = frozenset({"FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"})


def ws_api_signature_payload(params: Mapping[str, object]) -> str:
    """What a signed WS API request signs: its parameters but `signature`, sorted by name, as `k=v&k=v`."""
    return "&".join(f"{k}={ws_api_value(v)}" for k, v in sorted(params.items()) if k != "signature")


def ws_api_signed(api_key: str, api_secret: str, params: Mapping[str, object], timestamp_ms: int) -> dict[str, object]:
    """`params` with apiKey, timestamp and their signature, as a signed WS API request carries them: Ed25519 when
    `api_secret` is an Ed25519 private key (PEM), else HMAC."""
    signed = {**params, "apiKey": api_key, "timestamp": timestamp_ms}
    payload = ws_api_signature_payload(signed)
    signed["signature"] = (ed25519_signature(api_secret, payload) if is_ed25519_private_key(api_secret)
                           else hmac_signature(api_secret, payload))
    return signed


def is_ed25519_private_key(secret: str) -> bool:
    """Whether `secret` is a private key in PEM (PKCS#8), as Binance's Ed25519 keys are kept, not an HMAC secret."""
    return secret.lstrip().startswith(PEM_PRIVATE_KEY)


@functools.lru_cache(maxsize=8)
def _ed25519_private_key(pem: str) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("the Ed25519 private key is not a readable unencrypted PEM key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the private key is not an Ed25519 key")
    return key


def ed25519_signature(private_key_pem: str, payload: str) -> str:
    """Binance's Ed25519 signature: the UTF-8 payload signed with the private key, base64 (web-socket-api.md)."""
    return base64.b64encode(_ed25519_private_key(private_key_pem).sign(payload.encode())).decode("ascii")


def ed25519_public_key(private_key_pem: str) -> Ed25519PublicKey:
    """The public key an account registers for the private key (what the exchange checks signatures with)."""
    return _ed25519_private_key(private_key_pem).public_key()


def ed25519_verify(public_key: Ed25519PublicKey, payload: str, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True), payload.encode())
    except (InvalidSignature, ValueError):
        return False
    return True


def decode_ws_api_message(text: str) -> WsApiAnswer | OrderUpdate | None:
    """A WS API answer (by request id) or an executionReport of the user data stream; None for other events."""
    message = json.loads(text)
    event = message.get("event")
    if event is not None:
        if event.get("e") != "executionReport":
            return None
        state = event["X"]
        return OrderUpdate(event["c"], state, state in FINAL_ORDER_STATES, event.get("E"))
    status = message.get("status")
    request_id = message.get("id")
    if status is None or request_id is None:
        return None
    orders = ws_order_count(message.get("rateLimits"))
    if status == 200:
        return WsApiAnswer(str(request_id), OK if orders is None else Verdict(True, order_count=orders))
    error = message.get("error") or {}
    retry_after_ms = (error.get("data") or {}).get("retryAfter")
    headers = {}
    if isinstance(retry_after_ms, int):
        server_ms = (error.get("data") or {}).get("serverTime") or retry_after_ms
        headers["Retry-After"] = str(max(0, (retry_after_ms - server_ms) // 1000))
    body = json.dumps({"code": error.get("code"), "msg": error.get("msg", "")}).encode()
    verdict = classify(int(status), headers, body)
    return WsApiAnswer(str(request_id), verdict if orders is None else replace(verdict, order_count=orders))


def ws_api_value(value: object) -> str:
    """A JSON parameter value as the WS API reads it (booleans as `true`/`false`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- Limits (defaults; every one is configurable in the simulator and the users) ---------------

RATE_LIMITS: dict[str, WindowLimit] = {
    "request_weight": WindowLimit(6000, 60),  # REQUEST_WEIGHT per IP
    "raw_requests": WindowLimit(300_000, 300),  # RAW_REQUESTS per IP
    "orders_10s": WindowLimit(100, 10),  # ORDERS (unfilled) per account
    "orders_1d": WindowLimit(200_000, 86_400),
}
FIRST_BAN_S = 120  # "from 2 minutes to 3 days", doubling for repeat offenders
MAX_BAN_S = 259_200

RECV_WINDOW_DEFAULT_MS = 5000
RECV_WINDOW_MAX_MS = 60000
TIMESTAMP_AHEAD_TOLERANCE_MS = 1000


@dataclass(frozen=True, slots=True)
class WsLimits:
    incoming_messages_per_s: int = 5  # ping, pong and JSON control messages all count
    max_streams_per_connection: int = 1024
    connection_attempts: int = 300  # per IP per connection_window_s
    connection_window_s: int = 300
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0
    max_lifetime_s: float = 86_400.0


WS_LIMITS = WsLimits()


@dataclass(frozen=True, slots=True)
class WsApiLimits:
    """The WebSocket API's own session rules (web-socket-api.md, User Data Stream requests); its connection rules
    (attempts per IP, ping/pong, lifetime) are the market streams' `WsLimits`."""

    active_subscriptions: int = 1000  # user data stream subscriptions at a time per session (-1191 beyond)


WS_API_LIMITS = WsApiLimits()

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT")
KLINE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")
STREAM_KINDS = (
    "trade", "aggTrade", "ticker", "miniTicker", "bookTicker",
    "depth", "depth@100ms", "depth5", "depth10", "depth20",
    "depth5@100ms", "depth10@100ms", "depth20@100ms",
)  # plus kline_<interval>

# --- Error codes -------------------------------------------------------------------------------

ERROR_KINDS: dict[int, FailureKind] = {
    -1003: FailureKind.RATE_LIMITED,  # TOO_MANY_REQUESTS
    -1015: FailureKind.RATE_LIMITED,  # TOO_MANY_ORDERS
    -1007: FailureKind.TIMEOUT,  # backend timeout, execution status unknown
    -1008: FailureKind.SERVER_ERROR,  # SERVER_BUSY: overloaded, try again later
    -1021: FailureKind.TIMESTAMP,  # INVALID_TIMESTAMP
    -1022: FailureKind.AUTH,  # INVALID_SIGNATURE
    -2014: FailureKind.AUTH,  # BAD_API_KEY_FMT
    -2015: FailureKind.AUTH,  # REJECTED_MBX_KEY
    -4056: FailureKind.AUTH,  # an HMAC key on the WS API's session.logon, which takes Ed25519 keys only
    -1100: FailureKind.BAD_REQUEST,
    -1102: FailureKind.BAD_REQUEST,
    -1121: FailureKind.BAD_REQUEST,
    -2010: FailureKind.ORDER_REJECTED,  # NEW_ORDER_REJECTED
    -2011: FailureKind.ORDER_REJECTED,  # CANCEL_REJECTED
    -2013: FailureKind.ORDER_REJECTED,  # NO_SUCH_ORDER
}


INTERVAL_UNITS_S = {"D": 86_400, "H": 3_600, "M": 60, "S": 1}  # a header suffix's letter -> its seconds
INTERVAL_NAMES = {"S": "SECOND", "M": "MINUTE", "H": "HOUR", "D": "DAY"}  # ... -> the rateLimits interval enum


def interval_suffix(interval_s: int) -> str:
    """Binance's header suffix for a window: 60 -> '1M', 10 -> '10S', 86400 -> '1D'."""
    for letter, unit_s in INTERVAL_UNITS_S.items():
        if unit_s > 1 and interval_s % unit_s == 0:
            return f"{interval_s // unit_s}{letter}"
    return f"{interval_s}S"


def used_weight_header(interval_s: int) -> str:
    return f"X-MBX-USED-WEIGHT-{interval_suffix(interval_s)}"


def order_count_header(interval_s: int) -> str:
    return f"X-MBX-ORDER-COUNT-{interval_suffix(interval_s)}"


def parse_order_count(headers: Mapping[str, str]) -> int | None:
    """The unfilled-order count of the shortest window among the X-MBX-ORDER-COUNT-<n><unit> headers present."""
    counts: list[tuple[int, int]] = []
    for key, value in headers.items():
        suffix = key.upper().removeprefix("X-MBX-ORDER-COUNT-")
        if suffix != key.upper() and suffix[:-1].isdigit() and suffix[-1:] in INTERVAL_UNITS_S and value.isdigit():
            counts.append((int(suffix[:-1]) * INTERVAL_UNITS_S[suffix[-1]], int(value)))
    return min(counts)[1] if counts else None


_NAME_SECONDS = {name: INTERVAL_UNITS_S[letter] for letter, name in INTERVAL_NAMES.items()}


def ws_order_count(rate_limits: object) -> int | None:
    """The unfilled-order count of the shortest ORDERS window in a WS API answer's `rateLimits`."""
    counts = [
        (_NAME_SECONDS.get(str(entry.get("interval")), 0) * int(entry.get("intervalNum", 0)), int(entry["count"]))
        for entry in rate_limits if isinstance(entry, dict) and entry.get("rateLimitType") == "ORDERS"
    ] if isinstance(rate_limits, list) else []
    return min(counts)[1] if counts else None


def parse_used_weight(headers: Mapping[str, str]) -> int | None:
    """The used request weight, from the first X-MBX-USED-WEIGHT-<n><unit> header present."""
    value = headers.get("X-MBX-USED-WEIGHT-1M") or headers.get("x-mbx-used-weight-1m")
    if value is None:
        for key, val in headers.items():
            k = key.upper()
            if k.startswith("X-MBX-USED-WEIGHT-"):
                value = val
                break
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def classify(status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
    """Read a Binance REST answer: ok, or what kind of failure it is."""
    used = parse_used_weight(headers)
    if 200 <= status < 300:
        orders = parse_order_count(headers)
        return OK if used is None and orders is None else Verdict(True, used_weight=used, order_count=orders)
    retry_after = retry_after_seconds(headers)
    code: int | None = None
    msg = ""
    if body[:1] == b"{":
        try:
            payload = json.loads(body)
            code = int(payload.get("code"))
            msg = str(payload.get("msg", ""))
        except (ValueError, TypeError, AttributeError):
            pass
    code_text = str(code) if code is not None else None
    if status == 418:
        return Verdict(False, FailureKind.BANNED, code_text, "HTTP 418 IP banned", retry_after, used)
    if status == 429:
        return Verdict(False, FailureKind.RATE_LIMITED, code_text, "HTTP 429", retry_after, used)
    if status >= 500:
        return Verdict(False, FailureKind.SERVER_ERROR, None, f"HTTP {status}", retry_after, used)
    kind = ERROR_KINDS.get(code, FailureKind.EXCHANGE_ERROR) if code is not None else FailureKind.EXCHANGE_ERROR
    label = _short_message(msg) if kind in (FailureKind.ORDER_REJECTED, FailureKind.EXCHANGE_ERROR) else ""
    return Verdict(False, kind, code_text, f"HTTP {status}{label}", retry_after, used)


def _short_message(msg: str) -> str:
    # Keep error texts low-cardinality: engine messages are fixed strings; cut anything long.
    return f" {msg[:60]}" if msg else ""


# --- Signing -----------------------------------------------------------------------------------


def hmac_signature(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of `payload` (query string followed by body, no separator)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def sign_request(
    api_key: str,
    api_secret: str,
    params: Mapping[str, str | int | float],
    timestamp_ms: int,
    recv_window_ms: int = RECV_WINDOW_DEFAULT_MS,
    in_body: bool = False,
) -> SignedRequest:
    """Add timestamp, recvWindow and signature; put the parameters in the query or the form body."""
    fields = dict(params)
    fields["recvWindow"] = recv_window_ms
    fields["timestamp"] = timestamp_ms
    encoded = urlencode(fields)
    signature = hmac_signature(api_secret, encoded)
    signed = f"{encoded}&signature={signature}"
    headers = {"X-MBX-APIKEY": api_key}
    if in_body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return SignedRequest(query="", body=signed, headers=headers)
    return SignedRequest(query=signed, body="", headers=headers)


# --- Credentials -------------------------------------------------------------------------------

# The simulator's demo account. Public by design: it only ever works against the local simulator.
SIM_DEMO_API_KEY = "simBinanceDemoKey0000000000000000000000000000000000000000000000000"
SIM_DEMO_API_SECRET = "simBinanceDemoSecret000000000000000000000000000000000000000000000"
USER_KEY_VARS = ("BINANCE_API_KEY", "BINANCE_API_SECRET")
# The demo account's Ed25519 API key, whose public key the simulator registers (Binance's session.logon takes only
# Ed25519 keys). Public by design, like the HMAC pair above.
SIM_DEMO_ED25519_API_KEY = "simBinanceDemoEd25519Key0000000000000000000000000000000000000000"
SIM_DEMO_ED25519_PRIVATE_KEY = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIHmFLIqO4njzVGDnDcbmNPhfLqjR2/xpZJhfO1iyR666\n"
    "-----END PRIVATE KEY-----\n"
)
ED25519_KEY_VARS = ("BINANCE_ED25519_API_KEY", "BINANCE_ED25519_PRIVATE_KEY")
PEM_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----"


def simulator_credentials(env: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """The demo account's key and secret; SIM_BINANCE_API_KEY and SIM_BINANCE_API_SECRET override them."""
    key, secret = simulator_keys(USER_KEY_VARS, (SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET), env)
    return key, secret


def simulator_ed25519_credentials(env: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """The demo account's Ed25519 API key and private key (PEM); SIM_BINANCE_ED25519_API_KEY and
    SIM_BINANCE_ED25519_PRIVATE_KEY override them."""
    key, private_key = simulator_keys(ED25519_KEY_VARS, (SIM_DEMO_ED25519_API_KEY, SIM_DEMO_ED25519_PRIVATE_KEY), env)
    return key, private_key


# --- WebSocket ---------------------------------------------------------------------------------


def stream_name(symbol: str, kind: str) -> str:
    return f"{symbol.lower()}@{kind}"


def combined_stream_url(ws_base: str, streams: list[str]) -> str:
    return f"{ws_base.rstrip('/')}/stream?streams={'/'.join(streams)}"


def is_stream_kind(kind: str) -> bool:
    return kind in STREAM_KINDS or (kind.startswith("kline_") and kind.removeprefix("kline_") in KLINE_INTERVALS)


DIFF_DEPTH_KINDS = frozenset({"depth", "depth@100ms"})


def decode_combined_message(text: str | bytes) -> StreamMessage | None:
    """A combined-stream frame `{"stream": name, "data": event}`; None for a control answer `{"result", "id"}`."""
    payload = json.loads(text)
    if not isinstance(payload, dict):
        raise ValueError("stream frame is not a JSON object")
    if "stream" not in payload:
        if "id" in payload:
            return None
        raise ValueError("not a combined-stream frame")
    data = payload["data"]
    event_time = data.get("E") if isinstance(data, dict) else None
    return StreamMessage(payload["stream"], float(event_time) if event_time is not None else None, data)


def depth_diff(message: StreamMessage) -> DepthDiff | None:
    """The `depthUpdate` event in a message (ids `U`..`u`), or None."""
    data = message.data
    if not isinstance(data, dict) or data.get("e") != "depthUpdate":
        return None
    return DepthDiff(data["s"], int(data["U"]), int(data["u"]), data["b"], data["a"])


# The snapshot a local book starts from: 1000 levels (weight 50) covers any level a diff can touch in practice.
DEPTH_SNAPSHOT_LIMIT = 1000


def parse_depth_snapshot(body: bytes) -> DepthSnapshot:
    payload = json.loads(body)
    return DepthSnapshot(int(payload["lastUpdateId"]), payload["bids"], payload["asks"])


# --- Orders ------------------------------------------------------------------------------------


def parse_symbol_rules(exchange_info: bytes, symbol: str) -> SymbolRules:
    """PRICE_FILTER, LOT_SIZE and (MIN_)NOTIONAL of `symbol` from an exchangeInfo answer."""
    for entry in json.loads(exchange_info).get("symbols", []):
        if entry.get("symbol") != symbol:
            continue
        filters = {f.get("filterType"): f for f in entry.get("filters", [])}
        price = filters.get("PRICE_FILTER", {})
        lot = filters.get("LOT_SIZE", {})
        notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
        return SymbolRules(
            tick_size=Decimal(price.get("tickSize", "0")),
            step_size=Decimal(lot.get("stepSize", "0")),
            min_qty=Decimal(lot.get("minQty", "0")),
            min_notional=Decimal(notional.get("minNotional", "0")),
        )
    raise ValueError(f"exchangeInfo has no symbol {symbol}")


def parse_ticker_price(body: bytes) -> Decimal:
    return Decimal(json.loads(body)["price"])


def limit_order_params(symbol: str, side: str, price: str, quantity: str) -> dict[str, str]:
    """A GTC LIMIT order answered with its status (RESULT), so a resting order can be cancelled."""
    return {
        "symbol": symbol,
        "side": side,
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": quantity,
        "price": price,
        "newOrderRespType": "RESULT",
    }


def resting_order_id(order_answer: bytes) -> int | None:
    """The orderId of an order that is still in the book after placement; None once it is done."""
    payload = json.loads(order_answer) if order_answer else {}
    if isinstance(payload, dict) and payload.get("status") in ("NEW", "PARTIALLY_FILLED"):
        return int(payload["orderId"])
    return None


class BinanceAdapter(ExchangeAdapter):
    name = NAME
    hosts = HOSTS
    endpoints = ENDPOINTS
    default_symbols = ("BTCUSDT", "ETHUSDT")
    default_streams = ("trade", "bookTicker", "depth@100ms")
    rate_limits = RATE_LIMITS
    order_count_limit = RATE_LIMITS["orders_10s"]
    ws_limits = WS_LIMITS
    user_key_vars = USER_KEY_VARS
    simulator_demo_keys = (SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET)
    ws_session_key_vars = ED25519_KEY_VARS
    simulator_ws_session_keys = (SIM_DEMO_ED25519_API_KEY, SIM_DEMO_ED25519_PRIVATE_KEY)
    limit_unit = f"weight/{RATE_LIMITS['request_weight'].interval_s}s"
    published_limit = float(RATE_LIMITS["request_weight"].limit)
    limit_signals = LimitSignals(
        rate_limited="HTTP 429 (codes -1003, -1015)",
        banned="HTTP 418",
        retry_after=True,
        ban_advice=(
            "Binance bans an IP (HTTP 418) that keeps sending after 429s, from 2 minutes up to 3 days for repeat "
            "offenders: stop on the first 429, wait for its Retry-After, and keep a client-side limiter under "
            "the weight limit."
        ),
        ws_connect_limit=f"{WS_LIMITS.connection_attempts} connection attempts per "
        f"{WS_LIMITS.connection_window_s // 60} minutes per IP",
    )
    recv_window_default_ms = RECV_WINDOW_DEFAULT_MS
    recv_window_max_ms = RECV_WINDOW_MAX_MS

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
        return classify(status, headers, body)

    def sign(self, request: RequestToSign) -> SignedRequest:
        # Binance signs the parameters only; method, path and passphrase play no part.
        return sign_request(request.api_key, request.api_secret, request.params, request.timestamp_ms,
                            request.recv_window_ms or RECV_WINDOW_DEFAULT_MS)

    def parse_server_time(self, body: bytes) -> int:
        return int(json.loads(body)["serverTime"])

    def is_stream_kind(self, kind: str) -> bool:
        return is_stream_kind(kind)

    def stream_name(self, symbol: str, kind: str) -> str:
        return stream_name(symbol, kind)

    def stream_url(self, ws_base: str, streams: list[str]) -> str:
        return combined_stream_url(ws_base, streams)

    def decode_stream_message(self, text: str | bytes) -> StreamMessage | None:
        return decode_combined_message(text)

    def is_diff_depth_kind(self, kind: str) -> bool:
        return kind in DIFF_DEPTH_KINDS

    def depth_diff(self, message: StreamMessage) -> DepthDiff | None:
        return depth_diff(message)

    def depth_snapshot_request(self, symbol: str) -> tuple[str, dict[str, str]]:
        return "depth", {"symbol": symbol, "limit": str(DEPTH_SNAPSHOT_LIMIT)}

    def parse_depth_snapshot(self, body: bytes) -> DepthSnapshot:
        return parse_depth_snapshot(body)

    price_endpoint = "ticker/price"

    ws_order_method = "order.place"

    def ws_order_url(self, rest_base: str, ws_base: str) -> str:
        kind = self.target_kind(rest_base)
        if kind == TargetKind.PRODUCTION:
            return WS_API_PRODUCTION
        if kind == TargetKind.TESTNET:
            return WS_API_TESTNET
        return ws_base.rstrip("/") + WS_API_PATH

    def ws_session_requests(self, api_key: str, api_secret: str, timestamp_ms: int,
                            token: str | None = None) -> list[tuple[str, dict]]:
        """An Ed25519 key logs the session on, then subscribes to the user data stream; an HMAC key cannot log on
        (-4056), so it subscribes with a signed request and signs every order (`ws_order_sent_params`)."""
        if is_ed25519_private_key(api_secret):
            return [("session.logon", ws_api_signed(api_key, api_secret, {}, timestamp_ms)),
                    ("userDataStream.subscribe", {})]
        return [("userDataStream.subscribe.signature", ws_api_signed(api_key, api_secret, {}, timestamp_ms))]

    def ws_order_sent_params(self, params: dict[str, Any], api_key: str, api_secret: str, timestamp_ms: int,
                             token: str | None) -> dict[str, Any]:
        if is_ed25519_private_key(api_secret):  # the session is logged on
            return params
        return ws_api_signed(api_key, api_secret, params, timestamp_ms)

    def ws_request(self, request_id: str, method: str, params: Mapping[str, object]) -> str:
        return json.dumps({"id": request_id, "method": method, "params": params}, separators=(",", ":"))

    def decode_ws_order_message(self, text: str) -> WsApiAnswer | OrderUpdate | None:
        return decode_ws_api_message(text)

    def price_params(self, symbol: str) -> dict[str, str]:
        return {"symbol": symbol}

    def parse_price(self, body: bytes) -> Decimal:
        return parse_ticker_price(body)


ADAPTER = BinanceAdapter()
