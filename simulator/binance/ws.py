"""The simulated Binance WebSocket market-stream server: `/ws`, `/ws/<streams>` and `/stream?streams=`.

Streams follow Binance's web-socket-streams.md (see shared/reference/exchanges.md section 1.5); the
stream kinds, intervals and limits come from `exchanges.binance`. Behaviour a test client meets:

- Raw connections get bare payloads; combined ones (`/stream`, or `SET_PROPERTY combined true`) get
  `{"stream": name, "data": payload}`. A URL stream name that is not valid is accepted and simply
  never produces data, as Binance does; an invalid name in SUBSCRIBE is answered with error code 2.
- Control answers are `{"result": ..., "id": ...}`; errors use Binance's wire form
  `{"error": {"code": N, "msg": "..."}, "id": ...}` (code 3, invalid JSON, carries no id).
- Limits from `sim.config.ws`: incoming messages per second (text, ping and pong frames) -> close 1008
  "Too many requests"; streams per connection -> error answer, nothing subscribed; connection
  attempts per IP per window -> HTTP 429 before the upgrade; a ping every `ping_interval_s` and a
  close (1008) when no pong echoes it within `pong_timeout_s`; close (1000) at `max_lifetime_s`.
- Fault `sim.config.faults.ws_drop_per_min`: connections are cut without a close frame (the client
  sees 1006), at random times drawn from `sim.faults.rng`.
- Server shutdown sends Binance's `serverShutdown` event, then closes every connection with 1001.

Simplifications: events are produced per market tick, so bookTicker reports the top of book as of
each tick (changes by REST orders between ticks appear with the next tick); one aggTrade per trade;
24 h tickers are computed from 1-minute candles (the first ticker subscription of a symbol builds
24 h of history once, about 0.1 s); kline taker-buy volumes are half the volumes. Not served:
`timeUnit=MICROSECOND`, `!...@arr` streams, `@ticker_<window>`, `@avgPrice`, `@kline_<i>@+08:00`.

Counters in `sim.stats.ws`: connections_open/_total, messages_sent (events and answers),
subscriptions, rejected_attempts (429), rejected_too_many_streams (400), disconnects_msg_rate,
pong_timeouts, lifetime_closes, drops_slow_consumer, control_errors, depth_diffs_lost;
injected drops count in `sim.stats.faults["ws_drop"]`.

Fan-out is cheap: every event is JSON-encoded once per stream, framed once (and once more, lazily,
for the combined envelope); the same bytes go to every subscriber through `simulator.ws_fanout`
(per-connection queues written once per event-loop pass; a reader whose unsent backlog exceeds
`send_buffer_limit` bytes is cut off).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from exchanges.binance import KLINE_INTERVALS, is_stream_kind
from simulator import ws_server
from simulator.limits import FixedWindowCounter
from simulator.market import BUY, SELL, DepthDiff, SymbolMarket, TickResult
from simulator.rolling import DayWindow
from simulator.ws_fanout import CLOSE_HANDSHAKE_TIMEOUT_S, OPCODE_PING, OPCODE_PONG, frame, text_frame
from simulator.ws_server import Handler, WsServer, dumps

if TYPE_CHECKING:
    from simulator.binance.sim import BinanceSim

# Largest control message accepted (a SUBSCRIBE for 1024 streams is about 30 KB).
MAX_INCOMING_MESSAGE_BYTES = 256 * 1024

PARTIAL_DEPTH_LEVELS = (5, 10, 20)
SECOND_MS = 1000
MINUTE_MS = 60_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
MONDAY_OFFSET_MS = 4 * DAY_MS  # 1970-01-01 was a Thursday; Binance's weekly klines open on Mondays
_UNIT_MS = {"s": SECOND_MS, "m": MINUTE_MS, "h": 3_600_000, "d": DAY_MS, "w": WEEK_MS}
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_REQUEST_ID = re.compile(r"[A-Za-z0-9]{1,36}")
_INT64 = range(-(2**63), 2**63)


def _interval_ms(interval: str) -> int | None:
    """The fixed length of a kline interval; None for "1M" (calendar months)."""
    if interval == "1M":
        return None
    return int(interval[:-1]) * _UNIT_MS[interval[-1]]


KLINE_INTERVAL_MS: dict[str, int | None] = {i: _interval_ms(i) for i in KLINE_INTERVALS}


def kline_bounds(interval: str, t_ms: int) -> tuple[int, int]:
    """Open time and next open time of the `interval` kline containing `t_ms` (UTC, as Binance)."""
    length = KLINE_INTERVAL_MS[interval]
    if length is None:
        day = datetime.fromtimestamp(t_ms / 1000, UTC)
        start = datetime(day.year, day.month, 1, tzinfo=UTC)
        end = datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=UTC)
        return int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    offset = MONDAY_OFFSET_MS if interval == "1w" else 0
    open_ms = t_ms - (t_ms - offset) % length
    return open_ms, open_ms + length


class Connection(ws_server.Connection):
    """One client connection: its subscriptions, envelope and ping bookkeeping."""

    __slots__ = ("combined", "next_ping_at", "ping_payload", "ping_unanswered_since", "streams")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport, ip: str, combined: bool, now: float,
                 ping_interval_s: float) -> None:
        super().__init__(ws, transport, ip, now)
        self.combined = combined
        self.streams: dict[str, Stream] = {}  # in subscription order, for LIST_SUBSCRIPTIONS
        self.next_ping_at = now + ping_interval_s
        self.ping_payload = b""
        self.ping_unanswered_since: float | None = None


class Opening(NamedTuple):
    """What the route of a new connection says: its valid URL streams and whether it is combined."""

    streams: list[str]
    combined: bool


class Stream:
    """One named stream (e.g. "btcusdt@depth@100ms") and the connections subscribed to it."""

    __slots__ = ("combined_prefix", "kind", "last_sent", "name", "subscribers", "symbol")

    def __init__(self, name: str, symbol: str, kind: str) -> None:
        self.name = name
        self.symbol = symbol
        self.kind = kind
        self.subscribers: dict[Connection, None] = {}
        self.combined_prefix = f'{{"stream":"{name}","data":'
        # What this stream sent last, where the next event depends on it: the bookTicker top
        # (bid, bid qty, ask, ask qty) or the open time of the kline last sent while open.
        self.last_sent: Any = None


class SymbolFeed:
    """Turns one symbol's market ticks into events on the streams subscribed for that symbol."""

    def __init__(self, server: StreamServer, sym: SymbolMarket) -> None:
        self.server = server
        self.sym = sym
        self.name = sym.spec.symbol
        self.streams: dict[str, Stream] = {}  # stream kind -> stream, only while it has subscribers
        self.fast_depth_cursor = sym.last_update_id  # last update id sent on depth@100ms
        self.slow_depth_cursor = sym.last_update_id  # ... and on depth (every second)
        self.previous_tick_ms: int | None = None
        self.day = DayWindow()

    def on_tick(self, result: TickResult) -> None:
        now_ms = result.time_ms
        previous = self.previous_tick_ms
        self.previous_tick_ms = now_ms
        new_second = previous is None or now_ms // 1000 != previous // 1000
        new_two_seconds = previous is None or now_ms // 2000 != previous // 2000
        streams = self.streams
        if result.trades:
            self._trades(result, now_ms)
        self.fast_depth_cursor = self._depth_update(streams.get("depth@100ms"), self.fast_depth_cursor, now_ms)
        if new_second:
            self.slow_depth_cursor = self._depth_update(streams.get("depth"), self.slow_depth_cursor, now_ms)
        if not streams:
            return
        if "bookTicker" in streams:
            self._book_ticker(streams["bookTicker"])
        self._partial_depth(new_second)
        if new_second and ("ticker" in streams or "miniTicker" in streams):
            self._tickers(now_ms)
        if new_second:
            for stream in [s for s in streams.values() if s.kind.startswith("kline_")]:
                if new_two_seconds or stream.kind == "kline_1s":
                    self._kline(stream, now_ms)

    # --- trades -------------------------------------------------------------------------------

    def _trades(self, result: TickResult, now_ms: int) -> None:
        spec, symbol, publish = self.sym.spec, self.name, self.server.publish
        if (stream := self.streams.get("trade")) is not None:
            for t in result.trades:
                publish(stream, {
                    "e": "trade", "E": now_ms, "s": symbol, "t": t.id, "p": spec.price_str(t.price),
                    "q": spec.qty_str(t.qty), "T": t.time_ms, "m": t.buyer_is_maker, "M": True,
                })
        if (stream := self.streams.get("aggTrade")) is not None:
            # One aggregate per trade, with the trade's id, as the simulator's REST aggTrades reports them:
            # the market model fills each price level of a taker order as one trade.
            for t in result.trades:
                publish(stream, {
                    "e": "aggTrade", "E": now_ms, "s": symbol, "a": t.id, "p": spec.price_str(t.price),
                    "q": spec.qty_str(t.qty), "f": t.id, "l": t.id, "T": t.time_ms, "m": t.buyer_is_maker, "M": True,
                })

    # --- books --------------------------------------------------------------------------------

    def _depth_update(self, stream: Stream | None, cursor: int, now_ms: int) -> int:
        """Send every book change after update id `cursor` as one depthUpdate; return the new cursor.

        Reads `SymbolMarket.diffs` by id, so changes made between ticks (user orders) are included.
        """
        sym = self.sym
        if stream is None or sym.last_update_id == cursor:
            return sym.last_update_id
        diffs: list[DepthDiff] = []
        for diff in reversed(sym.diffs):
            if diff.last_id <= cursor:
                break
            diffs.append(diff)
        if not diffs:
            return sym.last_update_id
        diffs.reverse()
        if diffs[0].first_id != cursor + 1:
            self.server.stats.ws["depth_diffs_lost"] += 1  # more changes than the market keeps: a real gap
        if len(diffs) == 1:
            changes = diffs[0].changes
        else:
            final: dict[tuple[str, int], int] = {}
            for diff in diffs:
                for side, price, qty in diff.changes:
                    final[(side, price)] = qty
            changes = [(side, price, qty) for (side, price), qty in final.items()]
        price_str, qty_str = sym.spec.price_str, sym.spec.qty_str
        self.server.publish(stream, {
            "e": "depthUpdate", "E": now_ms, "s": self.name, "U": diffs[0].first_id, "u": diffs[-1].last_id,
            "b": [[price_str(p), qty_str(q)] for side, p, q in changes if side == BUY],
            "a": [[price_str(p), qty_str(q)] for side, p, q in changes if side == SELL],
        })
        return diffs[-1].last_id

    def _book_ticker(self, stream: Stream) -> None:
        sym = self.sym
        bid, ask = sym.best_bid(), sym.best_ask()
        if bid is None or ask is None:
            return
        top = (bid, sym.bids[bid], ask, sym.asks[ask])
        if top == stream.last_sent:
            return
        stream.last_sent = top
        spec = sym.spec
        self.server.publish(stream, {
            "u": sym.last_update_id, "s": self.name, "b": spec.price_str(bid), "B": spec.qty_str(top[1]),
            "a": spec.price_str(ask), "A": spec.qty_str(top[3]),
        })

    def _partial_depth(self, new_second: bool) -> None:
        levels: tuple[list[list[str]], list[list[str]]] | None = None
        for depth in PARTIAL_DEPTH_LEVELS:
            for kind, due in ((f"depth{depth}@100ms", True), (f"depth{depth}", new_second)):
                stream = self.streams.get(kind)
                if stream is None or not due:
                    continue
                if levels is None:
                    levels = self._top_levels(max(PARTIAL_DEPTH_LEVELS))
                bids, asks = levels
                self.server.publish(stream, {
                    "lastUpdateId": self.sym.last_update_id, "bids": bids[:depth], "asks": asks[:depth],
                })

    def _top_levels(self, depth: int) -> tuple[list[list[str]], list[list[str]]]:
        sym = self.sym
        price_str, qty_str = sym.spec.price_str, sym.spec.qty_str
        return (
            [[price_str(p), qty_str(q)] for p, q in sym.top(BUY, depth)],
            [[price_str(p), qty_str(q)] for p, q in sym.top(SELL, depth)],
        )

    # --- tickers and klines -------------------------------------------------------------------

    def _tickers(self, now_ms: int) -> None:
        sym = self.sym
        spec = sym.spec
        day = self.day.stats(sym, now_ms)
        last = sym.last_price() * spec.tick_size
        price, qty, amount = self._price_format, self._qty_format, self._amount_format
        if (stream := self.streams.get("miniTicker")) is not None:
            self.server.publish(stream, {
                "e": "24hrMiniTicker", "E": now_ms, "s": self.name, "c": price(last), "o": price(day.open),
                "h": price(day.high), "l": price(day.low), "v": qty(day.volume), "q": amount(day.quote_volume),
            })
        if (stream := self.streams.get("ticker")) is None:
            return
        bid, ask = sym.best_bid(), sym.best_ask()
        bid_qty = sym.bids[bid] if bid is not None else 0
        ask_qty = sym.asks[ask] if ask is not None else 0
        last_id = sym.next_trade_id  # the id of the latest trade
        first_id = max(0, last_id - day.trades + 1) if day.trades else -1
        change = last - day.open
        self.server.publish(stream, {
            "e": "24hrTicker", "E": now_ms, "s": self.name,
            "p": price(change), "P": f"{change / day.open * 100 if day.open else 0.0:.3f}",
            "w": amount(day.quote_volume / day.volume if day.volume else last),
            "x": price(day.price_before),
            "c": price(last), "Q": spec.qty_str(sym.trades[-1].qty if sym.trades else 0),
            "b": spec.price_str(bid or 0), "B": spec.qty_str(bid_qty),
            "a": spec.price_str(ask or 0), "A": spec.qty_str(ask_qty),
            "o": price(day.open), "h": price(day.high), "l": price(day.low),
            "v": qty(day.volume), "q": amount(day.quote_volume), "O": day.open_ms, "C": now_ms,
            "F": first_id, "L": last_id if day.trades else -1, "n": last_id - first_id + 1 if day.trades else 0,
        })

    def _kline(self, stream: Stream, now_ms: int) -> None:
        """Send the open kline, or, once it has closed, its final state (x=true) first.

        Taker-buy volumes (V, Q) are not tracked by the market model: they are reported as half
        of the volumes.
        """
        interval = stream.kind.removeprefix("kline_")
        current_open = kline_bounds(interval, now_ms)[0]
        shown_open, stream.last_sent = stream.last_sent, current_open
        open_ms, close_ms = kline_bounds(interval, shown_open if shown_open is not None else now_ms)
        closed = close_ms <= now_ms
        candle = self.sym.candle(open_ms, close_ms)
        last_id = -1
        if candle.trades:
            last_id = self.sym.next_trade_id if not closed else self._last_trade_before(close_ms)
        price, qty, amount = self._price_format, self._qty_format, self._amount_format
        self.server.publish(stream, {
            "e": "kline", "E": now_ms, "s": self.name,
            "k": {
                "t": open_ms, "T": close_ms - 1, "s": self.name, "i": interval,
                "f": max(0, last_id - candle.trades + 1) if candle.trades else -1, "L": last_id,
                "o": price(candle.open), "c": price(candle.close), "h": price(candle.high), "l": price(candle.low),
                "v": qty(candle.volume), "n": candle.trades, "x": closed,
                "q": amount(candle.quote_volume), "V": qty(candle.volume / 2), "Q": amount(candle.quote_volume / 2),
                "B": "0",
            },
        })

    def _last_trade_before(self, close_ms: int) -> int:
        for trade in reversed(self.sym.trades):
            if trade.time_ms < close_ms:
                return trade.id
        return self.sym.next_trade_id

    def _price_format(self, value: float) -> str:
        """A price (possibly negative, for a change) rounded to the tick, as Binance prints it."""
        spec = self.sym.spec
        return spec.price_str(spec.ticks(value))

    def _qty_format(self, value: float) -> str:
        return f"{value:.{self.sym.spec.qty_decimals}f}"

    def _amount_format(self, value: float) -> str:
        """A quote amount or an average price, which fall between ticks."""
        return f"{value:.{self.sym.spec.price_decimals}f}"


class RequestError(Exception):
    """A control message Binance answers with an error object."""

    def __init__(self, code: int, msg: str, request_id: object = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.request_id = request_id


class StreamServer(WsServer[Connection]):
    """All WebSocket connections of one simulated Binance, and the streams they listen to."""

    counted_types = frozenset((WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.PING, WSMsgType.PONG))

    def __init__(self, sim: BinanceSim) -> None:
        super().__init__(sim)
        self.sim: BinanceSim = sim
        self.feeds: dict[str, SymbolFeed] = {}
        self.streams: dict[str, Stream] = {}
        limits = sim.config.ws
        self.attempts = FixedWindowCounter(limits.connection_attempts, limits.connection_window_s)

    def routes(self) -> list[tuple[str, Handler]]:
        prefix = self.sim.prefix
        return [(f"{prefix}/ws", self.handle_raw), (f"{prefix}/ws/{{streams:.+}}", self.handle_raw),
                (f"{prefix}/stream", self.handle_combined)]

    def on_start(self) -> None:
        self.feeds = {name: SymbolFeed(self, sym) for name, sym in self.sim.market.symbols.items()}

    def farewell(self, conn: Connection) -> None:
        """Binance's serverShutdown event (the close with 1001 follows)."""
        event = dumps({"e": "serverShutdown", "E": int(self.sim.clock() * 1000)})
        self._queue(conn, text_frame(f'{{"stream":"!serverShutdown","data":{event}}}' if conn.combined else event))

    # --- connections --------------------------------------------------------------------------

    async def handle_raw(self, request: web.Request) -> web.StreamResponse:
        return await self.serve(request, self._opening(request.match_info.get("streams", ""), combined=False))

    async def handle_combined(self, request: web.Request) -> web.StreamResponse:
        return await self.serve(request, self._opening(request.query.get("streams", ""), combined=True))

    def _opening(self, names: str, combined: bool) -> Opening:
        valid = dict.fromkeys(n for n in names.split("/") if n and self._parse(n) is not None)
        return Opening(list(valid), combined)

    def admit(self, request: web.Request, opening: Opening) -> web.StreamResponse | None:
        limits = self.sim.config.ws
        now = self.sim.clock()
        if self.attempts.add(request.remote or "", 1, now) > limits.connection_attempts:
            self.stats.ws["rejected_attempts"] += 1
            retry_after = math.ceil(self.attempts.reset_in(now))
            return web.json_response(
                {"code": -1003, "msg": f"Too many connection attempts; current limit is "
                                       f"{limits.connection_attempts} per {limits.connection_window_s} s."},
                status=429, headers={"Retry-After": str(retry_after)})
        if len(opening.streams) > limits.max_streams_per_connection:
            self.stats.ws["rejected_too_many_streams"] += 1
            return web.json_response(
                {"code": 2, "msg": f"Invalid request: too many streams (at most {limits.max_streams_per_connection})"},
                status=400)
        return None

    def websocket_response(self) -> web.WebSocketResponse:
        return web.WebSocketResponse(autoping=False, compress=False, max_msg_size=MAX_INCOMING_MESSAGE_BYTES,
                                     timeout=CLOSE_HANDSHAKE_TIMEOUT_S)

    def not_an_upgrade(self) -> web.StreamResponse:
        return web.json_response({"code": -1, "msg": "Expected a WebSocket upgrade."}, status=400)

    def connect(self, ws: web.WebSocketResponse, transport: asyncio.Transport, request: web.Request,
                opening: Opening) -> Connection:
        return Connection(ws, transport, request.remote or "", opening.combined, asyncio.get_running_loop().time(),
                          self.sim.config.ws.ping_interval_s)

    def on_open(self, conn: Connection, opening: Opening) -> None:
        self._subscribe(conn, opening.streams)

    def within_rate(self, conn: Connection) -> bool:
        return conn.count_incoming(asyncio.get_running_loop().time(), self.sim.config.ws.incoming_messages_per_s)

    def refuse_rate(self, conn: Connection) -> None:
        self.close(conn, WSCloseCode.POLICY_VIOLATION, "Too many requests")

    def on_control_frame(self, conn: Connection, msg: WSMessage) -> None:
        if msg.type is WSMsgType.PING:
            self._queue(conn, frame(OPCODE_PONG, msg.data))
        elif msg.type is WSMsgType.PONG and msg.data == conn.ping_payload:
            conn.ping_unanswered_since = None

    def on_forget(self, conn: Connection) -> None:
        for stream in conn.streams.values():
            self._drop_subscriber(stream, conn)
        conn.streams.clear()

    # --- control messages ---------------------------------------------------------------------

    def on_text(self, conn: Connection, text: str) -> None:
        try:
            reply: dict[str, Any] = self._control(conn, text)
        except RequestError as err:
            self.stats.ws["control_errors"] += 1
            reply = {"error": {"code": err.code, "msg": err.msg}}
            if err.code != 3:
                reply["id"] = err.request_id
        self.send_text(conn, dumps(reply))

    def _control(self, conn: Connection, text: str) -> dict[str, Any]:
        try:
            request = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RequestError(3, f"Invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        except (ValueError, RecursionError):
            raise RequestError(3, "Invalid JSON: could not parse the message") from None
        if not isinstance(request, dict):
            raise RequestError(2, "Invalid request: expected a JSON object")
        request_id = request.get("id")
        if "id" not in request or not _is_valid_request_id(request_id):
            raise RequestError(2, "Invalid request: request ID must be an unsigned integer")
        if "method" not in request:
            raise RequestError(2, "Invalid request: missing field `method`", request_id)
        method = request["method"]
        if method not in METHODS:
            expected = ", ".join(f"`{m}`" for m in METHODS)
            raise RequestError(2, f"Invalid request: unknown variant `{method}`, expected one of {expected}",
                               request_id)
        params = request.get("params", [])
        if not isinstance(params, list):
            raise RequestError(2, "Invalid request: params must be an array", request_id)
        result: object = None
        if method == "SUBSCRIBE":
            self._subscribe_request(conn, params, request_id)
        elif method == "UNSUBSCRIBE":
            for name in params:
                stream = conn.streams.pop(name, None) if isinstance(name, str) else None
                if stream is not None:
                    self._drop_subscriber(stream, conn)
        elif method == "LIST_SUBSCRIPTIONS":
            if params:
                raise RequestError(2, "Invalid request: too many parameters", request_id)
            result = list(conn.streams)
        else:
            if not params or not isinstance(params[0], str):
                raise RequestError(2, "Invalid request: property name must be a string", request_id)
            if len(params) > (2 if method == "SET_PROPERTY" else 1):
                raise RequestError(2, "Invalid request: too many parameters", request_id)
            if params[0] != "combined":
                raise RequestError(0, "Unknown property", request_id)
            if method == "GET_PROPERTY":
                result = conn.combined
            elif len(params) < 2 or not isinstance(params[1], bool):
                raise RequestError(1, "Invalid value type: expected Boolean", request_id)
            else:
                conn.combined = params[1]
        return {"result": result, "id": request_id}

    def _subscribe_request(self, conn: Connection, params: list[object], request_id: object) -> None:
        if not all(isinstance(name, str) and self._parse(name) is not None for name in params):
            raise RequestError(2, "Invalid request: invalid stream", request_id)
        names = [name for name in dict.fromkeys(params) if name not in conn.streams]
        limit = self.sim.config.ws.max_streams_per_connection
        if len(conn.streams) + len(names) > limit:
            raise RequestError(2, f"Invalid request: too many streams (at most {limit} per connection)", request_id)
        self._subscribe(conn, names)  # type: ignore[arg-type]  # all checked to be str above

    # --- streams ----------------------------------------------------------------------------------

    def _parse(self, name: str) -> tuple[str, str] | None:
        """(SYMBOL, kind) of a valid stream name such as "btcusdt@kline_1m"; None if it is not one."""
        symbol, at, kind = name.partition("@")
        if not at or symbol != symbol.lower() or symbol.upper() not in self.feeds:
            return None
        return (symbol.upper(), kind) if is_stream_kind(kind) else None

    def _subscribe(self, conn: Connection, names: list[str]) -> None:
        for name in names:
            if name in conn.streams:
                continue
            stream = self.streams.get(name)
            if stream is None:
                parsed = self._parse(name)
                if parsed is None:
                    continue
                symbol, kind = parsed
                stream = self.streams[name] = Stream(name, symbol, kind)
                self.feeds[symbol].streams[kind] = stream
            stream.subscribers[conn] = None
            conn.streams[name] = stream
            self.stats.ws["subscriptions"] += 1

    def _drop_subscriber(self, stream: Stream, conn: Connection) -> None:
        stream.subscribers.pop(conn, None)
        if not stream.subscribers:
            self.streams.pop(stream.name, None)
            self.feeds[stream.symbol].streams.pop(stream.kind, None)

    # --- sending --------------------------------------------------------------------------------

    def on_tick(self, sym: SymbolMarket, result: TickResult) -> None:
        """Market listener: publish this tick's events of one symbol."""
        feed = self.feeds.get(sym.spec.symbol)
        if feed is not None:
            feed.on_tick(result)

    def publish(self, stream: Stream, payload: object) -> None:
        """Encode one event once and queue the same frame for every subscriber."""
        data = dumps(payload)
        raw_frame = combined_frame = None
        enqueue = self.fanout.enqueue
        for conn in stream.subscribers:
            if conn.combined:
                if combined_frame is None:
                    combined_frame = text_frame(f"{stream.combined_prefix}{data}}}")
                enqueue(conn, combined_frame)
            else:
                if raw_frame is None:
                    raw_frame = text_frame(data)
                enqueue(conn, raw_frame)
        self.stats.ws["messages_sent"] += len(stream.subscribers)
        self.fanout.schedule_flush()

    def _queue(self, conn: Connection, data: bytes) -> None:
        """Queue a frame that is not a message (a ping, a pong, the shutdown event)."""
        self.fanout.send(conn, data)

    # --- timers -----------------------------------------------------------------------------------

    def housekeeping_period(self) -> float:
        limits = self.sim.config.ws
        return max(0.01, min(1.0, limits.ping_interval_s / 4, limits.pong_timeout_s / 4))

    def on_housekeep(self, conn: Connection, now: float) -> None:
        """Lifetime, pong timeout and the next ping."""
        limits = self.sim.config.ws
        if now - conn.opened_at >= limits.max_lifetime_s:
            self.stats.ws["lifetime_closes"] += 1
            self.close(conn, WSCloseCode.OK, "Connection lifetime exceeded")
        elif conn.ping_unanswered_since is not None and now - conn.ping_unanswered_since >= limits.pong_timeout_s:
            self.stats.ws["pong_timeouts"] += 1
            self.close(conn, WSCloseCode.POLICY_VIOLATION, "Pong timeout")
        elif now >= conn.next_ping_at:
            conn.next_ping_at = now + limits.ping_interval_s
            conn.ping_payload = str(int(self.sim.clock() * 1000)).encode()
            if conn.ping_unanswered_since is None:
                conn.ping_unanswered_since = now
            self._queue(conn, frame(OPCODE_PING, conn.ping_payload))


def _is_valid_request_id(value: object) -> bool:
    """Binance accepts a 64-bit signed integer, an alphanumeric string of at most 36 characters, or null."""
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value in _INT64
    return isinstance(value, str) and _REQUEST_ID.fullmatch(value) is not None


SERVER_KEY = web.AppKey("binance_stream_server", StreamServer)


def add_routes(app: web.Application, sim: BinanceSim) -> None:
    """Serve `sim`'s market streams under `sim.prefix` and hook the server into the app's lifecycle."""
    StreamServer(sim).mount(app, SERVER_KEY)
