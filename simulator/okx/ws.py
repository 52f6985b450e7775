"""The simulated OKX public WebSocket at `/okx/ws/v5/public` (OKX's own is `wss://ws.okx.com:8443/ws/v5/public`).

Messages follow OKX's docs (#overview-websocket, #order-book-trading-market-data-ws-order-book-channel, -trades-
channel, -tickers-channel):

- Requests: `{"op": "subscribe"|"unsubscribe", "args": [{"channel", "instId"}, ...], "id"?}`; each arg gets its own
  acknowledgement `{"event": "subscribe", "arg": {...}, "connId"}` (with the request's `id`), or an error event
  `{"event": "error", "code": "60018", "msg", "connId"}` for an unknown channel or instrument (60012 for a request
  that is not one). Plain-text `ping` is answered `pong`.
- `books`: a snapshot (`action` snapshot, `prevSeqId` -1) on subscribing, then an update per market tick that
  changed the book, with every changed level (size "0" removes one), `seqId`, `prevSeqId` (the previous push's
  `seqId`) and `checksum`, the CRC32 (signed) of the top 25 bids and asks interleaved. Levels are
  `[price, size, "0", number of orders]`. `trades`: the tick's trades; `tickers`: on a trade or a change of the
  best prices, and once on subscribing.

Limits from `sim.config.ws`: new connections per IP and second -> HTTP 429 before the upgrade; subscribe and
unsubscribe requests per connection and hour -> error 60014 (the request is refused, the connection stays); a
connection to which nothing was sent for `idle_timeout_s` (no subscription, no push, no pong) is closed with 4004.
Fault `ws_drop_per_min` cuts connections without a close frame (1006). Server shutdown closes every connection
with 1001.

Simplifications: pushes are produced per market tick (user orders show up in the next tick's update); 24 h
figures come from 1-minute candles; OKX's checksum, deprecated on OKX since 2026-06-23 (always 0 there), is sent.

Counters in `sim.stats.ws`: connections_open/_total, messages_sent, subscriptions, rejected_attempts,
control_errors, closes_idle, drops_slow_consumer.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from typing import TYPE_CHECKING, Any

from aiohttp import web

from exchanges.okx import BOOK_DEPTH, CHANNELS, INSTRUMENTS, PING, PONG, book_checksum
from simulator import ws_server
from simulator.limits import FixedWindowCounter
from simulator.market import BUY, SELL, SymbolMarket, TickResult, Trade
from simulator.okx.instruments import price_text, size_text
from simulator.okx.market_data import ticker_info
from simulator.ws_fanout import text_frame
from simulator.ws_server import Handler, WsServer, dumps

if TYPE_CHECKING:
    from simulator.okx.sim import OkxSim

IDLE_CLOSE_CODE = 4004  # "No data received in 30s."
OPS_WINDOW_S = 3600.0
Levels = dict[int, int]  # price ticks -> lots


class Connection(ws_server.Connection):
    """One client connection: its subscriptions, its subscribe operations of the last hour and its idle timer."""

    __slots__ = ("conn_id", "last_sent", "ops", "subscriptions")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport, ip: str, now: float,
                 conn_id: str) -> None:
        super().__init__(ws, transport, ip, now)
        self.conn_id = conn_id
        self.subscriptions: dict[tuple[str, str], Channel] = {}
        self.ops: deque[float] = deque()  # loop times of subscribe/unsubscribe requests in the last hour
        self.last_sent = now  # loop time of the last frame sent to it (pushes are on their channels)


class Channel:
    """One channel of one instrument and the connections subscribed to it."""

    __slots__ = ("arg", "channel", "inst_id", "last_published", "subscribers", "sym")

    def __init__(self, channel: str, inst_id: str, sym: SymbolMarket) -> None:
        self.channel = channel
        self.inst_id = inst_id
        self.sym = sym
        self.arg = f'{{"channel":"{channel}","instId":"{inst_id}"}}'
        self.subscribers: dict[Connection, None] = {}
        self.last_published = 0.0


class BookChannel(Channel):
    """The `books` view its subscribers hold (400 levels a side), kept in step tick by tick."""

    __slots__ = ("asks", "bids", "checksum", "seq_id")

    def __init__(self, inst_id: str, sym: SymbolMarket, seq_id: int) -> None:
        super().__init__("books", inst_id, sym)
        self.bids: Levels = dict(sym.top(BUY, BOOK_DEPTH))
        self.asks: Levels = dict(sym.top(SELL, BOOK_DEPTH))
        self.seq_id = seq_id
        self.checksum = self._checksum()

    def snapshot(self, now_ms: int) -> str:
        return self._message("snapshot", sorted(self.bids.items(), reverse=True), sorted(self.asks.items()), -1,
                             now_ms)

    def update(self, now_ms: int) -> str | None:
        bids, bid_changes = self._side(BUY, self.bids)
        asks, ask_changes = self._side(SELL, self.asks)
        if not bid_changes and not ask_changes:
            return None
        self.bids, self.asks = bids, asks
        previous = self.seq_id
        self.seq_id += len(bid_changes) + len(ask_changes)  # OKX's seqIds increase, not necessarily by one
        self.checksum = self._checksum()
        return self._message("update", bid_changes, ask_changes, previous, now_ms)

    def _side(self, side: str, old: Levels) -> tuple[Levels, list[tuple[int, int]]]:
        new = dict(self.sym.top(side, BOOK_DEPTH))
        changes = [(p, q) for p, q in new.items() if old.get(p) != q]
        changes += [(p, 0) for p in old if p not in new]
        return new, changes

    def _checksum(self) -> int:
        spec = self.sym.spec
        bids = [(price_text(spec, p), size_text(spec, q)) for p, q in sorted(self.bids.items(), reverse=True)[:25]]
        asks = [(price_text(spec, p), size_text(spec, q)) for p, q in sorted(self.asks.items())[:25]]
        return book_checksum(asks, bids)

    def _message(self, action: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]], prev: int,
                 now_ms: int) -> str:
        spec = self.sym.spec

        def levels(rows: list[tuple[int, int]]) -> str:
            return ",".join(f'["{price_text(spec, p)}","{size_text(spec, q)}","0","{1 + q * 7 % 13 if q else 0}"]'
                            for p, q in rows)

        return (f'{{"arg":{self.arg},"action":"{action}","data":[{{"asks":[{levels(asks)}],"bids":[{levels(bids)}],'
                f'"ts":"{now_ms}","checksum":{self.checksum},"prevSeqId":{prev},"seqId":{self.seq_id}}}]}}')


class TradeChannel(Channel):
    __slots__ = ()

    def message(self, trades: list[Trade]) -> str:
        spec = self.sym.spec
        rows = ",".join(
            f'{{"instId":"{self.inst_id}","tradeId":"{t.id}","px":"{price_text(spec, t.price)}",'
            f'"sz":"{size_text(spec, t.qty)}","side":"{"sell" if t.buyer_is_maker else "buy"}","ts":"{t.time_ms}",'
            f'"count":"1","source":"0","seqId":{t.id}}}'
            for t in trades
        )
        return f'{{"arg":{self.arg},"data":[{rows}]}}'


class TickerChannel(Channel):
    __slots__ = ("last_bbo",)

    def __init__(self, inst_id: str, sym: SymbolMarket) -> None:
        super().__init__("tickers", inst_id, sym)
        self.last_bbo: tuple[int | None, int | None] = (sym.best_bid(), sym.best_ask())


class StreamServer(WsServer[Connection]):
    """All public WebSocket connections of one simulated OKX, and the channels they listen to."""

    def __init__(self, sim: OkxSim) -> None:
        super().__init__(sim)
        self.sim: OkxSim = sim
        self.channels: dict[tuple[str, str], Channel] = {}
        self.by_instrument: dict[str, dict[str, Channel]] = {inst: {} for inst in INSTRUMENTS}
        self.attempts = FixedWindowCounter(sim.config.ws.connections_per_s, 1)
        self._rng = random.Random(sim.config.seed ^ 0x0C)

    def routes(self) -> list[tuple[str, Handler]]:
        return [(f"{self.sim.prefix}/ws/v5/public", self.handle)]

    # --- connections ----------------------------------------------------------------------------

    def admit(self, request: web.Request, opening: object) -> web.StreamResponse | None:
        if self.attempts.add(request.remote or "", 1, self.sim.clock()) > self.attempts.limit:
            self.stats.ws["rejected_attempts"] += 1
            return web.Response(status=429, text="Too Many Requests")
        return None

    def connect(self, ws: web.WebSocketResponse, transport: asyncio.Transport, request: web.Request,
                opening: object) -> Connection:
        return Connection(ws, transport, request.remote or "", asyncio.get_running_loop().time(),
                          f"{self._rng.getrandbits(32):08x}")

    def on_forget(self, conn: Connection) -> None:
        for chan in conn.subscriptions.values():
            self._drop_subscriber(chan, conn)
        conn.subscriptions.clear()

    def _send(self, conn: Connection, text: str) -> None:
        conn.last_sent = asyncio.get_running_loop().time()
        self.send_text(conn, text)

    # --- requests -------------------------------------------------------------------------------

    def on_text(self, conn: Connection, text: str) -> None:
        if text == PING:
            self._send(conn, PONG)
            return
        try:
            request = json.loads(text)
        except (ValueError, RecursionError):
            request = None
        op = request.get("op") if isinstance(request, dict) else None
        args = request.get("args") if isinstance(request, dict) else None
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            self._error(conn, "60012", f"Invalid request: {text[:200]}", request)
            return
        now = asyncio.get_running_loop().time()
        while conn.ops and now - conn.ops[0] >= OPS_WINDOW_S:
            conn.ops.popleft()
        if len(conn.ops) >= self.sim.config.ws.subscribe_ops_per_hour:
            self._error(conn, "60014", "Requests too frequent.", request)
            return
        conn.ops.append(now)
        for arg in args:
            channel = arg.get("channel") if isinstance(arg, dict) else None
            inst_id = arg.get("instId") if isinstance(arg, dict) else None
            if channel not in CHANNELS or inst_id not in INSTRUMENTS:
                self._error(conn, "60018", f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist. Please "
                            "use the correct URL, channel and parameters referring to API document.", request)
                continue
            ack: dict[str, Any] = {"event": op, "arg": {"channel": channel, "instId": inst_id}, "connId": conn.conn_id}
            if isinstance(request.get("id"), str):
                ack = {"id": request["id"], **ack}
            if op == "subscribe":
                chan = conn.subscriptions.get((channel, inst_id)) or self._subscribe(conn, channel, inst_id)
                self._send(conn, dumps(ack))
                self._first_push(conn, chan)
            else:
                chan = conn.subscriptions.pop((channel, inst_id), None)
                if chan is not None:
                    self._drop_subscriber(chan, conn)
                self._send(conn, dumps(ack))

    def _error(self, conn: Connection, code: str, msg: str, request: Any) -> None:
        self.stats.ws["control_errors"] += 1
        answer: dict[str, Any] = {"event": "error", "code": code, "msg": msg, "connId": conn.conn_id}
        if isinstance(request, dict) and isinstance(request.get("id"), str):
            answer = {"id": request["id"], **answer}
        self._send(conn, dumps(answer))

    def _subscribe(self, conn: Connection, channel: str, inst_id: str) -> Channel:
        chan = self.channels.get((channel, inst_id))
        if chan is None:
            sym = self.sim.market.symbols[inst_id]
            if channel == "books":
                chan = BookChannel(inst_id, sym, self._rng.randrange(10**9, 10**10))
            elif channel == "tickers":
                chan = TickerChannel(inst_id, sym)
            else:
                chan = TradeChannel(channel, inst_id, sym)
            self.channels[(channel, inst_id)] = self.by_instrument[inst_id][channel] = chan
        chan.subscribers[conn] = None
        conn.subscriptions[(channel, inst_id)] = chan
        self.stats.ws["subscriptions"] += 1
        return chan

    def _drop_subscriber(self, chan: Channel, conn: Connection) -> None:
        chan.subscribers.pop(conn, None)
        if not chan.subscribers:
            self.channels.pop((chan.channel, chan.inst_id), None)
            self.by_instrument[chan.inst_id].pop(chan.channel, None)

    def _first_push(self, conn: Connection, chan: Channel) -> None:
        now_ms = int(self.now_ms())
        if isinstance(chan, BookChannel):
            self._send(conn, chan.snapshot(now_ms))
        elif isinstance(chan, TickerChannel):
            self._send(conn, self._ticker(chan, now_ms))

    def _ticker(self, chan: Channel, now_ms: int) -> str:
        return f'{{"arg":{chan.arg},"data":[{dumps(ticker_info(self.sim, chan.inst_id, now_ms))}]}}'

    # --- publishing -----------------------------------------------------------------------------

    def on_tick(self, sym: SymbolMarket, result: TickResult) -> None:
        channels = self.by_instrument.get(sym.spec.symbol)
        if not channels:
            return
        now_ms = result.time_ms
        for chan in list(channels.values()):
            text: str | None = None
            if isinstance(chan, BookChannel):
                text = chan.update(now_ms)
            elif isinstance(chan, TradeChannel):
                text = chan.message(result.trades) if result.trades else None
            elif isinstance(chan, TickerChannel):
                bbo = (sym.best_bid(), sym.best_ask())
                if result.trades or bbo != chan.last_bbo:
                    text = self._ticker(chan, now_ms)
                chan.last_bbo = bbo
            if text is not None:
                chan.last_published = asyncio.get_running_loop().time()
                self.stats.ws["messages_sent"] += self.fanout.broadcast(chan.subscribers, text_frame(text))

    # --- timers -----------------------------------------------------------------------------------

    def housekeeping_period(self) -> float:
        return max(0.01, self.sim.config.ws.idle_timeout_s / 8)

    def on_housekeep(self, conn: Connection, now: float) -> None:
        """Close a connection to which nothing was sent for `idle_timeout_s`."""
        last = max([conn.last_sent, *(chan.last_published for chan in conn.subscriptions.values())])
        if now - last >= self.sim.config.ws.idle_timeout_s:
            self.stats.ws["closes_idle"] += 1
            self.close(conn, IDLE_CLOSE_CODE, "No data received in 30s.")


SERVER_KEY = web.AppKey("okx_stream_server", StreamServer)


def add_routes(app: web.Application, sim: OkxSim) -> None:
    """Serve `sim`'s public WebSocket under `<prefix>/ws/v5/public` and hook it into the app's lifecycle."""
    StreamServer(sim).mount(app, SERVER_KEY)
