"""The common interface every exchange adapter implements.

An adapter is the one place where an exchange's facts live: hosts, the endpoint catalog with
weights, rate-limit defaults, request signing, and how to read an answer (rate-limit headers,
error codes). The Locust users, the simulator's defaults and the docs all read from it.
"""

from __future__ import annotations

import abc
import enum
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit


class FailureKind(enum.StrEnum):
    """How a failed request or message is classified. The value prefixes Locust's error text."""

    RATE_LIMITED = "rate_limited"  # 429, Binance -1003/-1015, Kraken EAPI:Rate limit (even with HTTP 200)
    BANNED = "banned"  # 418: IP ban after ignoring 429s
    TIMEOUT = "timeout"
    CONNECTION = "connection"  # refused, reset, closed mid-answer
    SERVER_ERROR = "server_error"  # 5xx: execution status unknown
    AUTH = "auth"  # bad key or signature
    TIMESTAMP = "timestamp"  # timestamp outside the receive window, bad nonce
    ORDER_REJECTED = "order_rejected"  # the matching engine said no (balance, unknown order)
    BAD_REQUEST = "bad_request"  # bad symbol or parameters
    EXCHANGE_ERROR = "exchange_error"  # any other error the exchange reports
    PROTOCOL = "protocol"  # an answer we cannot parse
    WS_DROP = "ws_drop"  # abnormal WebSocket close (1006) or a stalled stream
    WS_GAP = "ws_gap"  # sequence gap, out-of-order message or checksum mismatch


RATE_LIMIT_KINDS = frozenset({FailureKind.RATE_LIMITED, FailureKind.BANNED})
# Answers of an exchange that could not keep up: a gateway or engine error, or no answer in time.
OVERLOAD_KINDS = frozenset({FailureKind.SERVER_ERROR, FailureKind.TIMEOUT})


@dataclass(frozen=True, slots=True)
class Verdict:
    """What an exchange's answer means for the test: ok, or a classified failure."""

    ok: bool
    kind: FailureKind | None = None
    code: str | None = None  # the exchange's own error code, e.g. "-1003"
    message: str = ""
    retry_after_s: float | None = None
    used_weight: int | None = None  # request weight used in the current window, when reported
    order_count: int | None = None  # the account's unfilled orders in the shortest order window, when reported

    def error_text(self) -> str:
        """Low-cardinality failure text for Locust's stats: '<kind>: <code> <message>'."""
        code = f" {self.code}" if self.code else ""
        return f"{self.kind}:{code} {self.message}".rstrip()


OK = Verdict(ok=True)


@dataclass(frozen=True, slots=True)
class WindowLimit:
    """A fixed-window limit: at most `limit` units per `interval_s` seconds."""

    limit: int
    interval_s: int


@dataclass(frozen=True, slots=True)
class LimitSignals:
    """How an exchange tells a client it went over a limit, in its own terms: reports and findings name these
    signals, never one exchange's HTTP statuses for all of them."""

    rate_limited: str  # its rate-limit answers, e.g. "HTTP 429 (codes -1003, -1015)"
    banned: str | None = None  # its ban answers, e.g. "HTTP 418"; None where it has none
    retry_after: bool = False  # its REST rate-limit answers carry a Retry-After header (seconds to wait)
    ban_advice: str = ""  # what brings a ban there, how long one lasts and how to avoid it
    ws_connect_limit: str = ""  # its limit on WebSocket connection attempts, as published


_LIMIT_UNIT = re.compile(r"^\s*([A-Za-z_ ]+?)\s*/\s*(\d*)\s*(s|sec|m|min|h)?\s*$")
_UNIT_SECONDS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


def parse_limit_unit(limit_unit: str) -> tuple[str, int] | None:
    """An adapter's `limit_unit` as (what it counts, per how many seconds): "weight/60s" -> ("weight", 60),
    "calls/s" -> ("calls", 1); None when it is not of that form."""
    match = _LIMIT_UNIT.match(limit_unit)
    if match is None:
        return None
    unit, count, scale = match.groups()
    return unit.strip(), (int(count) if count else 1) * _UNIT_SECONDS[scale]


class LimitKind(enum.StrEnum):
    """How an exchange counts the request limit named by `ExchangeAdapter.limit_unit` (read by results analysis)."""

    FIXED_WINDOW = "fixed_window"  # at most N units per window (Binance: request weight per minute)
    TOKEN_BUCKET = "token_bucket"  # refilled at N units per second up to a burst (Coinbase)
    DECAYING_COUNTER = "decaying_counter"  # +cost per call, decaying at a fixed rate up to a maximum (Kraken)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One REST endpoint in an exchange's catalog.

    `weight` is either a constant or a function of the request parameters (Binance's depth weight
    depends on `limit`, ticker weights on whether a symbol is given).
    """

    name: str  # short stable name, used as the Locust request name: "depth", "ticker/price"
    method: str
    path: str
    weight: int | Callable[[Mapping[str, str]], int] = 1
    signed: bool = False
    counts_as_order: bool = False  # counted by the exchange's order-rate limiters

    def weight_for(self, params: Mapping[str, str]) -> int:
        return self.weight(params) if callable(self.weight) else self.weight

    def fill_path(self, params: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        """The path with its `{name}` placeholders (e.g. `/products/{product_id}/book`) filled from `params`,
        and the parameters left over for the query string or body."""
        rest = dict(params)
        if "{" not in self.path:
            return self.path, rest
        try:
            path = _PLACEHOLDER.sub(lambda m: quote(rest.pop(m.group(1)), safe=""), self.path)
        except KeyError as e:
            raise ValueError(f"{self.name}: path parameter {e.args[0]!r} missing") from None
        return path, rest


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Hosts:
    """Where an exchange lives. `simulator_prefix` is the mount point inside the simulator."""

    production_rest: tuple[str, ...]
    production_ws: tuple[str, ...]
    testnet_rest: tuple[str, ...]
    testnet_ws: tuple[str, ...]
    simulator_prefix: str


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A request ready to send: query string, body and headers (secrets only inside the signature)."""

    query: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One market-data event from a WebSocket stream, with the exchange's envelope removed."""

    stream: str  # the exchange's stream name, e.g. "btcusdt@trade"; used as the Locust request name
    event_time_ms: float | None  # the exchange's event time, when the message carries one
    data: Any


@dataclass(frozen=True, slots=True)
class WsApiAnswer:
    """An exchange's WebSocket order API answering one request: ok, or a classified failure."""

    request_id: str
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One order event on an exchange's private stream: the order (by client order id) and its new state."""

    client_order_id: str  # "" when the event names the order by the exchange's id only
    state: str  # the exchange's order state after the event, e.g. "NEW", "FILLED"
    final: bool  # no further event will come for this order
    event_time_ms: float | None
    order_id: str = ""  # the exchange's id of the order, where the event carries it


class WsOrderApi(Protocol):
    """What an exchange's WebSocket order entry needs from its adapter (`loadgen.users.ws_orders.WsOrderUser`).

    Where the session needs something from a signed REST call first (Kraken's token), `ws_session_endpoint` names
    that endpoint: the user calls it before each session (its own REST row) and hands what
    `parse_ws_session_token` reads from the answer to `ws_session_requests` and `ws_order_sent_params`. The defaults
    of the last three are on `ExchangeAdapter` (no such call, orders sent as they are)."""

    ws_order_method: str  # the request that places an order, also its Locust row name
    ws_session_endpoint: str | None

    def parse_ws_session_token(self, body: bytes) -> str:
        """What the session needs from the answer of `ws_session_endpoint`."""

    def ws_order_url(self, rest_base: str, ws_base: str) -> str:
        """The order API's URL for a run against `rest_base` (its WebSocket base: `ws_base`)."""

    def ws_session_requests(self, api_key: str, api_secret: str, timestamp_ms: int,
                            token: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(method, params) of the requests that open an authenticated session with the account's order events."""

    def ws_order_sent_params(self, params: dict[str, Any], api_key: str, api_secret: str, timestamp_ms: int,
                             token: str | None) -> dict[str, Any]:
        """An order's parameters as sent on the session: its own, plus whatever authenticates it there (Kraken's
        token; Binance's per-request signature when the key cannot log the session on)."""

    def ws_request(self, request_id: str, method: str, params: Mapping[str, Any]) -> str:
        """One request frame."""

    def decode_ws_order_message(self, text: str) -> WsApiAnswer | OrderUpdate | list[OrderUpdate] | None:
        """An answer, one or more order events, or None for anything else (e.g. a balance event)."""


class FeedOrderApi(Protocol):
    """What order entry over REST with the account's order events on an authenticated feed subscription needs from
    its adapter (`loadgen.users.feed_orders.FeedOrderUser`)."""

    feed_order_endpoint: str  # the REST endpoint that places an order, also the order row's name

    def order_feed_url(self, rest_base: str, ws_base: str) -> str:
        """The feed's URL for a run against `rest_base` (its WebSocket base: `ws_base`)."""

    def order_feed_subscribe(self, symbols: list[str], api_key: str, api_secret: str, passphrase: str,
                             timestamp_ms: int) -> str:
        """The signed message that subscribes to the account's order events of `symbols`."""

    def new_client_order_id(self) -> str:
        """A fresh client order id, unique across users and processes, in the form the exchange accepts."""

    def placed_order_id(self, body: bytes) -> str | None:
        """The exchange's order id from an accepted order's answer (None when it names none)."""

    def decode_order_feed_message(self, text: str) -> WsApiAnswer | list[OrderUpdate] | None:
        """The subscription's answer (ok, or a classified refusal; its request id ""), the order events of one
        message, or None for anything else."""


def order_row_name(adapter: object) -> str | None:
    """The order path's order row of an adapter: its WebSocket order method (`WsOrderApi`) or the REST endpoint whose
    orders it follows on a feed (`FeedOrderApi`); None when it has neither."""
    return getattr(adapter, "ws_order_method", None) or getattr(adapter, "feed_order_endpoint", None)


class StreamError(Exception):
    """An error the exchange reported on a stream (e.g. a refused subscription), as a classified verdict."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.error_text())
        self.verdict = verdict


@dataclass(frozen=True, slots=True)
class DepthDiff:
    """An order-book diff covering update ids first_id..last_id. Levels are (price, qty); qty 0 removes."""

    symbol: str
    first_id: int
    last_id: int
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """A REST order-book snapshot as of update id `last_id`."""

    last_id: int
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """A book message of a stream that keeps a book by itself: a snapshot replaces the book, an update sets
    levels (quantity 0 removes one). It carries its own checks, one or both: `checksum` covers the book after
    applying it (Kraken's `book` channel); `sequence` numbers it, and an update's `prev_sequence` names the
    message it follows (None: not checked). Levels are (price, qty) exactly as sent, since checksums are
    computed over the text."""

    stream: str
    snapshot: bool
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]
    checksum: int | None = None
    sequence: int | None = None
    prev_sequence: int | None = None


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """A symbol's trading filters: price tick, quantity step, minimum quantity and order value."""

    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal

    def price_text(self, price: Decimal) -> str:
        """`price` rounded down to the tick, as the exchange expects it."""
        return _text(_floor_to(price, self.tick_size))

    def smallest_quantity_text(self, price: Decimal) -> str:
        """The smallest valid quantity whose value meets the minimum order value at `price` as it is sent
        (rounded down to the tick, as `price_text` does: the exchange checks the value at that price)."""
        price = _floor_to(price, self.tick_size)
        qty = max(self.min_qty, self.step_size)
        if price > 0 and qty * price < self.min_notional:
            qty = self.min_notional / price
        return _text(_ceil_to(qty, self.step_size))


def _floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step if step > 0 else value


def _ceil_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step if step > 0 else value


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


class TargetKind(enum.StrEnum):
    SIMULATOR = "simulator"
    TESTNET = "testnet"
    PRODUCTION = "production"
    OTHER = "other"  # a host the user named explicitly (their own gateway, a proxy, ...)


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def is_loopback(url: str) -> bool:
    host = host_of(url)
    return host in ("localhost", "::1") or host.startswith("127.")


@dataclass(frozen=True, slots=True)
class RequestToSign:
    """Everything a signature scheme may cover, as the Locust users hand it over: `params` are the request's
    fields left after filling the path; `recv_window_ms` None means the exchange's default window; `path` is the
    exchange's request path (placeholders filled, no query). Each scheme uses what it needs."""

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    params: Mapping[str, str]
    timestamp_ms: int
    recv_window_ms: int | None
    method: str = "GET"
    path: str = ""
    passphrase: str = field(default="", repr=False)


SIMULATOR_VAR_PREFIX = "SIM_"  # SIM_<user key var> sets the simulator's demo credentials, e.g. SIM_<X>_API_KEY


def simulator_keys(
    user_key_vars: tuple[str, ...], demo_values: tuple[str, ...], env: Mapping[str, str] = os.environ
) -> tuple[str, ...]:
    """The simulator's demo credentials, one per variable of `user_key_vars` (key, secret[, passphrase]):
    `SIM_<variable>` from `env` where set, else the demo value."""
    return tuple(
        env.get(SIMULATOR_VAR_PREFIX + var) or demo for var, demo in zip(user_key_vars, demo_values, strict=True)
    )


class ExchangeAdapter(abc.ABC):
    """Base class of the per-exchange adapters: the contract every exchange fulfils.

    Required of every adapter (exchanges/<venue>.py, one instance named `ADAPTER`):

    - class attributes: `name` (the registry key, lower case), `hosts`, `endpoints`, `default_symbols`,
      `default_streams`, `rate_limits`, `user_key_vars`, `simulator_demo_keys`, `limit_unit`; the other
      attributes have defaults that hold for most exchanges;
    - the abstract methods: `classify` (an answer as a Verdict), `sign` (a signed request),
      `parse_server_time`, and the streams' `is_stream_kind`, `stream_name`, `stream_url`,
      `decode_stream_message`.

    Optional groups, each a `typing.Protocol` below, implemented by adapters whose exchange has the feature:

    - `DiffDepthBooks`: local order books from a REST snapshot plus stream diffs (`is_diff_depth_kind` true);
    - `ChecksumBooks`: local order books from the stream alone, verified by checksums
      (`is_checksum_book_kind` true);
    - `SequencedBooks`: local order books from the stream alone, verified by sequence numbers
      (`is_sequenced_book_kind` true);
    - `PriceQuotes`: one REST request for a symbol's last price (locustfiles/failover.py spans the adapters
      that have it);
    - `WsOrderApi`: order entry over an authenticated WebSocket session with the account's order events on it
      (`loadgen.users.ws_orders.WsOrderUser`; locustfiles/ws_orders.py spans the venues' traders);
    - `FeedOrderApi`: order entry over REST with the account's order events on an authenticated feed subscription
      (`loadgen.users.feed_orders.FeedOrderUser`; also run by locustfiles/ws_orders.py).

    The gates of those groups (`is_diff_depth_kind`, `is_checksum_book_kind`, `is_sequenced_book_kind`) are on
    this class and say no, so the Locust users can ask any adapter; an adapter that says yes for a kind
    implements that group's methods.
    Overridable hooks with defaults: `counts_toward_limit`, `ws_base_for`, `subscribe_messages`,
    `resubscribe_messages`, `simulator_keys`, `classify_exception`.
    """

    name: str
    hosts: Hosts
    endpoints: Mapping[str, Endpoint]
    default_symbols: tuple[str, ...]
    default_streams: tuple[str, ...]
    rate_limits: Mapping[str, WindowLimit]  # "request_weight" is the weight limit polite users stay under
    # Environment variables holding the API key and secret, then the passphrase where the exchange has one.
    user_key_vars: tuple[str, ...]
    # The simulator's demo values of `user_key_vars`, in the same order. Public by design: they only ever work
    # against the local simulator.
    simulator_demo_keys: tuple[str, ...]
    # A WebSocket order session's own key and secret, where the exchange wants another kind of key there (Binance's
    # session.logon: an Ed25519 key): their variables, used when set (else the REST keys sign), and the simulator's
    # demo values of them, always used on the simulator. Empty: the session signs with the REST keys.
    ws_session_key_vars: tuple[str, ...] = ()
    simulator_ws_session_keys: tuple[str, ...] = ()
    limit_unit: str  # how the exchange counts its request limit, for reports: "weight/60s", "requests/s"
    limit_kind: LimitKind = LimitKind.FIXED_WINDOW  # how that limit counts: a fixed window, a token bucket, ...
    published_limit: float | None = None  # that limit as the exchange publishes it, in `limit_unit`; None: none
    limit_signals: LimitSignals = LimitSignals("HTTP 429")  # how it answers a client over its limits
    # The unfilled-order limit whose count order answers report (Verdict.order_count), its shortest window as
    # published; None: the exchange reports no such count.
    order_count_limit: WindowLimit | None = None
    time_endpoint: str = "time"  # the endpoint whose answer parse_server_time reads (the clock offset)
    recv_window_default_ms: int | None = None  # signed requests' validity window, where the exchange has one
    recv_window_max_ms: int | None = None

    ws_session_endpoint: str | None = None  # WsOrderApi: a signed REST call each session needs first; None: none

    def parse_ws_session_token(self, body: bytes) -> str:
        raise NotImplementedError(f"{self.name} has no ws_session_endpoint")

    def ws_order_sent_params(self, params: dict[str, Any], api_key: str, api_secret: str, timestamp_ms: int,
                             token: str | None) -> dict[str, Any]:
        return params

    def endpoint(self, name: str) -> Endpoint:
        try:
            return self.endpoints[name]
        except KeyError:
            raise ValueError(f"{self.name}: unknown endpoint {name!r}") from None

    def published_rate_per_s(self) -> float | None:
        """The published limit per second, in `limit_unit`'s units (6000 weight/60s: 100); None when unknown."""
        parsed = parse_limit_unit(self.limit_unit)
        if self.published_limit is None or parsed is None:
            return None
        return self.published_limit / parsed[1]

    def counts_toward_limit(self, endpoint: Endpoint) -> bool:
        """Whether `endpoint` draws on the limit `limit_unit` names (others have limits of their own)."""
        return True

    def limit_cost(self, endpoint: Endpoint, weight: int) -> int:
        """What one request to `endpoint` of `weight` draws on the limit `limit_unit` names: its weight where that
        limit counts weight, else one; nothing where the endpoint has limits of its own."""
        if not self.counts_toward_limit(endpoint):
            return 0
        return weight if self.limit_unit.startswith("weight") else 1

    def target_kind(self, base_url: str) -> TargetKind:
        """Classify a REST or WebSocket base URL as simulator, testnet, production or other."""
        host = host_of(base_url)
        if any(host == host_of(u) for u in self.hosts.production_rest + self.hosts.production_ws):
            return TargetKind.PRODUCTION
        if any(host == host_of(u) for u in self.hosts.testnet_rest + self.hosts.testnet_ws):
            return TargetKind.TESTNET
        if is_loopback(base_url) and urlsplit(base_url).path.rstrip("/").endswith(self.hosts.simulator_prefix):
            return TargetKind.SIMULATOR
        return TargetKind.OTHER

    def base_on(self, host: str | None) -> str | None:
        """This exchange's REST base in a run whose --host is `host`. The simulator's root URL (no
        exchange prefix) stands for every exchange mounted in it, so that one run can drive several;
        any other host is used as given."""
        if host and is_loopback(host) and urlsplit(host).path.strip("/") == "":
            return host.rstrip("/") + self.hosts.simulator_prefix
        return host

    def ws_base_for(self, rest_base: str) -> str:
        """The WebSocket base that goes with a REST base: the exchange's own WS host for its
        production and testnet REST hosts, otherwise the same host and path with a ws scheme
        (right for the simulator and for gateways that serve both)."""
        kind = self.target_kind(rest_base)
        if kind == TargetKind.PRODUCTION:
            return self.hosts.production_ws[0]
        if kind == TargetKind.TESTNET:
            return self.hosts.testnet_ws[0]
        scheme, rest = rest_base.split("://", 1) if "://" in rest_base else ("http", rest_base)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest.rstrip('/')}"

    def simulator_keys(self, env: Mapping[str, str] = os.environ) -> tuple[str, ...]:
        """The simulator's demo credentials, one per `user_key_vars` (SIM_<variable> overrides a demo value)."""
        return simulator_keys(self.user_key_vars, self.simulator_demo_keys, env)

    def simulator_user_env(self) -> dict[str, str]:
        """Environment for the users when they target the built-in simulator: its demo keys."""
        return dict(zip(self.user_key_vars, self.simulator_keys(), strict=True))

    @abc.abstractmethod
    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
        """An HTTP answer as ok or a classified failure (rate limits, bans, auth, ... in the exchange's terms)."""

    def classify_exception(self, exc: BaseException) -> Verdict:
        """Classify a transport-level failure (no HTTP answer at all)."""
        return classify_transport_error(exc)

    # --- Signing and time (the Locust users call these)

    def sign_request(
        self,
        api_key: str,
        api_secret: str,
        params: Mapping[str, str],
        timestamp_ms: int,
        recv_window_ms: int | None,
        *,
        method: str = "GET",
        path: str = "",
        passphrase: str = "",
    ) -> SignedRequest:
        """`params` plus whatever the exchange's signature scheme adds (see RequestToSign); adapters implement
        `sign`, this is the one call signature."""
        return self.sign(
            RequestToSign(api_key, api_secret, params, timestamp_ms, recv_window_ms, method, path, passphrase)
        )

    @abc.abstractmethod
    def sign(self, request: RequestToSign) -> SignedRequest:
        """The request signed by the exchange's scheme: query string, body and headers."""

    @abc.abstractmethod
    def parse_server_time(self, body: bytes) -> int:
        """The server time in ms from the answer of the endpoint named by `time_endpoint`."""

    # --- Market-data streams

    @abc.abstractmethod
    def is_stream_kind(self, kind: str) -> bool:
        """Whether `kind` (e.g. "trade", "depth@100ms") is a stream this exchange publishes."""

    @abc.abstractmethod
    def stream_name(self, symbol: str, kind: str) -> str:
        """The exchange's name of one stream of one symbol (also the Locust request name)."""

    @abc.abstractmethod
    def stream_url(self, ws_base: str, streams: list[str]) -> str:
        """The URL of one connection carrying all `streams`."""

    def subscribe_messages(self, streams: list[str]) -> list[str]:
        """Text frames to send right after each (re)connect; none where the URL names the streams."""
        return []

    @abc.abstractmethod
    def decode_stream_message(self, text: str | bytes) -> StreamMessage | None:
        """One received frame as a StreamMessage; None for non-data frames (subscription acks).
        Raises StreamError for an error the exchange reports on the stream."""

    def resubscribe_messages(self, stream: str, req_id: int) -> list[str]:
        """Frames that restart one stream on the open connection, so that a fresh snapshot follows."""
        return []

    # --- Gates of the optional groups (DiffDepthBooks, ChecksumBooks, SequencedBooks)

    def is_diff_depth_kind(self, kind: str) -> bool:
        """Whether a stream kind carries order-book diffs that need a REST snapshot (see DiffDepthBooks)."""
        return False

    def is_checksum_book_kind(self, kind: str) -> bool:
        """Whether a stream kind carries book snapshots and checksummed updates (see ChecksumBooks)."""
        return False

    def is_sequenced_book_kind(self, kind: str) -> bool:
        """Whether a stream kind carries book snapshots and sequenced updates (see SequencedBooks)."""
        return False


@runtime_checkable
class DiffDepthBooks(Protocol):
    """Optional: local order books from a REST snapshot plus diffs on the stream (Binance's depth streams).
    The Locust users call these only for kinds where `is_diff_depth_kind` is true."""

    def is_diff_depth_kind(self, kind: str) -> bool:
        """Whether a stream kind carries order-book diffs that need a snapshot to build a book."""
        ...

    def depth_diff(self, message: StreamMessage) -> DepthDiff | None:
        """The diff in a stream message, or None when it is not a depth diff."""
        ...

    def depth_snapshot_request(self, symbol: str) -> tuple[str, dict[str, str]]:
        """(endpoint name, params) of the REST snapshot that diffs are applied to."""
        ...

    def parse_depth_snapshot(self, body: bytes) -> DepthSnapshot:
        """That snapshot's answer as a DepthSnapshot."""
        ...


@runtime_checkable
class ChecksumBooks(Protocol):
    """Optional: local order books kept from the stream alone, verified by checksums (Kraken's book channel).
    The Locust users call these only for kinds where `is_checksum_book_kind` is true; on a mismatch they send
    `resubscribe_messages` for a fresh snapshot."""

    def is_checksum_book_kind(self, kind: str) -> bool:
        """Whether a stream kind carries book snapshots and checksummed updates (no REST snapshot needed)."""
        ...

    def book_update(self, message: StreamMessage) -> BookUpdate | None:
        """The book snapshot or update in a stream message, or None when it is not one."""
        ...

    def book_checksum(self, asks: Iterable[tuple[str, str]], bids: Iterable[tuple[str, str]]) -> int:
        """The exchange's checksum of a book given its asks (best first) and bids (best first)."""
        ...

    def book_depth(self, kind: str) -> int:
        """How many levels per side a checksummed book of `kind` keeps (deeper levels are dropped)."""
        ...

    def resubscribe_messages(self, stream: str, req_id: int) -> list[str]:
        """Frames that restart one stream on the open connection, so that a fresh snapshot follows."""
        ...


@runtime_checkable
class SequencedBooks(Protocol):
    """Optional: local order books kept from the stream alone, verified by sequence numbers: each update names
    the one it follows (`BookUpdate.prev_sequence`). The Locust users call these only for kinds where
    `is_sequenced_book_kind` is true; on a skipped update they send `resubscribe_messages` for a fresh snapshot."""

    def is_sequenced_book_kind(self, kind: str) -> bool:
        """Whether a stream kind carries book snapshots and sequenced updates (no REST snapshot needed)."""
        ...

    def book_update(self, message: StreamMessage) -> BookUpdate | None:
        """The book snapshot or update in a stream message, or None when it is not one."""
        ...

    def book_depth(self, kind: str) -> int:
        """How many levels per side a book of `kind` keeps (deeper levels are dropped)."""
        ...

    def resubscribe_messages(self, stream: str, req_id: int) -> list[str]:
        """Frames that restart one stream on the open connection, so that a fresh snapshot follows."""
        ...


@runtime_checkable
class PriceQuotes(Protocol):
    """Optional: a symbol's last price in one REST request, for the multi-exchange failover user."""

    price_endpoint: str  # the endpoint asked

    def price_params(self, symbol: str) -> dict[str, str]:
        """That request's parameters for `symbol` (one of `default_symbols`' form)."""
        ...

    def parse_price(self, body: bytes) -> Decimal:
        """The last price in that endpoint's answer."""
        ...


def classify_transport_error(exc: BaseException) -> Verdict:
    name = type(exc).__name__
    text = str(exc).lower()
    if isinstance(exc, TimeoutError) or "timeout" in name.lower() or "timed out" in text:
        return Verdict(False, FailureKind.TIMEOUT, message=name)
    if isinstance(exc, ConnectionError | OSError) or "connection" in name.lower() or "reset" in text:
        return Verdict(False, FailureKind.CONNECTION, message=name)
    return Verdict(False, FailureKind.PROTOCOL, message=name)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
