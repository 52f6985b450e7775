"""Telling the built-in simulator from any other host (loadgen/users/simulator_probe.py), against real servers."""

from __future__ import annotations

import json
import socket

import pytest

from exchanges import NAMES, get_adapter
from loadgen.users import simulator_probe
from loadgen.users.simulator_probe import is_simulator, simulator_mounts
from simulator.identity import IDENTITY_PATH, SERVICE
from tests.support.e2e import http_server
from tests.support.simserver import SimServer


def test_the_simulator_names_every_exchange_at_its_adapters_mount():
    with SimServer() as sim:
        mounts = simulator_mounts(sim.url)
        assert mounts == {name: get_adapter(name).hosts.simulator_prefix for name in NAMES}
        for name in NAMES:
            adapter = get_adapter(name)
            assert is_simulator(adapter, f"{sim.url}{adapter.hosts.simulator_prefix}")
            assert is_simulator(adapter, f"{sim.url}{adapter.hosts.simulator_prefix}/")
        binance = get_adapter("binance")
        assert not is_simulator(binance, f"{sim.url}/kraken")  # another exchange's mount
        assert not is_simulator(binance, sim.url)  # the root: users get base_on(host), the mount, instead


@pytest.mark.parametrize(("status", "body", "headers"), [
    (404, b"not here", None),  # any web server
    (200, b"<html>hello</html>", None),  # answers everything with a page
    (200, json.dumps({"service": "another simulator", "exchanges": {"binance": "/binance"}}).encode(), None),
    (200, json.dumps({"service": SERVICE, "exchanges": "all"}).encode(), None),
    (302, b"", {"Location": "http://127.0.0.1:1/elsewhere"}),  # the host itself must answer
])
def test_any_other_host_is_not_the_simulator(status, body, headers):
    with http_server(status, body, headers) as (url, asked):
        assert not is_simulator(get_adapter("binance"), f"{url}/binance")
    assert asked == [IDENTITY_PATH]  # asked once, nothing else


def test_a_host_that_refuses_connections_is_retried_then_not_the_simulator():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once the socket is closed
    assert not is_simulator(get_adapter("binance"), f"http://127.0.0.1:{port}/binance", timeout_s=0.6)


@pytest.mark.parametrize("url", [
    "https://api.binance.com", "https://testnet.binance.vision/", "https://api.exchange.coinbase.com",
    "https://api-public.sandbox.exchange.coinbase.com", "https://api.kraken.com",
])
def test_exchange_hosts_are_never_asked(url, monkeypatch):
    def ask(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"asked {url}")

    monkeypatch.setattr(simulator_probe, "simulator_mounts", ask)
    adapter = next(get_adapter(n) for n in NAMES if get_adapter(n).target_kind(url).value in ("production", "testnet"))
    assert not is_simulator(adapter, url)


@pytest.mark.parametrize("url", [None, "", "ftp://127.0.0.1/binance", "127.0.0.1:8000/binance"])
def test_no_usable_url_is_not_the_simulator(url):
    assert not is_simulator(get_adapter("binance"), url)
