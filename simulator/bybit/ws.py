"""The simulated Bybit v5 public spot WebSocket at `/bybit/v5/public/spot` (Bybit's: wss://stream.bybit.com/v5/public/spot).

Requests are `{"req_id", "op", "args"}`: `subscribe` and `unsubscribe` with at most `max_args_per_request` topics
(10 on spot), `ping`. Answers, as Bybit's spot public stream sends them: `{"success", "ret_msg", "conn_id", "req_id",
"op"}` (`ret_msg` "subscribe", or "pong" for a ping; a refused request `"success": false` with the reason).
Topics:

- `orderbook.{1|50|200|1000}.{symbol}`: a `snapshot` of the book's top levels after each subscribe, then a
  `delta` per market tick that changed them, each with `u`, the topic's update id (one more per message, the same
  id for every subscriber), and `seq`; a delta holds every level that changed within the depth, a size of 0
  removing one (levels that fall below the depth included). Level 1 sends snapshots only.
- `publicTrade.{symbol}`: the tick's trades (no history on subscribe).
- `tickers.{symbol}`: a snapshot after each subscribe and after each tick with trades (24 h figures from
  1-minute candles).

Limits from `sim.config.ws`: connection attempts per IP per window -> HTTP 429 before the upgrade (Bybit publishes
the limit but not its answer); incoming messages per second per connection (not published by Bybit) -> close
1008; a connection that sent no ping and got no data for `idle_timeout_s` is closed (Bybit: 10 minutes).
Counters in `sim.stats.ws`: connections_open/_total, messages_sent, subscriptions, rejected_attempts,
disconnects_msg_rate, control_errors, closes_idle; injected drops count in `sim.stats.faults["ws_drop"]`.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web

from exchanges.bybit import BOOK_DEPTHS, INSTRUMENTS, PUBLIC_SPOT_WS_PATH
from simulator import ws_server
from simulator.limits import FixedWindowCounter
from simulator.market import BUY, SELL, SymbolMarket, SymbolSpec, TickResult, Trade
from simulator.rolling import DayStats
from simulator.ws_fanout import text_frame
from simulator.ws_server import Handler, WsServer, dumps

if TYPE_CHECKING:
    from simulator.bybit.sim import BybitSim

Levels = list[tuple[int, int]]  # (price ticks, lots), best first


class Connection(ws_server.Connection):
    __slots__ = ("conn_id", "last_ping", "topics")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport, ip: str, now: float,
                 conn_id: str) -> None:
        super().__init__(ws, transport, ip, now)
        self.conn_id = conn_id
        self.topics: dict[str, Topic] = {}
        self.last_ping = now  # loop time of the last ping (or of the connect)


class Topic:
    """One topic and the connections subscribed to it."""

    __slots__ = ("last_published", "name", "spec", "subscribers", "sym")

    def __init__(self, name: str, sym: SymbolMarket) -> None:
        self.name = name
        self.sym = sym
        self.spec: SymbolSpec = sym.spec
        self.subscribers: dict[Connection, None] = {}
        self.last_published = 0.0


class BookTopic(Topic):
    """`orderbook.<depth>.<symbol>`: the view its subscribers hold and the topic's update id."""

    __slots__ = ("asks", "bids", "depth", "update_id")

    def __init__(self, name: str, sym: SymbolMarket, depth: int, first_update_id: int) -> None:
        super().__init__(name, sym)
        self.depth = depth
        self.bids: Levels = sym.top(BUY, depth)
        self.asks: Levels = sym.top(SELL, depth)
        self.update_id = first_update_id

    def snapshot(self, now_ms: int) -> str:
        return self._message("snapshot", self.bids, self.asks, now_ms)

    def update(self, now_ms: int) -> str | None:
        """The delta from the subscribers' view to the market's book now (a snapshot at depth 1); None if unchanged."""
        bids, bid_changes = self._side(BUY, self.bids)
        asks, ask_changes = self._side(SELL, self.asks)
        if not bid_changes and not ask_changes:
            return None
        self.bids, self.asks = bids, asks
        self.update_id += 1
        if self.depth == 1:
            return self._message("snapshot", bids, asks, now_ms)
        return self._message("delta", bid_changes, ask_changes, now_ms)

    def _side(self, side: str, old_levels: Levels) -> tuple[Levels, Levels]:
        new_levels = self.sym.top(side, self.depth)
        old = dict(old_levels)
        changes = [(p, q) for p, q in new_levels if old.get(p) != q]
        new_prices = {p for p, _ in new_levels}
        changes.extend((p, 0) for p in old if p not in new_prices)
        return new_levels, changes

    def _message(self, kind: str, bids: Levels, asks: Levels, now_ms: int) -> str:
        price, qty = self.spec.price_str, self.spec.qty_str
        bid_text = ",".join(f'["{price(p)}","{qty(q)}"]' for p, q in bids)
        ask_text = ",".join(f'["{price(p)}","{qty(q)}"]' for p, q in asks)
        return (f'{{"topic":"{self.name}","ts":{now_ms},"type":"{kind}","data":{{"s":"{self.spec.symbol}",'
                f'"b":[{bid_text}],"a":[{ask_text}],"u":{self.update_id},"seq":{self.sym.last_update_id}}},'
                f'"cts":{now_ms}}}')


class TradeTopic(Topic):
    __slots__ = ()

    def message(self, trades: list[Trade], now_ms: int) -> str:
        spec = self.spec
        rows = ",".join(
            f'{{"i":"{t.id}","T":{t.time_ms},"p":"{spec.price_str(t.price)}","v":"{spec.qty_str(t.qty)}",'
            f'"S":"{"Sell" if t.buyer_is_maker else "Buy"}","s":"{spec.symbol}","BT":false,"RPI":false,"seq":{t.id}}}'
            for t in trades
        )
        return f'{{"topic":"{self.name}","ts":{now_ms},"type":"snapshot","data":[{rows}]}}'


class TickerTopic(Topic):
    __slots__ = ()

    def message(self, day: DayStats, now_ms: int) -> str:
        spec, sym = self.spec, self.sym
        last = sym.last_price() * spec.tick_size
        price = self._price
        return dumps({
            "topic": self.name, "ts": now_ms, "type": "snapshot", "cs": sym.last_update_id,
            "data": {"symbol": spec.symbol, "lastPrice": spec.price_str(sym.last_price()),
                     "highPrice24h": price(day.high), "lowPrice24h": price(day.low),
                     "prevPrice24h": price(day.open), "volume24h": f"{day.volume:.8f}",
                     "turnover24h": f"{day.quote_volume:.8f}",
                     "price24hPcnt": f"{(last - day.open) / day.open if day.open else 0.0:.4f}",
                     "usdIndexPrice": price(last)},
        })

    def _price(self, value: float) -> str:
        return self.spec.price_str(self.spec.ticks(value))


class RequestError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StreamServer(WsServer[Connection]):
    """All public spot connections of one simulated Bybit, and the topics they listen to."""

    def __init__(self, sim: BybitSim) -> None:
        super().__init__(sim)
        self.sim: BybitSim = sim
        self.topics: dict[str, Topic] = {}
        self.symbol_topics: dict[str, dict[str, Topic]] = {symbol: {} for symbol in INSTRUMENTS}
        limits = sim.config.ws
        self.attempts = FixedWindowCounter(limits.connection_attempts, limits.connection_window_s)
        self._rng = random.Random(sim.config.seed ^ 0xB7B1)
        self._day_stats: dict[str, tuple[int, DayStats]] = {}

    def routes(self) -> list[tuple[str, Handler]]:
        return [(f"{self.sim.prefix}{PUBLIC_SPOT_WS_PATH}", self.handle)]

    # --- connections ----------------------------------------------------------------------------

    def admit(self, request: web.Request, opening: object) -> web.StreamResponse | None:
        limits = self.sim.config.ws
        now = self.sim.clock()
        if self.attempts.add(request.remote or "", 1, now) > limits.connection_attempts:
            self.stats.ws["rejected_attempts"] += 1
            return web.Response(status=429, text="too many connection attempts",
                                headers={"Retry-After": str(math.ceil(self.attempts.reset_in(now)))})
        return None

    def connect(self, ws: web.WebSocketResponse, transport: asyncio.Transport, request: web.Request,
                opening: object) -> Connection:
        conn_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        return Connection(ws, transport, request.remote or "", asyncio.get_running_loop().time(), conn_id)

    def within_rate(self, conn: Connection) -> bool:
        return conn.count_incoming(asyncio.get_running_loop().time(), self.sim.config.ws.incoming_messages_per_s)

    def refuse_rate(self, conn: Connection) -> None:
        self.close(conn, WSCloseCode.POLICY_VIOLATION, "Too many messages")

    def on_forget(self, conn: Connection) -> None:
        for topic in conn.topics.values():
            self._drop_subscriber(topic, conn)
        conn.topics.clear()

    # --- requests ---------------------------------------------------------------------------------

    def on_text(self, conn: Connection, text: str) -> None:
        request: Any = None
        try:
            try:
                request = json.loads(text)
            except (ValueError, RecursionError):
                raise RequestError("error:request not json") from None
            if not isinstance(request, dict):
                raise RequestError("error:request not json")
            op = request.get("op")
            if op == "ping":
                conn.last_ping = asyncio.get_running_loop().time()
                self._answer(conn, request, True, "pong")
            elif op in ("subscribe", "unsubscribe"):
                self._subscription(conn, op, request)
            else:
                raise RequestError(f"error:op {op!r} not supported")
        except RequestError as err:
            self.stats.ws["control_errors"] += 1
            self._answer(conn, request if isinstance(request, dict) else {}, False, err.message)

    def _answer(self, conn: Connection, request: dict[str, Any], success: bool, message: str) -> None:
        answer: dict[str, Any] = {"success": success, "ret_msg": message, "conn_id": conn.conn_id}
        if "req_id" in request:
            answer["req_id"] = request["req_id"]
        answer["op"] = request.get("op", "")
        self.send_text(conn, dumps(answer))

    def _subscription(self, conn: Connection, op: str, request: dict[str, Any]) -> None:
        args = request.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            raise RequestError("error:args invalid")
        if len(args) > self.sim.config.ws.max_args_per_request:
            raise RequestError(f"error:args size >{self.sim.config.ws.max_args_per_request}")
        for name in args:
            if op == "subscribe" and name in conn.topics:
                raise RequestError(f"error:already subscribed,topic:{name}")
            if op == "unsubscribe" and name not in conn.topics:
                raise RequestError(f"error:not subscribed,topic:{name}")
            if op == "subscribe" and self._parse(name) is None:
                raise RequestError(f"error:handler not found,topic:{name}")
        self._answer(conn, request, True, op)
        for name in args:
            if op == "subscribe":
                self._send_first(conn, self._subscribe(conn, name))
            else:
                self._drop_subscriber(conn.topics.pop(name), conn)

    @staticmethod
    def _parse(name: str) -> tuple[str, str, int] | None:
        """(kind, symbol, depth) of a topic name; None when there is no such topic."""
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "orderbook" and parts[1].isdigit() and int(parts[1]) in BOOK_DEPTHS:
            kind, symbol, depth = "orderbook", parts[2], int(parts[1])
        elif len(parts) == 2 and parts[0] in ("publicTrade", "tickers"):
            kind, symbol, depth = parts[0], parts[1], 0
        else:
            return None
        return (kind, symbol, depth) if symbol in INSTRUMENTS else None

    def _subscribe(self, conn: Connection, name: str) -> Topic:
        topic = self.topics.get(name)
        if topic is None:
            parsed = self._parse(name)
            assert parsed is not None
            kind, symbol, depth = parsed
            sym = self.sim.market.symbols[symbol]
            if kind == "orderbook":
                topic = BookTopic(name, sym, depth, self._rng.randrange(10**6, 10**8))
            elif kind == "publicTrade":
                topic = TradeTopic(name, sym)
            else:
                topic = TickerTopic(name, sym)
            self.topics[name] = self.symbol_topics[symbol][name] = topic
        topic.subscribers[conn] = None
        conn.topics[name] = topic
        self.stats.ws["subscriptions"] += 1
        return topic

    def _send_first(self, conn: Connection, topic: Topic) -> None:
        now_ms = int(self.now_ms())
        if isinstance(topic, BookTopic):
            self.send_text(conn, topic.snapshot(now_ms))
        elif isinstance(topic, TickerTopic):
            self.send_text(conn, topic.message(self._day(topic.sym, now_ms), now_ms))

    def _drop_subscriber(self, topic: Topic, conn: Connection) -> None:
        topic.subscribers.pop(conn, None)
        if not topic.subscribers:
            self.topics.pop(topic.name, None)
            self.symbol_topics[topic.spec.symbol].pop(topic.name, None)

    # --- publishing ---------------------------------------------------------------------------------

    def on_tick(self, sym: SymbolMarket, result: TickResult) -> None:
        topics = self.symbol_topics.get(sym.spec.symbol)
        if not topics:
            return
        now_ms = result.time_ms
        for topic in list(topics.values()):
            text: str | None = None
            if isinstance(topic, BookTopic):
                text = topic.update(now_ms)
            elif result.trades:
                if isinstance(topic, TradeTopic):
                    text = topic.message(result.trades, now_ms)
                elif isinstance(topic, TickerTopic):
                    text = topic.message(self._day(sym, now_ms), now_ms)
            if text is not None:
                topic.last_published = asyncio.get_running_loop().time()
                self.stats.ws["messages_sent"] += self.fanout.broadcast(topic.subscribers, text_frame(text))

    def _day(self, sym: SymbolMarket, now_ms: int) -> DayStats:
        """The symbol's rolling 24 h statistics, computed at most once a second."""
        second = now_ms // 1000
        cached = self._day_stats.get(sym.spec.symbol)
        if cached is None or cached[0] != second:
            stats = self.sim.day_windows[sym.spec.symbol].stats(sym, now_ms)
            cached = self._day_stats[sym.spec.symbol] = (second, stats)
        return cached[1]

    # --- timers ---------------------------------------------------------------------------------------

    def housekeeping_period(self) -> float:
        return max(0.05, min(1.0, self.sim.config.ws.idle_timeout_s / 4))

    def on_housekeep(self, conn: Connection, now: float) -> None:
        """Close a connection that sent no ping and got no data for `idle_timeout_s`."""
        idle_s = self.sim.config.ws.idle_timeout_s
        last_data = max((topic.last_published for topic in conn.topics.values()), default=conn.opened_at)
        if now - max(conn.last_ping, last_data) >= idle_s:
            self.stats.ws["closes_idle"] += 1
            self.close(conn, WSCloseCode.POLICY_VIOLATION, "Idle timeout")


SERVER_KEY = web.AppKey("bybit_stream_server", StreamServer)


def add_routes(app: web.Application, sim: BybitSim) -> None:
    """Serve `sim`'s public spot stream under `<prefix>/v5/public/spot` and hook it into the app's lifecycle."""
    StreamServer(sim).mount(app, SERVER_KEY)
