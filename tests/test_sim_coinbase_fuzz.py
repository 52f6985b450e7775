"""Fuzzing the Coinbase simulator's parsers with hypothesis (bounded): malformed queries, JSON bodies (signed,
so they reach order validation), headers, paths and feed messages get Coinbase's error format and never a
5xx, a hang or a crash."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest
import requests
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchanges.coinbase import ENDPOINTS, signature, simulator_credentials, timestamp_text
from tests.support.simserver import SimServer

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
HIGH_LIMITS = {"coinbase": {
    "rate_limits": {name: {"rate_per_s": 10**6, "burst": 10**6} for name in ("public", "private", "fills")},
    "ws": {"messages_per_s": 10**6, "connection_burst": 10**6, "subscriptions_per_product_channel": 10**6},
}}
PROFILE = simulator_credentials({})

nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "-1", "0", "1e309", "NaN", "Infinity", "9" * 40, "1e999999", "[", "{}", "null", "BTC-USD",
                     "btc-usd", "BTC-EUR", "buy", "sell", "limit", "market", "GTT", "IOC", "FOK", "min", "true",
                     "0.000000001", "1.001", "2026-11-28T00:00:00Z", "client:x"]),
)
nasty_value = st.one_of(nasty_text, st.integers(min_value=-(2**70), max_value=2**70), st.booleans(), st.none(),
                        st.floats(allow_nan=True, allow_infinity=True), st.lists(st.integers(), max_size=2))
param_names = st.sampled_from(["product_id", "side", "type", "price", "size", "funds", "time_in_force",
                               "cancel_after", "post_only", "client_oid", "stp", "level", "limit", "after",
                               "before", "granularity", "start", "end", "status", "order_id", "x"])
query = st.dictionaries(param_names, nasty_text, max_size=6)
body = st.dictionaries(param_names, nasty_value, max_size=6)
path_ids = st.one_of(st.sampled_from(["BTC-USD", "ETH-BTC", "BTC-EUR", "USD", "client:abc", "x" * 50]),
                     st.text(min_size=1, max_size=12))
endpoints = st.sampled_from(sorted(ENDPOINTS))


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(HIGH_LIMITS) as server:
        yield server


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def assert_coinbase_error_or_ok(response: requests.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:200])
    if response.status_code >= 400:
        payload = response.json()
        assert list(payload) == ["message"] and isinstance(payload["message"], str), payload


@FUZZ
@given(name=endpoints, path_id=path_ids, params=query, json_body=body, signed=st.booleans())
def test_rest_answers_malformed_requests_in_coinbase_format(sim, http, name, path_id, params, json_body, signed):
    endpoint = ENDPOINTS[name]
    path = endpoint.path.replace("{product_id}", quote(path_id, safe="")).replace(
        "{order_id}", quote(path_id, safe="")).replace("{currency_id}", quote(path_id, safe=""))
    data = json.dumps(json_body) if endpoint.method != "GET" else ""
    if signed:  # a correct signature, so the values reach the handlers' own checks
        request_path = f"{path}?{urlencode(params)}" if params else path
        timestamp = timestamp_text(int(time.time() * 1000))
        headers = {"CB-ACCESS-KEY": PROFILE.api_key, "CB-ACCESS-PASSPHRASE": PROFILE.passphrase,
                   "CB-ACCESS-TIMESTAMP": timestamp,
                   "CB-ACCESS-SIGN": signature(PROFILE.api_secret, timestamp, endpoint.method, request_path, data)}
        response = http.request(endpoint.method, f"{sim.url}/coinbase{request_path}", data=data or None,
                                headers=headers, timeout=10)
    else:
        response = http.request(endpoint.method, f"{sim.url}/coinbase{path}", params=params, data=data or None,
                                timeout=10)
    assert_coinbase_error_or_ok(response)


@FUZZ
@given(path=st.text(min_size=1, max_size=30).filter(lambda p: p not in (".", "..")))  # dot segments: the client
def test_unknown_paths_get_a_json_404(sim, http, path):  # resolves them, so they never reach /coinbase/
    response = http.get(f"{sim.url}/coinbase/{quote(path, safe='')}", timeout=10)
    assert response.status_code in (200, 400, 401, 404)  # 401: a path that names a private endpoint ("fills")
    if response.status_code == 404:
        assert response.json() == {"message": "NotFound"}
    elif response.status_code == 401:
        assert list(response.json()) == ["message"]


channel_entry = st.one_of(nasty_text, st.fixed_dictionaries(
    {"name": nasty_value}, optional={"product_ids": st.one_of(st.lists(nasty_text, max_size=3), nasty_value)}))
feed_message = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(["subscribe", "unsubscribe"]), nasty_value)},
    optional={
        "product_ids": st.one_of(st.lists(st.sampled_from(["BTC-USD", "ETH-USD", "XYZ"]), max_size=3), nasty_value),
        "channels": st.one_of(st.lists(channel_entry, max_size=3), nasty_value),
        "signature": nasty_value, "key": nasty_value, "passphrase": nasty_value, "timestamp": nasty_value,
    },
)
raw_frames = st.one_of(feed_message.map(json.dumps), st.text(max_size=60), st.sampled_from(["[", "{", "null"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(raw_frames, min_size=1, max_size=4))
def test_feed_messages_never_crash_the_server(sim, frames):
    ws = websocket.create_connection(f"{sim.url.replace('http', 'ws')}/coinbase/ws-feed", timeout=5)
    try:
        for frame in frames:
            ws.send(frame)
            while True:  # every message gets an acknowledgement or an error; skip feed data in between
                answer = json.loads(ws.recv())
                if answer["type"] in ("subscriptions", "error"):
                    break
    finally:
        ws.close()
    assert sim.exchange("coinbase").stats.ws["connections_open"] <= 1
