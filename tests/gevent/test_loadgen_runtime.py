"""Hooking an exchange into Locust: settings per test start, and stopping a run that must not go on."""

import logging
from argparse import Namespace

import gevent
import pytest
from locust.env import Environment
from locust.event import Events

from exchanges.binance import ADAPTER
from loadgen.options import OPTIONS
from loadgen.plugin import install
from loadgen.runtime import end_run, exchange_runtime


def environment(**values: str) -> Environment:
    defaults = {flag[2:].replace("-", "_"): default for flag, default, _ in OPTIONS}
    options = Namespace(**{**defaults, "csv_prefix": None, "headless": True, **values})
    env = Environment(events=Events(), host="http://127.0.0.1:8123/binance", parsed_options=options)
    install(ADAPTER, env.events)
    env.create_local_runner()
    return env


def test_each_test_start_builds_the_runtime_from_the_current_options():
    env = environment(mode="polite", weight_limit="1000")
    env.events.test_start.fire(environment=env)
    first = exchange_runtime(env, ADAPTER)
    assert first.limiter.budget == pytest.approx(800.0)
    assert first.metrics.weight_limit == 1000
    env.parsed_options.weight_budget = "0.5"  # e.g. edited in the web UI
    env.events.test_start.fire(environment=env)
    second = exchange_runtime(env, ADAPTER)
    assert second is not first and second.limiter.budget == pytest.approx(500.0)
    assert second.metrics is first.metrics  # counters live as long as the process


def test_invalid_options_at_test_start_stop_the_run_with_exit_code_1(caplog):
    env = environment(order_burst="0")
    with caplog.at_level(logging.ERROR):
        env.events.test_start.fire(environment=env)
        end_run(env, "a second reason is not logged", failed=True)
        gevent.sleep(0.1)  # let the spawned quit run
    assert exchange_runtime(env, ADAPTER) is None
    assert env.process_exit_code == 1
    assert env.runner.state == "stopped"
    assert [r.getMessage() for r in caplog.records] == ["--order-burst: must be between 1 and 1000, got 0"]


def test_every_invalid_test_start_is_reported_not_only_the_first(caplog):
    env = environment(mode="fast", headless=False)  # web UI: the test stops, Locust stays up
    with caplog.at_level(logging.ERROR):
        env.events.test_start.fire(environment=env)
        env.events.test_start.fire(environment=env)
    assert [r.getMessage() for r in caplog.records] == ["--mode: expected probe|polite, got 'fast'"] * 2
    env.parsed_options.mode = "polite"
    env.events.test_start.fire(environment=env)
    runtime = exchange_runtime(env, ADAPTER)  # valid now: the test started with the edited value
    assert runtime is not None and runtime.settings.mode == "polite"


def test_a_normal_end_of_the_run_keeps_the_exit_code_and_is_logged_once(caplog):
    env = environment()
    env.events.test_start.fire(environment=env)
    with caplog.at_level(logging.WARNING):
        end_run(env, "binance: banned; stopping the run", failed=False)
        end_run(env, "a second reason is not logged", failed=True)
        gevent.sleep(0.1)  # let the spawned quit run
    assert env.process_exit_code is None
    assert env.runner.state == "stopped"
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "binance: banned; stopping the run")
    ]
