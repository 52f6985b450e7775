"""Cluster-wide budgets split between the load-generating processes: the target request rate of paced users
and the weight budget of polite users.

The master (or a local run) knows the cluster-wide target rate (set by the scenario's shape, or
`--target-rps`) and which workers are alive. It sends every worker its share with a custom message,
and again whenever the target or the set of live workers changes. Each process applies its share to
its `ArrivalPacer` and to the weight limiter of every exchange, so the whole cluster, not each
process, keeps to the target and the budget.

An exchange can also have a target rate of its own (the ramp's limit search runs one search per
exchange): its paced users then take their starts from that exchange's own pacer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import STATE_INIT, STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

from loadgen import messages, state
from loadgen.messages import SharePayload
from loadgen.pacing.arrivals import ArrivalPacer
from loadgen.pacing.weight_limiter import WeightLimiter

logger = logging.getLogger(__name__)

REBALANCE_INTERVAL_S = 0.5  # how often the master looks for workers that came or went
LIVE_WORKER_STATES = (STATE_INIT, STATE_SPAWNING, STATE_RUNNING)


@dataclass(frozen=True, slots=True)
class Share:
    fraction: float = 1.0  # this process's part of every cluster-wide budget: 1 / live workers
    total_rps: float | None = None  # the cluster-wide target rate; None: no pacing (closed model)
    exchange_rps: tuple[tuple[str, float], ...] = ()  # exchanges with a cluster-wide target of their own

    @property
    def rate(self) -> float | None:
        return None if self.total_rps is None else self.total_rps * self.fraction


class Cluster:
    """One per process: the share it was given, the pacers it drives, the weight limiters it scales."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.share = Share()
        self.pacer = ArrivalPacer()  # the run's schedule
        self.late_after_s = 0.05  # a paced start this much after its intended time counts as late
        self._own_pacers: dict[str, ArrivalPacer] = {}  # exchange -> its own schedule (a target of its own)
        self._limiters: dict[str, tuple[WeightLimiter, float]] = {}  # exchange -> (limiter, cluster budget)
        self._target_rps: float | None = None  # master or local run: the cluster-wide target
        self._exchange_rps: dict[str, float] = {}  # master or local run: exchanges' own cluster-wide targets
        self._sent: dict[str, Share] = {}  # master: the share each worker was last sent

    # -- every process

    def pacer_for(self, exchange: str) -> ArrivalPacer:
        """The schedule `exchange`'s paced users follow: its own while it has a target of its own."""
        return self._own_pacers.get(exchange, self.pacer)

    def set_max_lag(self, seconds: float) -> None:
        self.pacer.max_lag_s = seconds
        for pacer in self._own_pacers.values():
            pacer.max_lag_s = seconds

    def restart(self) -> None:
        """A new test: every schedule starts afresh."""
        for pacer in (self.pacer, *self._own_pacers.values()):
            pacer.restart()

    def close(self) -> None:
        """The test is stopping: users waiting for a start stop instead."""
        for pacer in (self.pacer, *self._own_pacers.values()):
            pacer.close()

    def apply(self, share: Share) -> None:
        self.share = share
        self.pacer.set_rate(share.rate)
        own = dict(share.exchange_rps)
        for exchange in set(self._own_pacers) - set(own):  # back to the run's schedule: the test is ending
            self._own_pacers.pop(exchange).close()  # users waiting on it stop, they do not send
        for exchange, rps in own.items():
            pacer = self._own_pacers.get(exchange)
            if pacer is None:
                pacer = self._own_pacers[exchange] = ArrivalPacer(max_lag_s=self.pacer.max_lag_s)
            pacer.set_rate(rps * share.fraction)
        for limiter, budget in self._limiters.values():
            limiter.set_budget(budget * share.fraction)

    def attach_limiter(self, exchange: str, limiter: WeightLimiter, cluster_budget: float) -> None:
        """Scale `limiter` to this process's share of `cluster_budget`, now and on every new share."""
        self._limiters[exchange] = (limiter, cluster_budget)
        limiter.set_budget(cluster_budget * self.share.fraction)

    # -- master or local run

    @property
    def target_rps(self) -> float | None:
        return self._target_rps

    def set_target_rps(self, rps: float | None) -> None:
        """The cluster-wide target rate (None: no pacing); every process gets its share at once."""
        self._target_rps = rps
        self.distribute()

    def drop_exchange_targets(self) -> None:
        """A test ended: the next one starts with no exchange's target of its own (a web UI test after a ramp).
        The master's test ends before its workers' users have stopped: those waiting for a start stop then."""
        if self._exchange_rps:
            self._exchange_rps.clear()
            self.distribute()

    def set_exchange_rps(self, exchange: str, rps: float | None) -> None:
        """A cluster-wide target rate for `exchange`'s paced users alone (None: its schedule ends, and users
        waiting on it stop; its users' next requests follow the run's schedule)."""
        if rps is None:
            self._exchange_rps.pop(exchange, None)
        else:
            self._exchange_rps[exchange] = rps
        self.distribute()

    def distribute(self) -> None:
        runner = self.environment.runner
        if isinstance(runner, WorkerRunner):
            return
        own = tuple(sorted(self._exchange_rps.items()))
        if not isinstance(runner, MasterRunner):
            self.apply(Share(1.0, self._target_rps, own))
            return
        live = sorted(c.id for c in runner.clients.values() if c.state in LIVE_WORKER_STATES)
        if not live:
            return
        share = Share(1.0 / len(live), self._target_rps, own)
        data = SharePayload(fraction=share.fraction, total_rps=share.total_rps, exchange_rps=dict(own))
        for client_id in live:
            if self._sent.get(client_id) != share:
                runner.send_message(messages.SHARE, data, client_id)
                self._sent[client_id] = share
        for gone in set(self._sent) - set(live):
            del self._sent[gone]


def cluster_of(environment: Environment) -> Cluster:
    """The environment's cluster state, hooked into its runner on first use."""
    cluster = state.of(environment).get(Cluster)
    if cluster is None:
        cluster = state.of(environment).set(Cluster(environment))
        _attach(cluster)
    return cluster


def _attach(cluster: Cluster) -> None:
    runner = cluster.environment.runner
    cluster.environment.events.test_start.add_listener(lambda **_: cluster.restart())
    cluster.environment.events.test_stopping.add_listener(lambda **_: cluster.close())
    cluster.environment.events.test_stop.add_listener(lambda **_: cluster.drop_exchange_targets())
    if isinstance(runner, WorkerRunner) and messages.SHARE not in runner.custom_messages:
        runner.register_message(messages.SHARE, lambda msg, **_: cluster.apply(_share_from(msg.data)))
    elif isinstance(runner, MasterRunner):
        gevent.spawn(_rebalance_forever, cluster)


def _share_from(data: SharePayload) -> Share:
    total = data.get("total_rps")
    own = tuple(sorted((str(k), float(v)) for k, v in (data.get("exchange_rps") or {}).items()))
    return Share(float(data["fraction"]), None if total is None else float(total), own)


def _rebalance_forever(cluster: Cluster) -> None:
    while True:
        gevent.sleep(REBALANCE_INTERVAL_S)
        try:
            cluster.distribute()
        except Exception:
            logger.exception("splitting the cluster budget between workers failed")


def unless_paced(wait_time: Callable[[Any], float]) -> Callable[[Any], float]:
    """A Locust wait time for open-model users: `wait_time` while the run has no target rate for their exchange,
    none while it has (the cluster-wide schedule spaces their requests then)."""

    def paced_or_own(user: Any) -> float:
        return 0.0 if cluster_of(user.environment).pacer_for(user.adapter.name).active else wait_time(user)

    return paced_or_own
