"""Unit tests for the runner's input handling: durations, targets, run directories."""

import os

import pytest

from exchanges.base import TargetKind
from loadgen.runner.cli import (
    UsageError,
    load_dotenv_file,
    new_run_dir,
    parse_duration,
    resolve_exchange,
    resolve_target,
)


@pytest.mark.parametrize(("text", "seconds"), [("60", 60), ("90s", 90), ("2m", 120), ("1h30m", 5400), ("1h", 3600)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "abc", "-5", "5x", "m"])
def test_parse_duration_rejects_bad_input(text):
    with pytest.raises(UsageError, match="bad duration"):
        parse_duration(text)


def test_production_host_is_refused_without_the_flag():
    adapter = resolve_exchange("binance")
    with pytest.raises(UsageError, match="production"):
        resolve_target(adapter, "https://api.binance.com", None, allow_production=False)
    with pytest.raises(UsageError, match="production"):  # a testnet REST host with a production WS host
        resolve_target(adapter, "https://testnet.binance.vision", "wss://stream.binance.com:9443", False)
    target = resolve_target(adapter, "https://api.binance.com", None, allow_production=True)
    assert target.kind == TargetKind.PRODUCTION and target.ws_base == "wss://stream.binance.com:9443"


def test_testnet_and_named_hosts_need_no_flag():
    adapter = resolve_exchange("binance")
    testnet = resolve_target(adapter, "https://testnet.binance.vision/", None, allow_production=False)
    assert testnet.kind == TargetKind.TESTNET
    assert testnet.rest_base == "https://testnet.binance.vision"
    assert testnet.ws_base == "wss://stream.testnet.binance.vision"
    own = resolve_target(adapter, "http://10.1.2.3:8080/binance", None, allow_production=False)
    assert own.kind == TargetKind.OTHER and own.ws_base == "ws://10.1.2.3:8080/binance"


@pytest.mark.parametrize("host", ["api.binance.com", "ftp://x", "http://"])
def test_bad_hosts_are_usage_errors(host):
    with pytest.raises(UsageError, match="bad --host"):
        resolve_target(resolve_exchange("binance"), host, None, allow_production=False)


def test_run_directories_are_never_reused(tmp_path):
    first = new_run_dir(tmp_path, "binance", "default")
    (first / "marker").write_text("keep")
    second = new_run_dir(tmp_path, "binance", "default")
    assert first != second and (first / "marker").read_text() == "keep"


def test_all_exchanges_run_only_on_the_simulator():
    selection = resolve_exchange("all")
    assert selection.single is None and len(selection.adapters) >= 3
    assert selection.locustfile.name == "all.py"
    with pytest.raises(UsageError, match="built-in simulator"):
        resolve_target(selection, "https://testnet.binance.vision", None, allow_production=False)
    with pytest.raises(UsageError, match=r"unknown exchange 'nope'.*or all"):
        resolve_exchange("nope")


def test_a_malformed_env_file_is_one_line_naming_the_line_never_its_content(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text('GOOD=1\nBINANCE_API_SECRET="sekrit-unterminated\n')
    with pytest.raises(UsageError) as error:
        load_dotenv_file(env_file)
    assert str(error.value) == f"{env_file}, line 2: not a KEY=value line (fix or remove it)"
    env_file.write_text("EST_TEST_FROM_DOTENV=yes\n")
    monkeypatch.setenv("EST_TEST_FROM_DOTENV", "")
    monkeypatch.delenv("EST_TEST_FROM_DOTENV")  # absent now, and again after the test
    load_dotenv_file(env_file)
    assert os.environ["EST_TEST_FROM_DOTENV"] == "yes"
