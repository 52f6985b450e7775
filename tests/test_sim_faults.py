"""Injected faults in the simulator: gateway errors, connection resets and latency, each counted in the stats."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.simserver import SimServer


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def faults_of(http: requests.Session, sim: SimServer) -> dict[str, int]:
    return http.get(f"{sim.url}/__sim/stats", timeout=10).json()["exchanges"]["binance"]["faults"]


def test_gateway_errors_use_the_configured_statuses(http: requests.Session) -> None:
    with SimServer({"binance": {"faults": {"error_rate": 1.0, "error_statuses": [502, 503]}}}) as sim:
        answers = [http.get(f"{sim.api}/ping", timeout=10) for _ in range(20)]
        assert {a.status_code for a in answers} == {502, 503}
        assert all("Bad Gateway" in a.text or "Service Unavailable" in a.text for a in answers)
        assert faults_of(http, sim)["http_5xx"] == 20
        stats = http.get(f"{sim.url}/__sim/stats", timeout=10).json()["exchanges"]["binance"]
        assert stats["by_status"]["502"] + stats["by_status"]["503"] == 20 and stats["by_endpoint"]["ping"] == 20


def test_connection_resets_are_seen_by_the_client(http: requests.Session) -> None:
    with SimServer({"binance": {"faults": {"reset_rate": 1.0}}}) as sim:
        for _ in range(3):
            with pytest.raises(requests.ConnectionError):
                http.get(f"{sim.api}/ping", timeout=10)
        assert faults_of(http, sim)["reset"] == 3


def test_latency_is_added_and_counted(http: requests.Session) -> None:
    with SimServer({"binance": {"faults": {"latency_ms": 40, "latency_jitter_ms": 10}}}) as sim:
        started = time.monotonic()
        answer = http.get(f"{sim.api}/ping", timeout=10)
        assert answer.status_code == 200 and time.monotonic() - started >= 0.04
        assert faults_of(http, sim)["latency"] == 1


def test_partial_error_rate_is_seeded_and_leaves_the_rest_alone(http: requests.Session) -> None:
    def statuses() -> list[int]:
        with SimServer({"binance": {"faults": {"error_rate": 0.3, "seed": 7}}}) as sim:
            return [http.get(f"{sim.api}/ping", timeout=10).status_code for _ in range(40)]

    first = statuses()
    assert first == statuses()
    assert 200 in first and any(s >= 500 for s in first)


def test_no_faults_by_default(http: requests.Session) -> None:
    with SimServer() as sim:
        assert all(http.get(f"{sim.api}/ping", timeout=10).status_code == 200 for _ in range(10))
        assert faults_of(http, sim) == {
            "http_5xx": 0, "reset": 0, "latency": 0, "ws_drop": 0, "ws_stall": 0, "cpu_burn": 0,
        }
        faults = sim.binance.faults  # off: no request drew from the seeded RNG, so a later fault run is unchanged
        assert faults.rng.getstate() == random.Random(faults.config.seed).getstate()
