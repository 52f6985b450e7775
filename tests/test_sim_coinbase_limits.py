"""Coinbase rate limits in the simulator: lazily refilled token buckets (burst, then the refill rate),
public per IP, private per profile, /fills apart; configured values are the ones enforced. Fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from exchanges.coinbase import sign_request, simulator_credentials
from simulator.config import ConfigError, parse_config
from tests.support.simserver import FakeClock, SimServer

START = 1_800_000_000.0
PROFILE = simulator_credentials({})
PUBLIC_LIMITED = {"message": "Public rate limit exceeded"}
PRIVATE_LIMITED = {"message": "Private rate limit exceeded"}


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def ticker(http: requests.Session, sim: SimServer) -> requests.Response:
    return http.get(f"{sim.url}/coinbase/products/BTC-USD/ticker", timeout=10)


def private(http: requests.Session, sim: SimServer, path: str, clock: FakeClock, **params: str) -> requests.Response:
    signed = sign_request(PROFILE.api_key, PROFILE.api_secret, PROFILE.passphrase, "GET", path, params,
                          int(clock() * 1000))
    url = f"{sim.url}/coinbase{path}" + (f"?{signed.query}" if signed.query else "")
    return http.get(url, headers=signed.headers, timeout=10)


def statuses(responses: list[requests.Response]) -> list[int]:
    return [r.status_code for r in responses]


def test_public_bucket_bursts_then_refills_at_its_rate(http):
    clock = FakeClock(START)
    with SimServer({}, clock) as sim:
        assert statuses([ticker(http, sim) for _ in range(15)]) == [200] * 15  # the burst
        limited = ticker(http, sim)
        assert (limited.status_code, limited.json()) == (429, PUBLIC_LIMITED)
        assert ticker(http, sim).status_code == 429  # a refused request takes no token ...
        clock.advance(0.125)  # ... and 1/8 s at 10 tokens/s refills 1.25 of them
        assert statuses([ticker(http, sim) for _ in range(2)]) == [200, 429]
        clock.advance(0.5)  # 0.25 + 5
        assert statuses([ticker(http, sim) for _ in range(6)]) == [200] * 5 + [429]
        clock.advance(60)  # refilled to the burst, not beyond
        assert statuses([ticker(http, sim) for _ in range(16)]) == [200] * 15 + [429]
        stats = http.get(f"{sim.url}/__sim/stats", timeout=10).json()["exchanges"]["coinbase"]
        assert stats["rate_limited"] == stats["by_status"]["429"] == 5
        assert http.get(f"{sim.url}/coinbase/nothing", timeout=10).status_code == 429  # unknown routes count too


def test_configured_bucket_is_enforced(http):
    clock = FakeClock(START)
    with SimServer({"coinbase": {"rate_limits": {"public": {"rate_per_s": 7, "burst": 12}}}}, clock) as sim:
        assert statuses([ticker(http, sim) for _ in range(13)]) == [200] * 12 + [429]
        clock.advance(1.0)
        assert statuses([ticker(http, sim) for _ in range(8)]) == [200] * 7 + [429]


def test_private_bucket_is_per_profile_and_fills_has_its_own(http):
    clock = FakeClock(START)
    with SimServer({}, clock) as sim:
        for _ in range(15):
            ticker(http, sim)
        assert ticker(http, sim).status_code == 429  # the IP's public bucket is empty ...
        accounts = [private(http, sim, "/accounts", clock) for _ in range(31)]
        assert statuses(accounts) == [200] * 30 + [429]  # ... the profile's private one is not
        assert accounts[-1].json() == PRIVATE_LIMITED
        fills = [private(http, sim, "/fills", clock, product_id="BTC-USD") for _ in range(21)]
        assert statuses(fills) == [200] * 20 + [429]
        assert fills[-1].json() == PRIVATE_LIMITED
        clock.advance(1.0)
        assert private(http, sim, "/accounts", clock).status_code == 200


def test_unauthenticated_private_calls_draw_on_the_public_bucket(http):
    clock = FakeClock(START)
    with SimServer({}, clock) as sim:
        answers = [http.get(f"{sim.url}/coinbase/accounts", timeout=10) for _ in range(16)]
        assert statuses(answers) == [401] * 15 + [429]
        assert answers[0].json() == {"message": "CB-ACCESS-KEY header is required"}
        assert answers[-1].json() == PUBLIC_LIMITED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"coinbase": {"rate_limits": {"public": {"burst": 0}}}}, "rate_limits.public.burst must be at least 1"),
        ({"coinbase": {"rate_limits": {"public": {"rate_per_s": 0}}}}, "rate_per_s must be positive"),
        ({"coinbase": {"rate_limits": {"orders": {"burst": 1}}}}, "unknown key 'coinbase.rate_limits.orders'"),
        ({"coinbase": {"ws": {"subscribe_deadline_s": 0}}}, "coinbase.ws.subscribe_deadline_s must be positive"),
        ({"coinbase": {"faults": {"error_rate": 2}}}, "coinbase.faults.error_rate must be between 0 and 1"),
    ],
)
def test_bad_coinbase_settings_are_rejected_with_the_key_named(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_config(data)
