"""Bursts for the spike scenario: every paced user sends one request at the same moment, and the outcome of
each burst is tallied in every process and summed by the master.

The master (or a local run) sends `messages.BURST` with the burst's number and start time; at that time
each process lets one start per user through its pacer (`ArrivalPacer.grant`). Requests of the burst
are recorded into the process's tally; once all have answered (or `timeout_s` has passed) the process
sends the tally to the master with `messages.BURST_RESULT`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from exchanges.base import FailureKind, Verdict
from loadgen import messages, state
from loadgen.messages import BurstPayload, BurstResultPayload
from loadgen.pacing.cluster_budget import LIVE_WORKER_STATES, cluster_of

logger = logging.getLogger(__name__)

RATE_LIMIT_ANSWERS = (FailureKind.RATE_LIMITED, FailureKind.BANNED)


@dataclass(slots=True)
class BurstTally:
    """One burst's outcome in one process, or summed over all of them."""

    cycle: int
    size: int = 0  # starts let through: one per user
    sent: int = 0
    succeeded: int = 0
    rate_limited: int = 0  # 429 or 418 answers
    failed: int = 0  # other failures, the breaker's refusals included
    first_sent: float | None = None  # wall-clock seconds
    last_answered: float | None = None

    @property
    def answered(self) -> int:
        return self.succeeded + self.rate_limited + self.failed

    @property
    def duration_ms(self) -> float | None:
        if self.first_sent is None or self.last_answered is None:
            return None
        return (self.last_answered - self.first_sent) * 1000.0

    def record(self, verdict: Verdict, sent: bool, sent_at: float, answered_at: float) -> None:
        if sent:
            self.sent += 1
            self.first_sent = sent_at if self.first_sent is None else min(self.first_sent, sent_at)
            self.last_answered = answered_at if self.last_answered is None else max(self.last_answered, answered_at)
        if verdict.ok:
            self.succeeded += 1
        elif verdict.kind in RATE_LIMIT_ANSWERS:
            self.rate_limited += 1
        else:
            self.failed += 1

    def add(self, other: BurstTally) -> None:
        for name in ("size", "sent", "succeeded", "rate_limited", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.first_sent is not None:
            self.first_sent = other.first_sent if self.first_sent is None else min(self.first_sent, other.first_sent)
        if other.last_answered is not None:
            self.last_answered = (
                other.last_answered if self.last_answered is None else max(self.last_answered, other.last_answered)
            )


class Bursts:
    """Per process: releases bursts and tallies their requests. On the master (or a local run) it also
    fires bursts and collects every process's tally."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.local: dict[int, BurstTally] = {}  # this process's bursts
        self.collected: dict[int, tuple[BurstTally, int]] = {}  # master: cycle -> (sum so far, processes left)

    # -- every process that runs users

    def release_at(self, cycle: int, at: float, timeout_s: float) -> None:
        gevent.spawn(self._release, cycle, at, timeout_s)

    def record(self, cycle: int, verdict: Verdict, sent: bool, sent_at: float, answered_at: float) -> None:
        tally = self.local.get(cycle)
        if tally is not None:
            tally.record(verdict, sent, sent_at, answered_at)

    def _release(self, cycle: int, at: float, timeout_s: float) -> None:
        gevent.sleep(max(0.0, at - time.time()))
        runner = self.environment.runner
        tally = self.local[cycle] = BurstTally(cycle, size=runner.user_count if runner is not None else 0)
        pacer = cluster_of(self.environment).pacer
        pacer.grant(tally.size, cycle)
        deadline = time.monotonic() + timeout_s
        while tally.answered < tally.size and time.monotonic() < deadline:
            gevent.sleep(0.05)
        tally.size -= pacer.withdraw(cycle)  # starts no user took in time were never part of the burst
        self._report(tally)

    def _report(self, tally: BurstTally) -> None:
        if isinstance(self.environment.runner, WorkerRunner):
            self.environment.runner.send_message(messages.BURST_RESULT, BurstResultPayload(**asdict(tally)))
        else:
            self.collect(tally)

    # -- master or local run

    def fire(self, cycle: int, at: float, timeout_s: float) -> int:
        """Start burst `cycle` at wall time `at` in every process; returns how many processes take part."""
        runner = self.environment.runner
        if not isinstance(runner, MasterRunner):
            self.collected[cycle] = (BurstTally(cycle), 1)
            self.release_at(cycle, at, timeout_s)
            return 1
        live = [c.id for c in runner.clients.values() if c.state in LIVE_WORKER_STATES]
        self.collected[cycle] = (BurstTally(cycle), len(live))
        for client_id in live:
            runner.send_message(messages.BURST, BurstPayload(cycle=cycle, at=at, timeout_s=timeout_s), client_id)
        return len(live)

    def collect(self, tally: BurstTally) -> None:
        total, left = self.collected.get(tally.cycle, (BurstTally(tally.cycle), 1))
        total.add(tally)
        self.collected[tally.cycle] = (total, left - 1)

    def result(self, cycle: int) -> BurstTally | None:
        """The summed tally once every process taking part has reported, else None."""
        total, left = self.collected.get(cycle, (None, 1))
        return total if left <= 0 else None

    def so_far(self, cycle: int) -> BurstTally:
        return self.collected.get(cycle, (BurstTally(cycle), 0))[0]


def bursts_of(environment: Environment) -> Bursts:
    """The environment's bursts, hooked into its runner's messages on first use."""
    bursts = state.of(environment).get(Bursts)
    if bursts is None:
        bursts = state.of(environment).set(Bursts(environment))
        runner = environment.runner
        if isinstance(runner, WorkerRunner) and messages.BURST not in runner.custom_messages:
            runner.register_message(
                messages.BURST,
                lambda msg, **_: bursts.release_at(msg.data["cycle"], msg.data["at"], msg.data["timeout_s"]),
            )
        elif isinstance(runner, MasterRunner) and messages.BURST_RESULT not in runner.custom_messages:
            runner.register_message(messages.BURST_RESULT, lambda msg, **_: bursts.collect(BurstTally(**msg.data)))
    return bursts
