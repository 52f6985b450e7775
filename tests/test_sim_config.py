"""Simulator configuration: defaults, overrides, validation, and the command line's answers to bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from exchanges.binance import FIRST_BAN_S, RATE_LIMITS, WS_LIMITS
from simulator.config import ConfigError, SimulatorConfig, load_config, parse_config
from simulator.venues import VENUES

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_come_from_the_adapter() -> None:
    config = SimulatorConfig().binance
    assert config.rate_limits == RATE_LIMITS
    assert config.ws == WS_LIMITS
    assert config.bans.first_ban_s == FIRST_BAN_S
    assert config.faults.error_statuses == (502, 503, 504)


def test_the_example_file_lists_the_defaults() -> None:
    assert load_config(str(ROOT / "simulator" / "config.example.toml")) == SimulatorConfig()


def test_a_file_changes_only_what_it_names() -> None:
    config = parse_config({"binance": {
        "rate_limits": {"request_weight": {"limit": 50, "interval_s": 2}, "orders_10s": {"limit": 3}},
        "bans": {"first_ban_s": 1},
        "ws": {"ping_interval_s": 1},
        "faults": {"error_rate": 0.5, "error_statuses": [503]},
    }}).binance
    assert config.rate_limits["request_weight"].limit == 50
    assert config.rate_limits["request_weight"].interval_s == 2
    assert config.rate_limits["orders_10s"].interval_s == 10
    assert config.rate_limits["raw_requests"] == RATE_LIMITS["raw_requests"]
    assert config.ws.ping_interval_s == 1.0 and config.ws.max_streams_per_connection == 1024
    assert config.faults.error_statuses == (503,)
    assert config.faults.http_active and not SimulatorConfig().binance.faults.http_active


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"binance": {"colour": 1}}, "unknown key 'binance.colour'"),
        ({"bitstamp": {}}, "unknown key 'bitstamp'"),
        ({"binance": {"rate_limits": {"request_weight": {"limit": -5}}}}, "binance.rate_limits.request_weight.limit"),
        ({"binance": {"rate_limits": {"per_hour": {"limit": 1}}}}, "unknown key 'binance.rate_limits.per_hour'"),
        ({"binance": {"tick_ms": "fast"}}, "binance.tick_ms must be an integer"),
        ({"binance": {"tick_ms": 0}}, "binance.tick_ms must be at least 1"),
        ({"binance": {"faults": {"error_rate": 2}}}, "error_rate must be between 0 and 1"),
        ({"binance": {"faults": {"error_statuses": [404]}}}, "HTTP 5xx"),
        ({"binance": {"faults": {"latency_ms": True}}}, "must be a number"),
        ({"binance": {"bans": {"first_ban_s": 10, "max_ban_s": 5}}}, "max_ban_s"),
        ({"binance": {"ws": {"pong_timeout_s": 0}}}, "binance.ws.pong_timeout_s must be positive"),
        ({"binance": {"balances": {"XYZ": 1}}}, "unknown key 'binance.balances.XYZ'"),
        ({"binance": {"rate_limits": 5}}, "binance.rate_limits must be a table"),
    ],
)
def test_bad_values_are_rejected_with_the_key_named(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_config(data)


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simulator", "--port", "0", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[binance\nseed = 1", "not valid TOML"),
        ("[binance.rate_limits]\nrequest_weight = { limit = -1, interval_s = 60 }", "must not be negative"),
        ("[binance]\nunknown = 1", "unknown key 'binance.unknown'"),
        ("[binance]\nseed = 'x'", "binance.seed must be an integer"),
    ],
)
def test_cli_reports_a_bad_file_in_one_line_with_exit_code_2(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "sim.toml"
    path.write_text(content)
    result = _run_cli("--config", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and problem in lines[0], result.stderr


def test_cli_reports_a_missing_file_and_a_bad_argument(tmp_path: Path) -> None:
    missing = _run_cli("--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "cannot read" in missing.stderr
    bad_port = subprocess.run([sys.executable, "-m", "simulator", "--port", "x"], cwd=ROOT, capture_output=True,
                              text=True, timeout=30)
    assert bad_port.returncode == 2 and len(bad_port.stderr.strip().splitlines()) == 1


def test_cli_prints_the_ready_line_and_stops_cleanly_on_sigterm() -> None:
    process = subprocess.Popen([sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", "0"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "0"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("simulator ready on http://127.0.0.1:")
        assert line.endswith(f" (exchanges: {', '.join(v.name for v in VENUES)})\n")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None and "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
