"""OKX v5 spot: hosts, endpoint catalog with the per-endpoint limits, signing, answer classification, the public
WebSocket and its book checksum.

Facts from OKX's API v5 documentation (www.okx.com/docs-v5/en: #overview-rest-authentication,
#overview-rate-limits, #order-book-trading-market-data, #public-data-rest-api, #order-book-trading-trade,
#trading-account-rest-api-get-balance, #error-code, #overview-websocket) and the official SDK okxapi/python-okx;
see docs/simulator.md (OKX) for each fact with its source and where the simulator differs. Every answer is the
envelope `{"code": "0", "msg": "", "data": [...]}`; a failure has another code, with HTTP 200 for most business
errors, 401 for authentication, 400 for bad parameters and 429 for rate limits (code 50011).

Limits are per endpoint ("20 requests per 2 seconds"), counted per IP for public endpoints and per user ID (and
instrument, for orders) for private ones. OKX has no order-test endpoint: burst traders place real orders, so they
run only against the simulator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
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

NAME = "okx"

HOSTS = Hosts(
    production_rest=("https://www.okx.com", "https://aws.okx.com", "https://eea.okx.com", "https://us.okx.com"),
    production_ws=(
        "wss://ws.okx.com:8443/ws/v5/public",
        "wss://wsaws.okx.com:8443/ws/v5/public",
        "wss://ws.okx.com:8443/ws/v5/private",
        "wss://ws.okx.com:8443/ws/v5/business",
    ),
    # Demo trading shares the production REST host (header `x-simulated-trading: 1`), so it has no host of its own.
    testnet_rest=(),
    testnet_ws=("wss://wspap.okx.com:8443/ws/v5/public", "wss://wspap.okx.com:8443/ws/v5/private"),
    simulator_prefix="/okx",
)
WS_PATH = "/ws/v5/public"  # the public WebSocket, on OKX's WebSocket host and under the simulator's prefix

# --- Endpoints and their limits -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointLimit:
    """One endpoint's published limit: `limit` requests per `interval_s`, counted per `rule`."""

    limit: int
    interval_s: int = 2
    rule: str = "ip"  # "ip", "ip_instrument" (IP and instrument type), "user" (user ID), "user_instrument"


IP, IP_INSTRUMENT, USER, USER_INSTRUMENT = "ip", "ip_instrument", "user", "user_instrument"
RULES = (IP, IP_INSTRUMENT, USER, USER_INSTRUMENT)


def _public(name: str, path: str) -> Endpoint:
    return Endpoint(name, "GET", f"/api/v5/{path}", 1)


def _private(name: str, method: str, path: str, order: bool = False) -> Endpoint:
    return Endpoint(name, method, f"/api/v5/{path}", 1, signed=True, counts_as_order=order)


ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        _public("time", "public/time"),
        _public("instruments", "public/instruments"),
        _public("ticker", "market/ticker"),
        _public("tickers", "market/tickers"),
        _public("books", "market/books"),
        _public("trades", "market/trades"),
        _public("history-trades", "market/history-trades"),
        _public("candles", "market/candles"),
        _public("history-candles", "market/history-candles"),
        _private("order", "POST", "trade/order", order=True),
        _private("batch-orders", "POST", "trade/batch-orders", order=True),  # ccxt's createOrder
        _private("cancel-order", "POST", "trade/cancel-order"),
        _private("cancel-batch-orders", "POST", "trade/cancel-batch-orders"),  # ccxt's cancelOrder
        _private("order GET", "GET", "trade/order"),
        _private("orders-pending", "GET", "trade/orders-pending"),
        _private("balance", "GET", "account/balance"),
        _private("currencies", "GET", "asset/currencies"),
    )
}

# Each endpoint's own limit, as the docs publish it ("Rate Limit: N requests per 2 seconds", "Rate limit rule").
ENDPOINT_LIMITS: dict[str, EndpointLimit] = {
    "time": EndpointLimit(10),
    "instruments": EndpointLimit(20, rule=IP_INSTRUMENT),  # per IP and instType
    "ticker": EndpointLimit(20),
    "tickers": EndpointLimit(20),
    "books": EndpointLimit(40),
    "trades": EndpointLimit(100),
    "history-trades": EndpointLimit(20),
    "candles": EndpointLimit(40),
    "history-candles": EndpointLimit(20),
    "order": EndpointLimit(60, rule=USER_INSTRUMENT),
    "batch-orders": EndpointLimit(300, rule=USER_INSTRUMENT),  # orders (not requests) per 2 s
    "cancel-order": EndpointLimit(60, rule=USER_INSTRUMENT),
    "cancel-batch-orders": EndpointLimit(300, rule=USER_INSTRUMENT),  # orders (not requests) per 2 s
    "order GET": EndpointLimit(60, rule=USER_INSTRUMENT),
    "orders-pending": EndpointLimit(60, rule=USER),
    "balance": EndpointLimit(10, rule=USER),
    "currencies": EndpointLimit(6, interval_s=1, rule=USER),
}
# The limit `limit_unit` names: the ticker's, 20 requests per 2 s per IP, which a polling client meets first.
LIMITED_ENDPOINT = "ticker"
RATE_LIMITS: dict[str, WindowLimit] = {
    "request_weight": WindowLimit(ENDPOINT_LIMITS[LIMITED_ENDPOINT].limit, ENDPOINT_LIMITS[LIMITED_ENDPOINT].interval_s)
}
# Sub-account order limit: new orders (and amendments) per 2 s across all instruments (code 50061).
SUB_ACCOUNT_ORDER_LIMIT = WindowLimit(1000, 2)

TIMESTAMP_TOLERANCE_S = 30.0  # OK-ACCESS-TIMESTAMP further than this from the server's time: 50102
BOOKS_SZ_DEFAULT, BOOKS_SZ_MAX = 1, 400
TRADES_LIMIT_DEFAULT, TRADES_LIMIT_MAX = 100, 500
HISTORY_TRADES_LIMIT_MAX = 100
CANDLES_LIMIT_DEFAULT, CANDLES_LIMIT_MAX = 100, 300
CANDLES_RECENT = 1440  # market/candles serves the latest 1,440 bars; history-candles the older ones
BARS_MS: dict[str, int] = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1H": 3_600_000, "2H": 7_200_000, "4H": 14_400_000, "6Hutc": 21_600_000, "12Hutc": 43_200_000,
    "1Dutc": 86_400_000, "2Dutc": 172_800_000, "3Dutc": 259_200_000, "1Wutc": 604_800_000,
}
INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")

# --- Instruments -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instrument:
    """A spot instrument as `public/instruments` lists it (sizes in the base currency)."""

    inst_id: str  # "BTC-USDT"
    base: str
    quote: str
    tick_sz: str
    lot_sz: str
    min_sz: str


INSTRUMENTS: dict[str, Instrument] = {
    i.inst_id: i
    for i in (
        Instrument("BTC-USDT", "BTC", "USDT", "0.1", "0.00000001", "0.00001"),
        Instrument("ETH-USDT", "ETH", "USDT", "0.01", "0.000001", "0.0001"),
        Instrument("SOL-USDT", "SOL", "USDT", "0.01", "0.000001", "0.001"),
        Instrument("DOGE-USDT", "DOGE", "USDT", "0.00001", "0.000001", "10"),
        Instrument("ETH-BTC", "ETH", "BTC", "0.00001", "0.000001", "0.0001"),
    )
}
CURRENCIES: dict[str, str] = {"BTC": "Bitcoin", "ETH": "Ethereum", "SOL": "Solana", "DOGE": "Dogecoin",
                              "USDT": "Tether"}

# --- Errors ------------------------------------------------------------------------------------------

RATE_LIMITED_CODE = "50011"  # "Too Many Requests", HTTP 429
SUB_ACCOUNT_RATE_LIMITED = "50061"  # the sub-account's order rate, HTTP 200
SYSTEM_BUSY = "50013"  # "Systems are busy. Please try again later.", HTTP 429 (the simulator's full capacity queue)
SYSTEM_ERROR = "50026"
PARAMETER_EMPTY = "50014"  # "Parameter {0} can not be empty.", HTTP 400
PARAMETER_ERROR = "51000"  # "Parameter {0} error", HTTP 400
INSTRUMENT_MISSING = "51001"  # HTTP 200
INSUFFICIENT_BALANCE = "51008"
ORDER_MISSING_ON_CANCEL = "51400"
ORDER_MISSING = "51603"
BELOW_MIN_SIZE = "51020"
NOT_LOT_MULTIPLE = "51121"
TIMESTAMP_EXPIRED = "50102"
KEY_EMPTY, PASSPHRASE_EMPTY, PASSPHRASE_WRONG, SIGN_EMPTY, TIMESTAMP_EMPTY = "50103", "50104", "50105", "50106", "50107"
INVALID_KEY, INVALID_TIMESTAMP, INVALID_SIGNATURE = "50111", "50112", "50113"
BATCH_FAILED = "1"  # "All operations failed": the reason is each data entry's sCode

MESSAGES: dict[str, str] = {
    RATE_LIMITED_CODE: "Too Many Requests",
    SUB_ACCOUNT_RATE_LIMITED: "You've exceeded the max order rate limit for this account.",
    SYSTEM_BUSY: "Systems are busy. Please try again later.",
    SYSTEM_ERROR: "System error. Try again later",
    TIMESTAMP_EXPIRED: "Timestamp request expired.",
    KEY_EMPTY: 'Request header "OK-ACCESS-KEY" cannot be empty.',
    PASSPHRASE_EMPTY: 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.',
    PASSPHRASE_WRONG: 'Request header "OK-ACCESS-PASSPHRASE" incorrect.',
    SIGN_EMPTY: 'Request header "OK-ACCESS-SIGN" cannot be empty.',
    TIMESTAMP_EMPTY: 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.',
    INVALID_KEY: "Invalid OK-ACCESS-KEY.",
    INVALID_TIMESTAMP: "Invalid OK-ACCESS-TIMESTAMP.",
    INVALID_SIGNATURE: "Invalid signature.",
    INSTRUMENT_MISSING: "Instrument ID, Instrument ID code or Spread ID doesn't exist.",
    INSUFFICIENT_BALANCE: "Order failed. Insufficient balance.",
    ORDER_MISSING_ON_CANCEL: "Order cancellation failed as the order has been filled, canceled or does not exist.",
    ORDER_MISSING: "Order does not exist",
    BELOW_MIN_SIZE: "Order amount should be greater than the min available amount.",
    NOT_LOT_MULTIPLE: "Order quantity must be a multiple of the lot size.",
}
# HTTP statuses of the codes that are not answered with 200 (the error-code table's "HTTP Status Code").
HTTP_STATUS: dict[str, int] = {
    RATE_LIMITED_CODE: 429, SYSTEM_BUSY: 429, SYSTEM_ERROR: 500, PARAMETER_EMPTY: 400, PARAMETER_ERROR: 400,
    "50000": 400, "50002": 400, "50001": 503, "50004": 400,
    **dict.fromkeys((TIMESTAMP_EXPIRED, KEY_EMPTY, PASSPHRASE_EMPTY, PASSPHRASE_WRONG, SIGN_EMPTY, TIMESTAMP_EMPTY,
                     INVALID_KEY, INVALID_TIMESTAMP, INVALID_SIGNATURE, "50114"), 401),
}
RATE_LIMIT_CODES = frozenset({RATE_LIMITED_CODE, SUB_ACCOUNT_RATE_LIMITED})
SERVER_CODES = frozenset({"50001", "50004", SYSTEM_BUSY, SYSTEM_ERROR})
TIMESTAMP_CODES = frozenset({TIMESTAMP_EXPIRED, INVALID_TIMESTAMP, TIMESTAMP_EMPTY})
AUTH_CODES = frozenset({"50100", "50101", KEY_EMPTY, PASSPHRASE_EMPTY, PASSPHRASE_WRONG, SIGN_EMPTY, "50110",
                        INVALID_KEY, INVALID_SIGNATURE, "50114", "50119", "50120"})
BAD_REQUEST_CODES = frozenset({"50000", "50002", PARAMETER_EMPTY, PARAMETER_ERROR, INSTRUMENT_MISSING})


def error_kind(code: str, status: int) -> FailureKind:
    """The failure kind of one OKX error code (the HTTP status decides for codes it does not know)."""
    if code in RATE_LIMIT_CODES or (status == 429 and code not in SERVER_CODES):
        return FailureKind.RATE_LIMITED
    if code in SERVER_CODES or status >= 500:
        return FailureKind.SERVER_ERROR
    if code in TIMESTAMP_CODES:
        return FailureKind.TIMESTAMP
    if code in AUTH_CODES or status == 401:
        return FailureKind.AUTH
    if code in BAD_REQUEST_CODES or status == 400:
        return FailureKind.BAD_REQUEST
    if code.startswith(("51", "52", "54")):
        return FailureKind.ORDER_REJECTED
    return FailureKind.EXCHANGE_ERROR


def classify(status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
    """Read an OKX REST answer: ok only with code "0"; otherwise the code's kind (for "All operations failed",
    code 1, the first entry's sCode), whatever the HTTP status."""
    payload: Any = None
    if body[:1] == b"{":
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
    code = str(payload.get("code")) if isinstance(payload, dict) and "code" in payload else None
    if code is None:
        if status == 429:
            return Verdict(False, FailureKind.RATE_LIMITED, None, "HTTP 429")
        if status >= 500:
            return Verdict(False, FailureKind.SERVER_ERROR, None, f"HTTP {status}")
        return Verdict(False, FailureKind.PROTOCOL, None, f"HTTP {status} without OKX's envelope")
    if code == "0" and 200 <= status < 300:
        return OK
    if code in (BATCH_FAILED, "2"):
        entries = payload.get("data") or []
        first = entries[0] if entries and isinstance(entries[0], dict) else {}
        code = str(first.get("sCode") or code)
    return Verdict(False, error_kind(code, status), code, f"HTTP {status}")


def data_of(body: bytes) -> list[Any]:
    """The `data` list of a successful answer."""
    return json.loads(body)["data"]


# --- Signing -------------------------------------------------------------------------------------


def timestamp_text(timestamp_ms: int) -> str:
    """OK-ACCESS-TIMESTAMP: ISO 8601 in UTC with milliseconds, e.g. `2020-12-08T09:08:57.715Z`."""
    moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{timestamp_ms % 1000:03d}Z"


def parse_timestamp_ms(text: str) -> int:
    """Milliseconds since the epoch of an OK-ACCESS-TIMESTAMP; ValueError when it is not one."""
    if not text.endswith("Z"):
        raise ValueError(f"not an ISO 8601 UTC time: {text!r}")
    return round(datetime.fromisoformat(text[:-1] + "+00:00").timestamp() * 1000)


def signature(secret: str, timestamp: str, method: str, request_path: str, body: str) -> str:
    """OK-ACCESS-SIGN = base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body)); the secret is used as
    its text (not decoded), `request_path` carries a GET's query string, `body` is "" for a GET."""
    prehash = f"{timestamp}{method.upper()}{request_path}{body}".encode()
    return base64.b64encode(hmac.new(secret.encode(), prehash, hashlib.sha256).digest()).decode()


def json_body(params: Mapping[str, Any] | list[Mapping[str, Any]]) -> str:
    """A POST's JSON body: an object, or an array for the batch endpoints."""
    return json.dumps(params if isinstance(params, list) else dict(params), separators=(",", ":"))


def sign_request(api_key: str, api_secret: str, passphrase: str, method: str, path: str,
                 params: Mapping[str, Any], timestamp_ms: int) -> SignedRequest:
    """A private call: GET sends `params` in the query string (part of the signed request path), POST as a JSON
    body (signed as sent)."""
    method = method.upper()
    if method == "GET":
        query, body = urlencode(params), ""
    else:
        query, body = "", json_body(params)
    request_path = f"{path}?{query}" if query else path
    timestamp = timestamp_text(timestamp_ms)
    headers = {
        "OK-ACCESS-KEY": api_key,
        "OK-ACCESS-SIGN": signature(api_secret, timestamp, method, request_path, body),
        "OK-ACCESS-TIMESTAMP": timestamp,
        "OK-ACCESS-PASSPHRASE": passphrase,
        "Content-Type": "application/json",
    }
    return SignedRequest(query=query, body=body, headers=headers)


# --- Credentials ---------------------------------------------------------------------------------

# The simulator's demo account. Public by design: it only ever works against the local simulator.
SIM_DEMO_API_KEY = "5ee1a5e0-0000-4000-8000-00000000c0de"
SIM_DEMO_API_SECRET = "53494D4F4B5844454D4F5345435245540000000000000000"
SIM_DEMO_PASSPHRASE = "simOkxDemo1!"
USER_KEY_VARS = ("OKX_API_KEY", "OKX_API_SECRET", "OKX_API_PASSPHRASE")
SIM_DEMO_KEYS = (SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET, SIM_DEMO_PASSPHRASE)


@dataclass(frozen=True, slots=True)
class DemoAccount:
    api_key: str
    api_secret: str
    passphrase: str

    def __repr__(self) -> str:
        return "DemoAccount(...)"


def simulator_credentials(env: Mapping[str, str] = os.environ) -> DemoAccount:
    """The demo account's key, secret and passphrase; SIM_OKX_API_KEY, _SECRET and _PASSPHRASE override them."""
    return DemoAccount(*simulator_keys(USER_KEY_VARS, SIM_DEMO_KEYS, env))


# --- The public WebSocket -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WsLimits:
    """The public WebSocket's limits (#overview-websocket-connect, -subscribe, -login)."""

    connections_per_s: int = 3  # new connections per IP and second; more -> HTTP 429 before the upgrade
    subscribe_ops_per_hour: int = 480  # subscribe, unsubscribe and login operations per connection and hour
    idle_timeout_s: float = 30.0  # a connection with nothing received or sent for this long is closed (4004)


WS_LIMITS = WsLimits()
CHANNELS = ("books", "trades", "tickers")  # the public channels the suite subscribes to
STREAM_KINDS = CHANNELS
BOOK_DEPTH = 400  # the `books` channel: 400 levels per side
CHECKSUM_LEVELS = 25  # its checksum covers the top 25 of each side
PING = "ping"  # the keepalive, plain text both ways
PONG = "pong"


def stream_name(symbol: str, kind: str) -> str:
    """`<channel>:<instId>`, e.g. `books:BTC-USDT`; the name Locust reports the stream's messages under."""
    return f"{kind}:{symbol.upper()}"


def split_stream(name: str) -> dict[str, str]:
    channel, _, inst_id = name.partition(":")
    return {"channel": channel, "instId": inst_id}


def subscription_message(op: str, streams: Iterable[str], request_id: int | None = None) -> str:
    message: dict[str, Any] = {"op": op, "args": [split_stream(name) for name in streams]}
    if request_id is not None:
        message["id"] = str(request_id)
    return json.dumps(message, separators=(",", ":"))


def resubscribe_messages(stream: str, req_id: int) -> list[str]:
    """Unsubscribe and subscribe one stream again: the new subscription starts with a snapshot."""
    return [subscription_message("unsubscribe", [stream], req_id), subscription_message("subscribe", [stream],
                                                                                        req_id + 1)]


WS_RATE_LIMIT_CODES = frozenset({"60014", "60026"})  # "Requests too frequent", "Batch login ... too frequent"


def decode_message(text: str | bytes) -> StreamMessage | None:
    """A push as a StreamMessage named `<channel>:<instId>` (its payload as decoded; `ts` of the last entry as the
    event time). None for `pong` and subscription acknowledgements; an `error` event raises StreamError."""
    if text == PONG or text == PONG.encode():
        return None
    payload = json.loads(text)
    if not isinstance(payload, dict):
        raise ValueError("OKX pushes are JSON objects")
    event = payload.get("event")
    if event is not None:
        if event == "error":
            code = str(payload.get("code", ""))
            kind = FailureKind.RATE_LIMITED if code in WS_RATE_LIMIT_CODES else FailureKind.BAD_REQUEST
            raise StreamError(Verdict(False, kind, code, str(payload.get("msg", ""))[:80]))
        return None
    arg = payload.get("arg")
    data = payload.get("data")
    if not isinstance(arg, dict) or not isinstance(data, list):
        raise ValueError("not an OKX push")
    stamp = data[-1].get("ts") if data and isinstance(data[-1], dict) else None
    return StreamMessage(f"{arg.get('channel')}:{arg.get('instId')}", float(stamp) if stamp else None, payload)


def book_update(message: StreamMessage) -> BookUpdate | None:
    """The snapshot or update in a `books` push, levels as their wire text: its checksum, and `seqId` and
    `prevSeqId` as the sequence the users check (every update's prevSeqId is the previous push's seqId)."""
    payload = message.data
    if not isinstance(payload, dict) or payload.get("arg", {}).get("channel") != "books":
        return None
    entry = payload["data"][0]
    checksum = int(entry.get("checksum") or 0)
    prev = int(entry.get("prevSeqId", -1))
    return BookUpdate(
        stream=message.stream,
        snapshot=payload.get("action") == "snapshot",
        bids=[(level[0], level[1]) for level in entry.get("bids", ())],
        asks=[(level[0], level[1]) for level in entry.get("asks", ())],
        checksum=checksum or None,  # 0: the checksum OKX deprecated (always 0 since 2026-06-23), not checked
        sequence=int(entry["seqId"]),
        prev_sequence=None if prev == -1 else prev,  # -1: a snapshot, which starts the sequence
    )


def book_checksum(asks: Iterable[tuple[str, str]], bids: Iterable[tuple[str, str]]) -> int:
    """CRC32 as a signed 32-bit integer of the top 25 bids and asks interleaved, `bid:ask:bid:ask:...`, each level
    `price:size` as sent; where one side runs out, the other side's levels follow alone."""
    top_bids, top_asks = _top(bids), _top(asks)
    parts: list[str] = []
    for i in range(max(len(top_bids), len(top_asks))):
        if i < len(top_bids):
            parts.append(f"{top_bids[i][0]}:{top_bids[i][1]}")
        if i < len(top_asks):
            parts.append(f"{top_asks[i][0]}:{top_asks[i][1]}")
    value = zlib.crc32(":".join(parts).encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def _top(levels: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for level in levels:
        out.append(level)
        if len(out) == CHECKSUM_LEVELS:
            break
    return out


# --- Orders --------------------------------------------------------------------------------------


def parse_instrument_rules(instruments: bytes) -> SymbolRules:
    """Tick size, lot size and minimum size of the one instrument in a `public/instruments` answer."""
    (info,) = data_of(instruments)
    return SymbolRules(tick_size=Decimal(info["tickSz"]), step_size=Decimal(info["lotSz"]),
                       min_qty=Decimal(info["minSz"]), min_notional=Decimal(0))


def parse_last_price(ticker: bytes) -> Decimal:
    """The last traded price of a `market/ticker` answer."""
    return Decimal(data_of(ticker)[0]["last"])


def limit_order_params(inst_id: str, side: str, price: str, size: str) -> dict[str, str]:
    """A spot limit order in the cash trade mode (no margin), size in the base currency."""
    return {"instId": inst_id, "tdMode": "cash", "side": side, "ordType": "limit", "px": price, "sz": size}


def order_id(order_answer: bytes) -> str | None:
    """The ordId of a placed order."""
    entries = data_of(order_answer)
    return str(entries[0]["ordId"]) if entries and entries[0].get("ordId") else None


class OkxAdapter(ExchangeAdapter):
    name = NAME
    hosts = HOSTS
    endpoints = ENDPOINTS
    default_symbols = ("BTC-USDT", "ETH-USDT")
    default_streams = STREAM_KINDS
    rate_limits = RATE_LIMITS
    user_key_vars = USER_KEY_VARS
    simulator_demo_keys = SIM_DEMO_KEYS
    limit_unit = "requests/2s"  # every endpoint's limit is published as requests per 2 seconds
    limit_kind = LimitKind.FIXED_WINDOW
    published_limit = float(ENDPOINT_LIMITS[LIMITED_ENDPOINT].limit)
    limit_signals = LimitSignals(
        rate_limited=f"HTTP 429 with code {RATE_LIMITED_CODE} (per endpoint), code {SUB_ACCOUNT_RATE_LIMITED} with "
                     "HTTP 200 (the sub-account's order rate)",
        ban_advice="OKX publishes no IP ban for REST: a client over an endpoint's limit is refused (50011) until its "
                   "2 s window ends; stay under each endpoint's own limit.",
        ws_connect_limit="3 connection requests per second per IP",
    )
    time_endpoint = "time"

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
        return classify(status, headers, body)

    def counts_toward_limit(self, endpoint: Endpoint) -> bool:
        """limit_unit is the ticker's own limit: every other endpoint has a limit of its own."""
        return endpoint.name == LIMITED_ENDPOINT

    def ws_base_for(self, rest_base: str) -> str:
        """OKX's public WebSocket for its own REST hosts; elsewhere (the simulator) `<base>/ws/v5/public`."""
        if self.target_kind(rest_base) is TargetKind.PRODUCTION:
            return self.hosts.production_ws[0]
        return super().ws_base_for(rest_base).rstrip("/") + WS_PATH

    def sign(self, request: RequestToSign) -> SignedRequest:
        return sign_request(request.api_key, request.api_secret, request.passphrase, request.method, request.path,
                            request.params, request.timestamp_ms)

    def parse_server_time(self, body: bytes) -> int:
        return int(data_of(body)[0]["ts"])

    # --- streams

    def is_stream_kind(self, kind: str) -> bool:
        return kind in STREAM_KINDS

    def stream_name(self, symbol: str, kind: str) -> str:
        return stream_name(symbol, kind)

    def stream_url(self, ws_base: str, streams: list[str]) -> str:
        return ws_base  # one endpoint; channels are subscribed by message

    def subscribe_messages(self, streams: list[str]) -> list[str]:
        return [subscription_message("subscribe", streams)] if streams else []

    def decode_stream_message(self, text: str | bytes) -> StreamMessage | None:
        return decode_message(text)

    def is_checksum_book_kind(self, kind: str) -> bool:
        return kind == "books"

    def book_update(self, message: StreamMessage) -> BookUpdate | None:
        return book_update(message)

    def book_checksum(self, asks: Iterable[tuple[str, str]], bids: Iterable[tuple[str, str]]) -> int:
        return book_checksum(asks, bids)

    def book_depth(self, kind: str) -> int:
        return BOOK_DEPTH

    def resubscribe_messages(self, stream: str, req_id: int) -> list[str]:
        return resubscribe_messages(stream, req_id)

    price_endpoint = "ticker"

    def price_params(self, symbol: str) -> dict[str, str]:
        return {"instId": symbol.upper()}

    def parse_price(self, body: bytes) -> Decimal:
        return parse_last_price(body)


ADAPTER = OkxAdapter()
