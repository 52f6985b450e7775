"""The order benchmark's users, on the simulator's WebSocket API with the same orders and the same pacing.

- `AccountedTrader`: the suite's `BinanceWsTrader`, all accounting on: a Locust row per order (order->ack),
  per first state of each order (order->executionReport), lost-event and timeout checks, exchange metrics.
- `BareWsTrader`: the same round trip with plain websocket-client under gevent: one logged-in session with
  the user data stream, bursts of the trader's orders, a receive loop that reads each message (`ws.recv()`),
  decodes it, matches answers and final executionReports to the orders in flight by id, and yields to gevent;
  no Locust rows. It reads the symbol's filters and price once (the trader reads the price once per burst).
- `BareFrameTrader`: the same bare loop on the suite's own frame reader, as the trader reads its connection.

The meter's `ws_orders` counts orders answered (the trader's order rows, the bare loop's counter of accepted ones:
an order the simulator refused, e.g. unsigned, does not count).
"""

from __future__ import annotations

import json
import time
import urllib.request
from decimal import Decimal

import gevent
import websocket
from locust import User
from locust.env import Environment

from bench import meter
from exchanges.binance import (
    ADAPTER,
    FINAL_ORDER_STATES,
    parse_symbol_rules,
    parse_ticker_price,
    simulator_ed25519_credentials,
)
from loadgen.runtime import exchange_runtime
from loadgen.users.ws_frames import FrameReader
from loadgen.users.ws_order_rows import REQUEST_TYPE
from locustfiles import binance  # the module, not its classes: Locust would run every User class in sight

ANSWERED, FINAL = 1, 2


class Counts:
    """What the bare loop counts (module-wide: one Locust process per run)."""

    orders = 0


class AccountedTrader(binance.BinanceWsTrader):
    weight = 1  # (the venue's locustfile keeps it out of the default mix with weight 0)


class BareWsTrader(User):
    """One session, `--order-burst` orders at once every `--order-pause` seconds, each tracked to its answer and
    its final executionReport."""

    adapter = ADAPTER  # tags it as a Binance user (--exchange narrows the classes by adapter)

    def on_start(self) -> None:
        runtime = exchange_runtime(self.environment, ADAPTER)
        assert runtime is not None
        self.settings = settings = runtime.settings
        host = self.host or ""
        symbol = settings.symbols[0]
        with urllib.request.urlopen(f"{host}/api/v3/exchangeInfo?symbol={symbol}", timeout=10) as reply:
            rules = parse_symbol_rules(reply.read(), symbol)
        with urllib.request.urlopen(f"{host}/api/v3/ticker/price?symbol={symbol}", timeout=10) as reply:
            price: Decimal = parse_ticker_price(reply.read())
        self.plan = binance.Burst(symbol, rules, price)
        self.ws = websocket.create_connection(ADAPTER.ws_order_url(host, settings.ws_host), timeout=60,
                                              skip_utf8_validation=True)
        key, secret = simulator_ed25519_credentials()  # the trader's logon on the simulator: orders go unsigned
        for number, (method, params) in enumerate(ADAPTER.ws_session_requests(key, secret, int(time.time() * 1000))):
            self.ws.send(ADAPTER.ws_request(f"s{number}", method, params))
            answer = json.loads(self.ws.recv())
            if answer.get("status") != 200:
                raise RuntimeError(f"{method}: {answer.get('error')}")
        self.in_flight: dict[str, int] = {}  # client order id -> ANSWERED | FINAL seen so far
        self.tag = f"b{id(self):x}n"
        self.sent = 0
        self.receiver = gevent.spawn(self.receive)

    def wait_time(self) -> float:
        return self.settings.order_pause_s

    def burst(self) -> None:
        for index in range(self.settings.order_burst):
            self.sent += 1
            client_id = f"{self.tag}{self.sent}"
            params = AccountedTrader.order_params(self, self.plan, index, client_id)  # type: ignore[arg-type]
            self.in_flight[client_id] = 0
            self.ws.send(ADAPTER.ws_request(client_id, ADAPTER.ws_order_method, params))

    tasks = [burst]

    def receive(self) -> None:
        ws, in_flight = self.ws, self.in_flight
        while True:
            message = json.loads(ws.recv())
            if "id" in message:
                client_id, seen = message["id"], ANSWERED
                Counts.orders += client_id in in_flight and message.get("status") == 200
            else:
                event = message.get("event", {})
                if event.get("e") != "executionReport" or event.get("X") not in FINAL_ORDER_STATES:
                    gevent.sleep(0)
                    continue
                client_id, seen = event.get("c"), FINAL
            track(in_flight, client_id, seen)
            gevent.sleep(0)

    def on_stop(self) -> None:
        self.receiver.kill(block=False)
        self.ws.close()


class BareFrameTrader(BareWsTrader):
    """The same loop on the suite's own frame reader (many frames per socket read, one yield per read), which
    the trader uses too: what the accounting itself costs."""

    def receive(self) -> None:
        reader, in_flight = FrameReader(self.ws.sock), self.in_flight
        while True:
            for _, data in reader.read():
                message = json.loads(data)
                if "id" in message:
                    client_id, seen = message["id"], ANSWERED
                    Counts.orders += client_id in in_flight and message.get("status") == 200
                else:
                    event = message.get("event", {})
                    if event.get("e") != "executionReport" or event.get("X") not in FINAL_ORDER_STATES:
                        continue
                    client_id, seen = event.get("c"), FINAL
                track(in_flight, client_id, seen)
            gevent.sleep(0)


def track(in_flight: dict[str, int], client_id: str, seen: int) -> None:
    """Note what was seen of an order in flight; forget it once both its answer and its final event were seen
    (events may come before the answer)."""
    state = in_flight.get(client_id)
    if state is not None:
        if state | seen == ANSWERED | FINAL:
            del in_flight[client_id]
        else:
            in_flight[client_id] = state | seen


def order_figures(environment: Environment) -> dict[str, float]:
    """Orders accepted so far: the trader's order rows less their failures, and the bare loop's count."""
    entry = environment.stats.entries.get((ADAPTER.ws_order_method, REQUEST_TYPE))
    accepted = entry.num_requests - entry.num_failures if entry is not None else 0
    return {"ws_orders": accepted + Counts.orders}


meter.add_sampler(order_figures)
