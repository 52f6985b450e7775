"""Hooking an exchange into Locust: call `install(adapter)` once when the locustfile is imported.

The options are added, checked at init (a bad value, missing keys or live orders against a real
exchange end the run at once: one logged line, exit code 1) and turned into a fresh
`ExchangeRuntime` at every test start (values may have been edited in the web UI, and workers get
them from the master only then). The CI gates, the web UI additions and the end-of-run machinery are
wired on here, so that they and the runtime they read import one way only.
"""

from __future__ import annotations

import logging
import sys

from locust import events
from locust.env import Environment
from locust.event import Events
from locust.runners import MasterRunner, WorkerRunner

from exchanges.base import ExchangeAdapter, TargetKind
from loadgen import messages, options, process_history
from loadgen.ending import final_csv, locust_stop, run_end, workers
from loadgen.exposition import serve
from loadgen.gates import locust_hooks, run_snapshot
from loadgen.metrics import metrics_hub
from loadgen.options import OptionError, parse_pacing, parse_settings
from loadgen.pacing.cluster_budget import cluster_of
from loadgen.pacing.spike import bursts_of
from loadgen.runtime import (
    build_runtime,
    check_live_orders,
    check_production,
    configure_pacing,
    end_run,
    forget_test,
    needs_credentials,
)
from loadgen.users.credentials import MissingCredentials, credentials_for
from loadgen.users.simulator_probe import is_simulator
from loadgen.web import ui

logger = logging.getLogger(__name__)


def install(adapter: ExchangeAdapter, hooks: Events = events) -> None:
    """Add the options (to Locust's parser) and hook `adapter` into `hooks` (Locust's events by default)."""
    options.register()
    hooks.init.add_listener(lambda environment, **_: workers.track(environment))
    hooks.init.add_listener(lambda environment, **_: final_csv.install(environment))
    hooks.init.add_listener(lambda environment, **_: run_end.install(environment))
    hooks.init.add_listener(lambda environment, **_: process_history.install(environment))
    hooks.init.add_listener(lambda environment, **_: _on_init(adapter, environment))
    hooks.init.add_listener(lambda environment, **_: locust_stop.install(environment))
    hooks.test_start.add_listener(lambda environment, **_: _on_test_start(adapter, environment))
    run_snapshot.register_exchange(adapter)
    locust_hooks.install(hooks)
    ui.install(hooks)
    serve.install(hooks)  # after the web UI's: it serves on the UI and reuses its Exchange view


def _on_init(adapter: ExchangeAdapter, environment: Environment) -> None:
    metrics_hub(environment)
    cluster_of(environment)
    bursts_of(environment)
    runner = environment.runner
    if isinstance(runner, MasterRunner) and messages.ABORT not in runner.custom_messages:
        runner.register_message(messages.ABORT, lambda msg, **_: end_run(environment, msg.data["message"], failed=True))
        runner.register_message(messages.STOP, lambda msg, **_: end_run(environment, msg.data["message"], failed=False))
    if isinstance(runner, WorkerRunner) or environment.parsed_options is None:
        return  # a worker gets its options from the master with the test start
    try:
        settings = parse_settings(environment.parsed_options, adapter, adapter.base_on(environment.host))
        parse_pacing(environment.parsed_options)
        check_live_orders(adapter, settings, adapter.base_on(environment.host))
        check_production(environment, adapter, settings, adapter.base_on(environment.host))
        rest_base = adapter.base_on(environment.host)
        if needs_credentials(environment, adapter) and rest_base:  # without a host yet: at test start
            credentials_for(adapter, is_simulator(adapter, rest_base))
    except (OptionError, MissingCredentials) as e:
        logger.error("%s", e)
        sys.exit(1)
    host = adapter.base_on(environment.host)
    ws_host_given = bool(getattr(environment.parsed_options, "ws_host", ""))
    if not ws_host_given and host and adapter.target_kind(host) is TargetKind.OTHER:
        logger.warning("%s: --ws-host not set; streams go to %s (derived from --host)", adapter.name, settings.ws_host)


def _on_test_start(adapter: ExchangeAdapter, environment: Environment) -> None:
    forget_test(environment, adapter)
    if environment.parsed_options is None:
        return
    try:
        settings = parse_settings(environment.parsed_options, adapter, adapter.base_on(environment.host))
        pacing = parse_pacing(environment.parsed_options)
    except OptionError as e:
        end_run(environment, str(e), failed=True)
        return
    configure_pacing(environment, pacing)
    runtime = build_runtime(environment, adapter, settings)
    if needs_credentials(environment, adapter) and not isinstance(environment.runner, MasterRunner):
        rest_base = adapter.base_on(environment.host)
        runtime.on_simulator = is_simulator(adapter, rest_base)
        if runtime.on_simulator:
            logger.info("%s: %s is the built-in simulator: signed requests use its demo account",
                        adapter.name, rest_base)
