"""The simulated Kraken WebSocket v2 server at `/kraken/ws/v2` (Kraken's own is `wss://ws.kraken.com/v2`).

Messages follow KR /exchange/api-reference/spot-websocket (see shared/reference/exchanges.md 3.4):

- On connect: a `status` message. Requests: `subscribe`/`unsubscribe` with `params.channel` in
  `ticker` (`event_trigger` trades|bbo), `book` (`depth` 10|25|100|500|1000) and `trade`, `params.symbol`
  a list of v2 symbols (`BTC/USD`), optional `snapshot` (default true) and `req_id`; `ping` -> `pong`.
  Each symbol gets its own acknowledgement `{"method", "result", "success", "time_in", "time_out",
  "req_id"}`; a refused one carries `"success": false` and an `error` string.
- Channel messages `{"channel", "type": "snapshot"|"update", "data": [...]}`; numbers are JSON numbers
  printed with the pair's precision (prices with its price decimals, quantities with 8), so that the
  book checksum can be computed from the wire text. Book snapshots and updates carry the CRC32 of the
  top 10 levels; an update holds every level that changed within the subscribed depth since the last
  one (quantity 0 removes a level), except levels that only fell out of that depth, which the client
  drops by truncating, as Kraken specifies.
- `{"channel":"heartbeat"}` about once a `heartbeat_interval_s` to a subscribed connection that got
  nothing else in that time.

Limits from `sim.config.ws` (Kraken publishes none of them; see exchanges.kraken.WsLimits): incoming
messages per second per connection -> an `Exceeded msg rate` error and close 1008; connection
attempts per IP per window -> HTTP 429 before the upgrade, as Cloudflare answers; a connection with no
subscription for `unsubscribed_timeout_s` -> close 1008. Fault `ws_drop_per_min` cuts connections
without a close frame (1006). Server shutdown closes every connection with 1001.

Simplifications: events are produced per market tick (user orders show up in the next tick's book
update); ticker `bbo` triggers on a change of the best prices; 24 h figures come from 1-minute candles.

Counters in `sim.stats.ws`: connections_open/_total, messages_sent (channel messages, acknowledgements,
heartbeats), subscriptions, rejected_attempts, disconnects_msg_rate, closes_unsubscribed,
control_errors, drops_slow_consumer; injected drops count in `sim.stats.faults["ws_drop"]`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web

from exchanges.kraken import BOOK_DEPTHS, PAIRS, TRADE_SNAPSHOT_SIZE, Pair, book_checksum
from simulator import ws_server
from simulator.limits import FixedWindowCounter
from simulator.market import BUY, SELL, SymbolMarket, SymbolSpec, TickResult, Trade
from simulator.rolling import DayStats, DayWindow
from simulator.ws_fanout import text_frame
from simulator.ws_server import Handler, WsServer, dumps

if TYPE_CHECKING:
    from simulator.kraken.sim import KrakenSim

API_VERSION = "v2"
SERVER_VERSION = "2.0.10"
CHANNELS = ("ticker", "book", "trade")
EVENT_TRIGGERS = ("trades", "bbo")
INVALID_ARGUMENTS = "EGeneral:Invalid arguments"
SYMBOLS: dict[str, Pair] = {pair.symbol: pair for pair in PAIRS.values()}
Levels = list[tuple[int, int]]  # (price ticks, lots), best first
HEARTBEAT = text_frame('{"channel":"heartbeat"}')


def rfc3339(ms: float) -> str:
    """`2023-10-06T17:35:55.440000Z`: RFC 3339 in UTC with microseconds, as Kraken v2 prints times."""
    moment = datetime.fromtimestamp(ms / 1000.0, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Connection(ws_server.Connection):
    """One client connection: its subscriptions, and its heartbeat and no-subscription timers."""

    __slots__ = ("heartbeat_at", "subscriptions", "unsubscribed_since")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport, ip: str, now: float) -> None:
        super().__init__(ws, transport, ip, now)
        self.subscriptions: dict[tuple[str, str], Channel] = {}  # (channel, symbol) -> its channel
        self.heartbeat_at = now  # loop time of the last heartbeat (or of the connect)
        self.unsubscribed_since: float | None = now


class Channel:
    """One channel of one pair (with its depth or trigger) and the connections subscribed to it."""

    __slots__ = ("channel", "key", "last_published", "pair", "spec", "subscribers", "sym")

    def __init__(self, channel: str, pair: Pair, sym: SymbolMarket, key: tuple[str, str, object]) -> None:
        self.channel = channel
        self.pair = pair
        self.sym = sym
        self.spec: SymbolSpec = sym.spec
        self.key = key
        self.subscribers: dict[Connection, None] = {}
        self.last_published = 0.0  # loop time of the last channel message, for heartbeats

    def ack_result(self, snapshot: bool) -> dict[str, Any]:
        return {"channel": self.channel, "snapshot": snapshot, "symbol": self.pair.symbol}


class TradeChannel(Channel):
    __slots__ = ()

    def message(self, kind: str, trades: Iterable[Trade]) -> str:
        spec, symbol = self.spec, self.pair.symbol
        rows = ",".join(
            f'{{"symbol":"{symbol}","side":"{"sell" if t.buyer_is_maker else "buy"}","price":{spec.price_str(t.price)},'
            f'"qty":{spec.qty_str(t.qty)},"ord_type":"market","trade_id":{t.id},"timestamp":"{rfc3339(t.time_ms)}"}}'
            for t in trades
        )
        return f'{{"channel":"trade","type":"{kind}","data":[{rows}]}}'


class TickerChannel(Channel):
    __slots__ = ("event_trigger", "last_bbo")

    def __init__(self, pair: Pair, sym: SymbolMarket, event_trigger: str) -> None:
        super().__init__("ticker", pair, sym, ("ticker", pair.id, event_trigger))
        self.event_trigger = event_trigger
        self.last_bbo: tuple[int | None, int | None] = (sym.best_bid(), sym.best_ask())

    def ack_result(self, snapshot: bool) -> dict[str, Any]:
        return {"channel": "ticker", "event_trigger": self.event_trigger, "snapshot": snapshot,
                "symbol": self.pair.symbol}

    def message(self, kind: str, day: DayStats, now_ms: int) -> str:
        sym, spec = self.sym, self.spec
        bid, ask = sym.best_bid(), sym.best_ask()
        bid_qty = sym.bids[bid] if bid is not None else 0
        ask_qty = sym.asks[ask] if ask is not None else 0
        last = sym.last_price() * spec.tick_size
        change = last - day.open
        vwap = day.quote_volume / day.volume if day.volume else last
        price = self._price
        return (
            f'{{"channel":"ticker","type":"{kind}","data":[{{"symbol":"{self.pair.symbol}",'
            f'"bid":{spec.price_str(bid or 0)},"bid_qty":{spec.qty_str(bid_qty)},'
            f'"ask":{spec.price_str(ask or 0)},"ask_qty":{spec.qty_str(ask_qty)},'
            f'"last":{price(last)},"volume":{day.volume:.8f},"vwap":{price(vwap)},'
            f'"low":{price(day.low)},"high":{price(day.high)},"change":{price(change)},'
            f'"change_pct":{(change / day.open * 100 if day.open else 0.0):.2f},"timestamp":"{rfc3339(now_ms)}"}}]}}'
        )

    def _price(self, value: float) -> str:
        return self.spec.price_str(self.spec.ticks(value))


class BookChannel(Channel):
    """A book of `depth` levels per side: the view its subscribers hold, kept in step tick by tick."""

    __slots__ = ("asks", "bids", "checksum", "depth")

    def __init__(self, pair: Pair, sym: SymbolMarket, depth: int) -> None:
        super().__init__("book", pair, sym, ("book", pair.id, depth))
        self.depth = depth
        self.bids: Levels = sym.top(BUY, depth)
        self.asks: Levels = sym.top(SELL, depth)
        self.checksum = self._checksum()

    def ack_result(self, snapshot: bool) -> dict[str, Any]:
        return {"channel": "book", "depth": self.depth, "snapshot": snapshot, "symbol": self.pair.symbol}

    def snapshot(self, now_ms: float) -> str:
        return self._message("snapshot", self.bids, self.asks, now_ms)

    def update(self, now_ms: float) -> str | None:
        """The update that brings subscribers from the last view to the market's book now; None if unchanged."""
        bids, bid_changes = self._side(BUY, self.bids)
        asks, ask_changes = self._side(SELL, self.asks)
        if not bid_changes and not ask_changes:
            return None
        self.bids, self.asks = bids, asks
        self.checksum = self._checksum()
        return self._message("update", bid_changes, ask_changes, now_ms)

    def _side(self, side: str, old_levels: Levels) -> tuple[Levels, Levels]:
        """One side's new view and the changes that lead to it from `old_levels`."""
        new_levels = self.sym.top(side, self.depth)
        old = dict(old_levels)
        changes = [(p, q) for p, q in new_levels if old.get(p) != q]
        new_prices = {p for p, _ in new_levels}
        removed = [p for p in old if p not in new_prices]
        if removed and len(new_levels) == self.depth:
            # A level that merely fell below the depth is dropped by the client's truncation: no 0 for it.
            worst = new_levels[-1][0]
            removed = [p for p in removed if (p > worst if side == BUY else p < worst)]
        changes.extend((p, 0) for p in removed)
        return new_levels, changes

    def _checksum(self) -> int:
        price, qty = self.spec.price_str, self.spec.qty_str
        return book_checksum([(price(p), qty(q)) for p, q in self.asks[:10]],
                             [(price(p), qty(q)) for p, q in self.bids[:10]])

    def _message(self, kind: str, bids: Levels, asks: Levels, now_ms: float) -> str:
        price, qty = self.spec.price_str, self.spec.qty_str
        bid_text = ",".join(f'{{"price":{price(p)},"qty":{qty(q)}}}' for p, q in bids)
        ask_text = ",".join(f'{{"price":{price(p)},"qty":{qty(q)}}}' for p, q in asks)
        return (
            f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{self.pair.symbol}","bids":[{bid_text}],'
            f'"asks":[{ask_text}],"checksum":{self.checksum},"timestamp":"{rfc3339(now_ms)}"}}]}}'
        )


def refuse_over_attempts(sim: KrakenSim, attempts: FixedWindowCounter, request: web.Request) -> web.Response | None:
    """HTTP 429 (Cloudflare's "error code: 1015") for a handshake beyond `[kraken.ws] connection_attempts` per IP
    per window; None admits it."""
    now = sim.clock()
    if attempts.add(request.remote or "", 1, now) > sim.config.ws.connection_attempts:
        sim.stats.ws["rejected_attempts"] += 1
        retry_after = math.ceil(attempts.reset_in(now))
        return web.Response(status=429, text="error code: 1015", headers={"Retry-After": str(retry_after)})
    return None


class RequestError(Exception):
    """A request Kraken refuses as a whole (an error answer without a symbol)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class StreamServer(WsServer[Connection]):
    """All WebSocket v2 connections of one simulated Kraken, and the channels they listen to."""

    def __init__(self, sim: KrakenSim) -> None:
        super().__init__(sim)
        self.sim: KrakenSim = sim
        self.channels: dict[tuple[str, str, object], Channel] = {}
        self.symbol_channels: dict[str, dict[tuple[str, str, object], Channel]] = {pair_id: {} for pair_id in PAIRS}
        limits = sim.config.ws
        self.attempts = FixedWindowCounter(limits.connection_attempts, limits.connection_window_s)
        self._connection_ids = itertools.count(random.Random(sim.config.seed).randrange(10**18, 10**19))
        self._day_stats: dict[str, tuple[int, DayStats]] = {}  # pair id -> (second, its 24 h statistics)
        self._day_windows: dict[str, DayWindow] = sim.day_windows

    def routes(self) -> list[tuple[str, Handler]]:
        return [(f"{self.sim.prefix}/ws/v2", self.handle)]

    # --- connections ----------------------------------------------------------------------------

    def admit(self, request: web.Request, opening: object) -> web.StreamResponse | None:
        return refuse_over_attempts(self.sim, self.attempts, request)

    def connect(self, ws: web.WebSocketResponse, transport: asyncio.Transport, request: web.Request,
                opening: object) -> Connection:
        return Connection(ws, transport, request.remote or "", asyncio.get_running_loop().time())

    def on_open(self, conn: Connection, opening: object) -> None:
        self.send_text(conn, dumps({"channel": "status", "type": "update", "data": [{
            "version": SERVER_VERSION, "system": "online", "api_version": API_VERSION,
            "connection_id": next(self._connection_ids)}]}))

    def within_rate(self, conn: Connection) -> bool:
        return conn.count_incoming(asyncio.get_running_loop().time(), self.sim.config.ws.incoming_messages_per_s)

    def refuse_rate(self, conn: Connection) -> None:
        self.send_text(conn, dumps({"error": "Exceeded msg rate", "success": False,
                                    "time_in": rfc3339(self.now_ms()), "time_out": rfc3339(self.now_ms())}))
        self.close(conn, WSCloseCode.POLICY_VIOLATION, "Exceeded msg rate")

    def on_forget(self, conn: Connection) -> None:
        for chan in conn.subscriptions.values():
            self._drop_subscriber(chan, conn)
        conn.subscriptions.clear()

    # --- requests ---------------------------------------------------------------------------------

    def on_text(self, conn: Connection, text: str) -> None:
        time_in = rfc3339(self.now_ms())
        request: Any = None
        try:
            try:
                request = json.loads(text)
            except (ValueError, RecursionError):
                raise RequestError(INVALID_ARGUMENTS) from None
            if not isinstance(request, dict):
                raise RequestError(INVALID_ARGUMENTS)
            req_id = request.get("req_id")
            if req_id is not None and (isinstance(req_id, bool) or not isinstance(req_id, int)):
                raise RequestError(f"{INVALID_ARGUMENTS}:req_id")
            method = request.get("method")
            if method == "ping":
                self._answer(conn, {"method": "pong"}, request, time_in)
            elif method in ("subscribe", "unsubscribe"):
                self._subscription_request(conn, method, request, time_in)
            else:
                raise RequestError(f"{INVALID_ARGUMENTS}:method")
        except RequestError as err:
            self.stats.ws["control_errors"] += 1
            answer: dict[str, Any] = {"error": err.error, "success": False}
            if isinstance(request, dict) and isinstance(request.get("method"), str):
                answer = {"error": err.error, "method": request["method"], "success": False}
            self._answer(conn, answer, request if isinstance(request, dict) else {}, time_in)

    def _answer(self, conn: Connection, answer: dict[str, Any], request: dict[str, Any], time_in: str) -> None:
        answer["time_in"] = time_in
        answer["time_out"] = rfc3339(self.now_ms())
        req_id = request.get("req_id")
        if isinstance(req_id, int) and not isinstance(req_id, bool):
            answer["req_id"] = req_id
        self.send_text(conn, dumps(answer))

    def _subscription_request(self, conn: Connection, method: str, request: dict[str, Any], time_in: str) -> None:
        params = request.get("params")
        if not isinstance(params, dict):
            raise RequestError(f"{INVALID_ARGUMENTS}:params")
        channel = params.get("channel")
        if channel not in CHANNELS:
            raise RequestError(f"{INVALID_ARGUMENTS}:channel")
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
            raise RequestError(f"{INVALID_ARGUMENTS}:symbol")
        snapshot = params.get("snapshot", True)
        if not isinstance(snapshot, bool):
            raise RequestError(f"{INVALID_ARGUMENTS}:snapshot")
        variant = self._variant(channel, params)
        for symbol in dict.fromkeys(symbols):
            pair = SYMBOLS.get(symbol)
            error = None
            if pair is None:
                error = f"Currency pair not supported {symbol}"
            elif method == "subscribe":
                if (channel, symbol) in conn.subscriptions:
                    error = "Already subscribed"
                else:
                    chan = self._subscribe(conn, channel, pair, variant)
                    self._answer(conn, {"method": method, "result": chan.ack_result(snapshot), "success": True},
                                 request, time_in)
                    if snapshot:
                        self._send_snapshot(conn, chan)
                    continue
            else:
                chan = conn.subscriptions.get((channel, symbol))
                if chan is None or chan.key[2] != variant:
                    error = "Subscription Not Found"
                else:
                    self._unsubscribe(conn, chan)
                    result = chan.ack_result(snapshot)
                    result.pop("snapshot")
                    self._answer(conn, {"method": method, "result": result, "success": True}, request, time_in)
                    continue
            self.stats.ws["control_errors"] += 1
            self._answer(conn, {"error": error, "method": method, "success": False, "symbol": symbol}, request, time_in)

    @staticmethod
    def _variant(channel: str, params: dict[str, Any]) -> object:
        if channel == "book":
            depth = params.get("depth", 10)
            if type(depth) is not int or depth not in BOOK_DEPTHS:
                raise RequestError(f"{INVALID_ARGUMENTS}:depth")
            return depth
        if channel == "ticker":
            trigger = params.get("event_trigger", "trades")
            if trigger not in EVENT_TRIGGERS:
                raise RequestError(f"{INVALID_ARGUMENTS}:event_trigger")
            return trigger
        return None

    def _subscribe(self, conn: Connection, channel: str, pair: Pair, variant: object) -> Channel:
        key = (channel, pair.id, variant)
        chan = self.channels.get(key)
        if chan is None:
            sym = self.sim.market.symbols[pair.id]
            if channel == "book":
                assert isinstance(variant, int)
                chan = BookChannel(pair, sym, variant)
            elif channel == "ticker":
                chan = TickerChannel(pair, sym, str(variant))
            else:
                chan = TradeChannel("trade", pair, sym, key)
            self.channels[key] = self.symbol_channels[pair.id][key] = chan
        chan.subscribers[conn] = None
        conn.subscriptions[(channel, pair.symbol)] = chan
        conn.unsubscribed_since = None
        self.stats.ws["subscriptions"] += 1
        return chan

    def _unsubscribe(self, conn: Connection, chan: Channel) -> None:
        conn.subscriptions.pop((chan.channel, chan.pair.symbol), None)
        self._drop_subscriber(chan, conn)
        if not conn.subscriptions:
            conn.unsubscribed_since = asyncio.get_running_loop().time()

    def _drop_subscriber(self, chan: Channel, conn: Connection) -> None:
        chan.subscribers.pop(conn, None)
        if not chan.subscribers:
            self.channels.pop(chan.key, None)
            self.symbol_channels[chan.pair.id].pop(chan.key, None)

    def _send_snapshot(self, conn: Connection, chan: Channel) -> None:
        now_ms = self.now_ms()
        if isinstance(chan, BookChannel):
            self.send_text(conn, chan.snapshot(now_ms))
        elif isinstance(chan, TickerChannel):
            self.send_text(conn, chan.message("snapshot", self._day(chan.sym, int(now_ms)), int(now_ms)))
        elif isinstance(chan, TradeChannel):
            trades = list(chan.sym.trades)[-TRADE_SNAPSHOT_SIZE:]
            self.send_text(conn, chan.message("snapshot", trades))

    # --- publishing ---------------------------------------------------------------------------------

    def on_tick(self, sym: SymbolMarket, result: TickResult) -> None:
        """Market listener: publish this tick's messages of one pair's channels."""
        channels = self.symbol_channels.get(sym.spec.symbol)
        if not channels:
            return
        now_ms = result.time_ms
        for chan in list(channels.values()):
            text: str | None = None
            if isinstance(chan, BookChannel):
                text = chan.update(now_ms)
            elif isinstance(chan, TradeChannel):
                if result.trades:
                    text = chan.message("update", result.trades)
            elif isinstance(chan, TickerChannel):
                bbo = (sym.best_bid(), sym.best_ask())
                triggered = bool(result.trades) if chan.event_trigger == "trades" else bbo != chan.last_bbo
                if triggered:
                    text = chan.message("update", self._day(sym, now_ms), now_ms)
                chan.last_bbo = bbo
            if text is not None:
                self._publish(chan, text)

    def _day(self, sym: SymbolMarket, now_ms: int) -> DayStats:
        """The pair's rolling 24 h statistics, computed at most once a second."""
        second = now_ms // 1000
        cached = self._day_stats.get(sym.spec.symbol)
        if cached is None or cached[0] != second:
            cached = self._day_stats[sym.spec.symbol] = (second, self._day_windows[sym.spec.symbol].stats(sym, now_ms))
        return cached[1]

    def _publish(self, chan: Channel, text: str) -> None:
        chan.last_published = asyncio.get_running_loop().time()
        self.stats.ws["messages_sent"] += self.fanout.broadcast(chan.subscribers, text_frame(text))

    # --- timers ---------------------------------------------------------------------------------------

    def housekeeping_period(self) -> float:
        limits = self.sim.config.ws
        return max(0.01, min(limits.heartbeat_interval_s, limits.unsubscribed_timeout_s) / 4)

    def on_housekeep(self, conn: Connection, now: float) -> None:
        """Close a connection without subscriptions for too long; a heartbeat to a subscribed one that is quiet."""
        limits = self.sim.config.ws
        if conn.unsubscribed_since is not None:
            if now - conn.unsubscribed_since >= limits.unsubscribed_timeout_s:
                self.stats.ws["closes_unsubscribed"] += 1
                self.close(conn, WSCloseCode.POLICY_VIOLATION, "No subscriptions")
            return
        quiet_since = max(conn.heartbeat_at, *(chan.last_published for chan in conn.subscriptions.values()))
        if now - quiet_since >= limits.heartbeat_interval_s:
            conn.heartbeat_at = now
            self.fanout.send(conn, HEARTBEAT)
            self.stats.ws["messages_sent"] += 1


SERVER_KEY = web.AppKey("kraken_stream_server", StreamServer)


def add_routes(app: web.Application, sim: KrakenSim) -> None:
    """Serve `sim`'s WebSocket v2 under `<prefix>/ws/v2` and hook the server into the app's lifecycle."""
    StreamServer(sim).mount(app, SERVER_KEY)
