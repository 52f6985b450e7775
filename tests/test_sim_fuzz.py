"""Fuzzing the simulator's parsers with hypothesis (bounded in examples and time): malformed query
strings, form bodies, headers, paths and WebSocket messages get the exchange's error format and
never a 5xx, a hang or a crash."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchanges.binance import ENDPOINTS
from tests.support.simserver import SimServer

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
HIGH_LIMITS = {"binance": {"rate_limits": {"request_weight": {"limit": 10**9, "interval_s": 60},
                                           "raw_requests": {"limit": 10**9, "interval_s": 300}},
                           "ws": {"incoming_messages_per_s": 10**6}}}

# Values that have broken parsers before: numbers out of range, odd encodings, JSON-ish text.
nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "-1", "0", "1e309", "NaN", "-0", "9" * 40, "[", "[\"BTCUSDT\"", "{}", "null",
                     "BTCUSDT", "btcusdt", "BTC USDT", "%", "%ff", "\x00", "LIMIT", "GTC", "BUY", "1.0000000001"]),
)
param_names = st.sampled_from(["symbol", "symbols", "limit", "interval", "startTime", "endTime", "fromId",
                               "type", "side", "quantity", "price", "timeInForce", "orderId", "timestamp",
                               "recvWindow", "signature", "newOrderRespType", "quoteOrderQty", "x"])
params = st.dictionaries(param_names, nasty_text, max_size=6)
endpoints = st.sampled_from(sorted({(e.method, e.path) for e in ENDPOINTS.values()}))


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(HIGH_LIMITS) as server:
        yield server


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def assert_binance_error_or_ok(response: requests.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:200])
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("code"), int) and isinstance(body.get("msg"), str), body


# Printable ASCII without surrounding blanks: HTTP clients (requests) refuse to send a header value that
# starts with one, so such a value never reaches the simulator.
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=70).map(str.strip)


@FUZZ
@given(endpoint=endpoints, query=params, body=params, api_key=st.one_of(st.none(), header_values))
def test_rest_answers_malformed_requests_in_binance_format(sim, http, endpoint, query, body, api_key):
    method, path = endpoint
    headers = {} if api_key is None else {"X-MBX-APIKEY": api_key}
    response = http.request(
        method, f"{sim.url}/binance{path}", params=query, data=body or None, headers=headers, timeout=10
    )
    assert_binance_error_or_ok(response)


@FUZZ
@given(path=st.text(min_size=1, max_size=30).filter(lambda p: p not in (".", "..")))  # the client resolves dot segments
def test_unknown_paths_get_a_json_404(sim, http, path):
    response = http.get(f"{sim.url}/binance/{quote(path, safe='')}", timeout=10)
    assert response.status_code in (400, 404, 405)
    if response.headers.get("Content-Type", "").startswith("application/json"):
        assert "code" in response.json()


control = st.fixed_dictionaries(
    {"method": st.one_of(st.sampled_from(["SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY",
                                          "GET_PROPERTY", "subscribe", "PING"]), st.text(max_size=10))},
    optional={
        "params": st.one_of(st.lists(st.one_of(st.text(max_size=20), st.integers(), st.none()), max_size=4),
                            st.text(max_size=10), st.integers(), st.none()),
        "id": st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=40), st.none(),
                        st.floats(allow_nan=True), st.lists(st.integers(), max_size=2)),
    },
)
raw_frames = st.one_of(control.map(json.dumps), st.text(max_size=60), st.sampled_from(["[", "{", "null", "1e999"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(raw_frames, min_size=1, max_size=4))
def test_websocket_control_messages_never_crash_the_server(sim, frames):
    ws = websocket.create_connection(f"{sim.url.replace('http', 'ws')}/binance/ws", timeout=5)
    try:
        for frame in frames:
            ws.send(frame)
            answer = json.loads(ws.recv())  # every control message gets an answer: a result or an error
            assert "result" in answer or "error" in answer or "code" in answer, answer
    finally:
        ws.close()
    assert sim.binance.stats.ws["connections_open"] <= 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(min_size=1, max_size=200))
def test_malformed_http_gets_a_400_and_the_server_lives_on(sim, http, garbage):
    """Bytes that are not HTTP (control characters in headers, broken request lines) are refused by the
    HTTP layer, as an exchange's front proxy would; the next request is served as usual."""
    host, port = sim.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"GET /binance/api/v3/ping HTTP/1.1\r\nHost: x\r\nX-MBX-APIKEY: " + garbage + b"\r\n\r\n")
        conn.settimeout(5)
        try:
            first_line = conn.recv(64).split(b"\r\n", 1)[0]
        except (ConnectionResetError, TimeoutError):
            first_line = b""
    assert first_line == b"" or re.fullmatch(rb"HTTP/1\.[01] (200 OK|400 Bad Request)", first_line), first_line
    assert http.get(f"{sim.url}/binance/api/v3/ping", timeout=10).status_code == 200
