"""The simulator's capacity model: its config, the queues in virtual time (no wall clock), the request wrapper
driven by a fake clock, and the WebSocket fan-out's publish delay and backlog limit driven by a fake loop."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest
from aiohttp import web

from simulator.capacity import REFUSED, TIMED_OUT, Capacity, ServiceQueue
from simulator.config import CapacityConfig, ConfigError, SimulatorConfig, parse_config
from simulator.stats import ExchangeStats
from simulator.ws_fanout import FanOut, Peer

# --- config -------------------------------------------------------------------------------------------


def test_capacity_is_off_by_default_for_every_venue() -> None:
    config = SimulatorConfig()
    for venue in (config.binance, config.coinbase, config.kraken):
        assert venue.capacity == CapacityConfig()
        assert venue.capacity.requests_per_s == 0 and venue.capacity.orders_per_s == 0
        assert venue.capacity.ws_backlog_s == 0 and venue.capacity.queue == 200


def test_a_capacity_table_is_read_per_venue() -> None:
    config = parse_config({
        "binance": {"capacity": {"requests_per_s": 400, "queue": 50, "timeout_ms": 250, "orders_per_s": 20.5}},
        "kraken": {"capacity": {"ws_backlog_s": 2, "seed": 7}},
    })
    assert config.binance.capacity == CapacityConfig(400.0, 50, 250.0, 20.5, 0.0, 42)
    assert config.kraken.capacity.ws_backlog_s == 2.0 and config.kraken.capacity.seed == 7
    assert config.coinbase.capacity == CapacityConfig()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"binance": {"capacity": {"requests_per_s": -1}}}, "binance.capacity.requests_per_s must not be negative"),
        ({"coinbase": {"capacity": {"queue": 1.5}}}, "coinbase.capacity.queue must be an integer"),
        ({"kraken": {"capacity": {"orders_per_s": "fast"}}}, "kraken.capacity.orders_per_s must be a number"),
        ({"binance": {"capacity": {"workers": 4}}}, "unknown key 'binance.capacity.workers'"),
        ({"binance": {"capacity": {"timeout_ms": 100}}}, "binance.capacity.timeout_ms needs requests_per_s"),
        ({"kraken": {"capacity": {"ws_backlog_s": -2}}}, "kraken.capacity.ws_backlog_s must not be negative"),
        ({"coinbase": {"capacity": 3}}, "coinbase.capacity must be a table"),
    ],
)
def test_bad_capacity_values_are_rejected_with_the_key_named(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_config(data)


# --- the queue in virtual time ------------------------------------------------------------------------


def _queue(rate: float, queue: int = 200, timeout_s: float = 0.0, seed: str = "42:rest") -> ServiceQueue:
    return ServiceQueue("rest", rate, queue, timeout_s, seed)


def test_a_saturated_queue_serves_at_its_rate() -> None:
    """Offered 2.5 times its rate for 50 s, the server never idles and finishes rate x 50 s requests, within
    noise: the sum of n exponential service times has a relative deviation of 1/sqrt(n) (0.7 % here)."""
    rate, span_s = 400.0, 50.0
    q = _queue(rate)
    finishes = []
    for i in range(int(span_s * rate * 2.5)):
        delay, _ = q.admit(i / (rate * 2.5))
        if delay >= 0:
            finishes.append(i / (rate * 2.5) + delay)
    served_within = sum(1 for f in finishes if f <= span_s)
    assert served_within == pytest.approx(rate * span_s, rel=0.03)
    mean_service = (finishes[-1] - finishes[0]) / (len(finishes) - 1)  # back to back: the server never idled
    assert mean_service == pytest.approx(1 / rate, rel=0.03)
    assert q.max_waiting == 200


def test_the_queue_is_m_m_1_below_saturation() -> None:
    """Poisson arrivals at half the service rate: mean time in system 1/(mu - lambda), mean wait rho/(mu - lambda)."""
    mu, lam = 100.0, 50.0
    q = _queue(mu, queue=10_000)
    arrivals = random.Random(1)
    t, in_system, waits = 0.0, [], []
    for _ in range(40_000):
        t += arrivals.expovariate(lam)
        delay, wait = q.admit(t)
        in_system.append(delay)
        waits.append(wait)
    assert sum(in_system) / len(in_system) == pytest.approx(1 / (mu - lam), rel=0.1)
    assert sum(waits) / len(waits) == pytest.approx((lam / mu) / (mu - lam), rel=0.15)


def test_requests_beyond_the_queue_are_refused_at_once() -> None:
    q = _queue(1.0, queue=5)
    outcomes = [q.admit(0.0)[0] for _ in range(10)]
    assert outcomes[0] > 0 and all(d > 0 for d in outcomes[:6])  # one in service, five waiting
    assert outcomes[6:] == [REFUSED] * 4
    assert q.max_waiting == 5 and len(q.finishes) == 6
    later = q.finishes[0]  # once the first is done, one place is free again
    assert q.admit(later)[0] > 0 and q.admit(later)[0] == REFUSED


def test_a_request_that_would_wait_too_long_times_out_without_taking_the_server() -> None:
    q = _queue(10.0, queue=100, timeout_s=0.25)
    results = [q.admit(0.0) for _ in range(30)]
    admitted = [wait for delay, wait in results if delay >= 0]
    timed_out = [delay for delay, _ in results if delay == TIMED_OUT]
    assert admitted[0] == 0 and all(wait <= 0.25 for wait in admitted)
    assert timed_out and len(admitted) + len(timed_out) == 30
    assert len(q.finishes) == len(admitted)  # timed-out requests hold no place
    assert q.free_at == pytest.approx(max(q.finishes))


def test_the_same_seed_gives_the_same_service_times() -> None:
    a, b, c = _queue(50.0), _queue(50.0), _queue(50.0, seed="43:rest")
    times = [i * 0.001 for i in range(100)]
    assert [a.admit(t) for t in times] == [b.admit(t) for t in times] != [c.admit(t) for t in times]


# --- the request path ------------------------------------------------------------------------------------


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps (every request arrives at `now`)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


async def _ok(_request: Any) -> web.Response:
    return web.Response(text="ok")


def _refuse(stats: ExchangeStats) -> Any:
    def refuse(name: str) -> web.Response:
        stats.record(name, 503)
        return web.Response(status=503, text="busy")

    return refuse


def test_no_capacity_costs_nothing() -> None:
    stats = ExchangeStats()
    capacity = Capacity(CapacityConfig(), stats)
    assert capacity.wrap(_ok, "ping", _refuse(stats)) is _ok
    assert capacity.wrap(_ok, "order", _refuse(stats), order=True) is _ok
    assert capacity.publish_delay is None
    assert stats.to_json()["capacity"] == {}


def test_orders_get_their_own_queue_only_when_configured() -> None:
    shared = Capacity(CapacityConfig(requests_per_s=10), ExchangeStats())
    assert shared.queue_for(order=True) is shared.queue_for(order=False) is shared.rest
    stats = ExchangeStats()
    separate = Capacity(CapacityConfig(requests_per_s=10, orders_per_s=5), stats)
    assert separate.queue_for(order=True) is separate.orders and separate.orders is not separate.rest
    assert set(stats.to_json()["capacity"]) == {"rest", "orders"}
    assert stats.to_json()["capacity"]["orders"]["requests_per_s"] == 5
    only_orders = Capacity(CapacityConfig(orders_per_s=5), ExchangeStats())
    assert only_orders.wrap(_ok, "ping", _refuse(stats)) is _ok
    assert only_orders.wrap(_ok, "order", _refuse(stats), order=True) is not _ok


def test_the_wrapper_sleeps_the_virtual_time_and_every_answer_is_recorded_once() -> None:
    fake, stats = FakeTime(), ExchangeStats()

    async def served(request: Any) -> web.Response:
        stats.record("ping", 200)
        return await _ok(request)

    def burst(config: CapacityConfig, count: int) -> tuple[Capacity, Counter[int], list[web.Response]]:
        capacity = Capacity(config, stats, fake, fake.sleep)
        handler = capacity.wrap(served, "ping", _refuse(stats))
        answers = [asyncio.run(handler(None)) for _ in range(count)]  # type: ignore[arg-type]  # all at once
        return capacity, Counter(a.status for a in answers), answers

    full, statuses, _ = burst(CapacityConfig(requests_per_s=10, queue=3), 8)
    assert statuses == {200: 4, 503: 4}  # 1 in service + 3 waiting; the others refused at once
    ends = [f - fake.now for f in full.rest.finishes]
    assert fake.slept == ends  # each served when its virtual service ends
    rest = stats.to_json()["capacity"]["rest"]
    assert rest["served"] == 4 and rest["refused"] == 4 and rest["timed_out"] == 0 and rest["max_waiting"] == 3
    assert rest["wait_ms_total"] == pytest.approx(1000 * sum(ends[:3]), abs=0.01)  # waits 0, s1, s1+s2, s1+s2+s3
    fake.slept.clear()
    _, statuses, answers = burst(CapacityConfig(requests_per_s=10, timeout_ms=1), 5)
    assert statuses == {200: 1, 504: 4}  # every one behind the first would wait its service time, > 1 ms
    assert fake.slept[1:] == [0.001] * 4  # answered after timeout_ms
    assert "504 Gateway Timeout" in answers[-1].text
    assert stats.requests_total == 13 and dict(stats.by_status) == {"200": 5, "503": 4, "504": 4}


def test_the_busy_venue_publishes_late_by_the_gateways_current_wait() -> None:
    fake = FakeTime()
    capacity = Capacity(CapacityConfig(requests_per_s=10), ExchangeStats(), fake, fake.sleep)
    delay = capacity.publish_delay
    assert delay is not None and delay() == 0
    for _ in range(5):
        capacity.rest.admit(fake.now)
    assert delay() == pytest.approx(capacity.rest.free_at - fake.now) and delay() > 0
    fake.now = capacity.rest.free_at + 1
    assert delay() == 0


# --- the WebSocket fan-out ----------------------------------------------------------------------------


class FakeLoop:
    """Just what FanOut uses of a loop: time, call_soon and call_at, run by hand."""

    def __init__(self) -> None:
        self.now = 0.0
        self.soon: list[Any] = []
        self.timers: list[tuple[float, Any]] = []

    def time(self) -> float:
        return self.now

    def call_soon(self, callback: Any) -> None:
        self.soon.append(callback)

    def call_at(self, when: float, callback: Any) -> object:
        self.timers.append((when, callback))
        return object()

    def run_until(self, t: float) -> None:
        """Run what is due up to `t`, in order."""
        while True:
            due = sorted((w, i) for i, (w, _) in enumerate(self.timers) if w <= t)
            if self.soon:
                self.soon.pop(0)()
            elif due:
                when, index = due[0]
                self.now = max(self.now, when)
                self.timers.pop(index)[1]()
            else:
                self.now = max(self.now, t)
                return


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.unsent = 0  # what get_write_buffer_size answers
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


def _fanout(delay: list[float] | None = None, backlog_s: float = 0.0) -> tuple[FanOut, FakeLoop, Counter[str]]:
    stats: Counter[str] = Counter()
    fanout = FanOut(stats, publish_delay_s=(lambda: delay[0]) if delay is not None else None,
                    backlog_limit_s=backlog_s)
    loop = FakeLoop()
    fanout.bind(loop)  # type: ignore[arg-type]
    return fanout, loop, stats


def _peer() -> tuple[Peer, FakeTransport]:
    transport = FakeTransport()
    return Peer(None, transport), transport  # type: ignore[arg-type]


def test_events_go_out_late_by_the_delay_in_order() -> None:
    delay = [0.5]
    fanout, loop, _ = _fanout(delay)
    peer, transport = _peer()
    fanout.broadcast([peer], b"a")
    loop.now = 0.1
    delay[0] = 0.2  # the queue shrank: the next event would be due at 0.3, but goes after "a" (0.5)
    fanout.broadcast([peer], b"b")
    loop.run_until(0.49)
    assert transport.sent == []
    loop.run_until(0.5)
    assert b"".join(transport.sent) == b"ab" and loop.now == 0.5
    delay[0] = 0.0  # nothing held, no delay: out with this loop pass, as without a capacity
    fanout.send(peer, b"c")
    assert loop.timers == [] and loop.soon
    loop.run_until(0.5)
    assert b"".join(transport.sent) == b"abc"


def test_a_close_sends_what_the_venue_held_for_that_peer_first() -> None:
    fanout, loop, _ = _fanout([1.0])
    peer, transport = _peer()
    fanout.broadcast([peer], b"event")
    assert transport.sent == []
    fanout._take_held(peer)
    fanout.write(peer)
    assert transport.sent == [b"event"]
    loop.run_until(2.0)
    assert transport.sent == [b"event"]  # not sent twice


def test_a_consumer_behind_for_longer_than_the_backlog_limit_is_dropped() -> None:
    fanout, loop, stats = _fanout(backlog_s=2.0)
    slow, slow_transport = _peer()
    fast, fast_transport = _peer()
    for second in range(6):
        loop.now = float(second)
        fanout.send(slow, b"x" * 10)
        fanout.send(fast, b"x" * 10)
        slow_transport.unsent = 10 * (second + 1)  # the slow reader takes nothing
        fast_transport.unsent = 5 if second % 2 else 0  # the fast one catches up every other second
        loop.run_until(loop.now)
    assert slow_transport.aborted and not fast_transport.aborted
    assert stats["drops_slow_consumer"] == 1
    assert len(slow_transport.sent) == 4  # written at 0, 1, 2 and 3 s; at 3 s its oldest unsent byte is 3 s old
