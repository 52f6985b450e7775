"""What all users of one exchange share in a process: settings, metrics, pacing and credentials.

`loadgen.plugin.install(adapter)` builds a fresh `ExchangeRuntime` at every test start; the users read
it with `exchange_runtime`. This module holds the state and the checks, never the wiring into Locust.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.lock
from locust.env import Environment
from locust.runners import WorkerRunner

from exchanges.base import ExchangeAdapter, TargetKind
from loadgen import messages, options, state
from loadgen.messages import ReasonPayload
from loadgen.metrics import ExchangeMetrics, metrics_hub
from loadgen.options import (
    LoadSettings,
    Mode,
    OptionError,
    OrderEndpoint,
    PacingSettings,
)
from loadgen.pacing.backoff import Backoff
from loadgen.pacing.breaker import BreakerState, CircuitBreaker
from loadgen.pacing.cluster_budget import cluster_of
from loadgen.pacing.weight_limiter import RetryAfterGate, WeightLimiter
from loadgen.users.credentials import Credentials, credentials_for
from loadgen.users.request_events import fire

logger = logging.getLogger(__name__)

BREAKER_REQUEST_TYPE = "BREAKER"  # Locust stats rows "<exchange> open|half_open|closed": one per state change
LIVE_ORDER_TARGETS = (TargetKind.SIMULATOR, TargetKind.TESTNET)


@dataclass(slots=True)
class ExchangeRuntime:
    adapter: ExchangeAdapter
    settings: LoadSettings
    metrics: ExchangeMetrics
    limiter: WeightLimiter
    gate: RetryAfterGate
    breaker: CircuitBreaker | None  # None unless --breaker on
    cache: dict[str, Any] = field(default_factory=dict)  # per-process lookups shared by users (symbol rules)
    on_simulator: bool = False  # the host is the built-in simulator (asked at test start when keys are needed)
    # Local minus the exchange's clock in ms: one fact per process, measured by the first user that needs it
    # while the others wait on the lock (see ExchangeRestUser.measure_clock_offset).
    clock_offset_ms: float | None = None
    clock_lock: gevent.lock.Semaphore = field(default_factory=gevent.lock.Semaphore)
    _credentials: Credentials | None = None

    def credentials(self) -> Credentials:
        """The exchange's API key and secret (the simulator's demo account there), loaded once per process
        and test; MissingCredentials otherwise."""
        if self._credentials is None:
            self._credentials = credentials_for(self.adapter, self.on_simulator)
        return self._credentials


@dataclass(slots=True)
class TestRuntimes:
    """The current test's runtimes by exchange name, and whether end_run already ended the test."""

    by_exchange: dict[str, ExchangeRuntime] = field(default_factory=dict)
    ended: bool = False


def _runtimes(environment: Environment) -> TestRuntimes:
    return state.of(environment).part(TestRuntimes, TestRuntimes)


def exchange_runtime(environment: Environment, adapter: ExchangeAdapter) -> ExchangeRuntime | None:
    """The runtime of the current test; None when the test start found the options invalid."""
    return _runtimes(environment).by_exchange.get(adapter.name)


def build_runtime(environment: Environment, adapter: ExchangeAdapter, settings: LoadSettings) -> ExchangeRuntime:
    metrics = metrics_hub(environment).collector(adapter.name)
    metrics.weight_limit, metrics.weight_window_s = settings.weight_limit, settings.weight_window_s
    limiter = WeightLimiter(settings.weight_budget_units, settings.weight_window_s)
    cluster_of(environment).attach_limiter(adapter.name, limiter, settings.weight_budget_units)
    runtime = ExchangeRuntime(
        adapter=adapter,
        settings=settings,
        metrics=metrics,
        limiter=limiter,
        gate=RetryAfterGate(Backoff(base_s=settings.backoff_base_s, cap_s=settings.backoff_cap_s)),
        breaker=new_breaker(environment, adapter.name, settings) if settings.breaker else None,
    )
    _runtimes(environment).by_exchange[adapter.name] = runtime
    return runtime


def new_breaker(environment: Environment, name: str, settings: LoadSettings) -> CircuitBreaker:
    """A breaker whose state changes are counted in the exchange metrics and show as BREAKER rows in Locust's stats."""
    metrics = metrics_hub(environment).collector(name)

    def changed(state: BreakerState) -> None:
        logger.info("%s: circuit breaker %s", name, state)
        metrics.breaker_transition(state)
        fire(environment, BREAKER_REQUEST_TYPE, f"{name} {state}", None)

    return CircuitBreaker(settings.breaker_failures, settings.breaker_open_s, on_change=changed)


def configure_pacing(environment: Environment, pacing: PacingSettings) -> None:
    """Apply the pacing options of a test start; without a scenario shape, --target-rps is the cluster target."""
    cluster = cluster_of(environment)
    cluster.set_max_lag(pacing.max_lag_s)
    cluster.late_after_s = pacing.late_after_s
    if environment.shape_class is None:
        cluster.set_target_rps(pacing.target_rps)


def check_live_orders(adapter: ExchangeAdapter, settings: LoadSettings, host: str | None) -> None:
    """Live orders go only to the simulator or a testnet; anything else is an OptionError."""
    if settings.order_endpoint is not OrderEndpoint.LIVE or not host:
        return
    kind = adapter.target_kind(host)
    if kind not in LIVE_ORDER_TARGETS:
        raise OptionError(
            f"--order-endpoint live refused: {host} is a {kind} {adapter.name} host; "
            "live orders only go to the simulator or a testnet"
        )


def check_production(
    environment: Environment, adapter: ExchangeAdapter, settings: LoadSettings, host: str | None
) -> None:
    """Against an exchange's production host, refuse what can get the user's IP banned or place orders there:
    probe mode (it keeps its pace past any limit), a polite budget above the published limit, and signed
    (order-sending) users; --allow-production lifts this. An OptionError says which and why."""
    if not host or getattr(environment.parsed_options, "allow_production", False):
        return
    production = TargetKind.PRODUCTION
    if production not in (adapter.target_kind(host), adapter.target_kind(settings.ws_host or host)):
        return
    where = f"{host} is {adapter.name}'s production exchange"
    signed = sorted(cls.__name__ for cls in environment.user_classes
                    if getattr(cls, "adapter", None) is adapter and getattr(cls, "needs_credentials", False))
    if signed:
        raise OptionError(f"{where}: order-sending users ({', '.join(signed)}) are refused there; use the testnet "
                          "or the simulator, or pass --allow-production")
    if settings.mode is not Mode.POLITE:
        raise OptionError(f"{where}: --mode {settings.mode} keeps its pace past the published limits; use --mode "
                          "polite, which stays under them, or pass --allow-production")
    published = getattr(adapter, "rate_limits", {}).get(options.WEIGHT_LIMIT_KEY)
    if published and settings.weight_budget_units / settings.weight_window_s > published.limit / published.interval_s:
        raise OptionError(f"{where}: a budget of {settings.weight_budget_units:g} per {settings.weight_window_s} s "
                          f"is above its published limit of {published.limit} per {published.interval_s} s; "
                          "lower --weight-budget/--weight-limit or pass --allow-production")


def needs_credentials(environment: Environment, adapter: ExchangeAdapter) -> bool:
    return any(
        getattr(cls, "needs_credentials", False) and getattr(cls, "adapter", None) is adapter
        for cls in environment.user_classes
    )


def end_run(environment: Environment, message: str, *, failed: bool) -> None:
    """End the run (the test, in the web UI), logging `message` once per test. `failed`: exit code 1 and an
    error line (an abort); else as if its time were up, exit code unchanged. From a worker, the master does it."""
    runtimes = _runtimes(environment)
    if runtimes.ended:
        return
    runtimes.ended = True
    logger.log(logging.ERROR if failed else logging.WARNING, "%s", message)
    if failed:
        environment.process_exit_code = 1
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.send_message(messages.ABORT if failed else messages.STOP, ReasonPayload(message=message))
    elif runner is not None:
        headless = bool(getattr(environment.parsed_options, "headless", False))
        gevent.spawn(runner.quit if headless else runner.stop)


def forget_test(environment: Environment, adapter: ExchangeAdapter) -> None:
    """Drop the last test's runtime and abort mark: each test (web UI) is judged, and reported, on its own."""
    runtimes = _runtimes(environment)
    runtimes.by_exchange.pop(adapter.name, None)
    runtimes.ended = False
