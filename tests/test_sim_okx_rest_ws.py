"""The simulated OKX against the real server: REST answers, authentication, per-endpoint limits classified by the
adapter, and the public WebSocket's books, every update's checksum and seqId chain verified."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import aiohttp
import pytest

from exchanges.okx import ADAPTER, book_update, sign_request, simulator_credentials
from loadgen.users.books import StreamBook, StreamBookOutcome
from tests.support.e2e import simulator

DEMO = simulator_credentials({})
LIMITS = '[okx.endpoint_limits.ticker]\nlimit = 5\n[okx.ws]\nconnections_per_s = 2\n'


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with simulator(tmp_path_factory.mktemp("sim"), LIMITS) as running:
        yield running


def get(sim, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(f"{sim.base_url}/okx{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def signed_get(sim, path: str, params: dict[str, str], **changes: str) -> tuple[int, dict]:
    signed = sign_request(changes.get("key", DEMO.api_key), changes.get("secret", DEMO.api_secret),
                          changes.get("passphrase", DEMO.passphrase), "GET", path, params,
                          int(changes.get("time_ms", time.time() * 1000)))
    return get(sim, f"{path}?{signed.query}" if signed.query else path, signed.headers)


def test_public_answers_have_okxs_envelope(sim):
    status, body = get(sim, "/api/v5/public/instruments?instType=SPOT")
    assert status == 200 and body["code"] == "0" and {i["instId"] for i in body["data"]} >= {"BTC-USDT", "ETH-BTC"}
    assert get(sim, "/api/v5/public/instruments?instType=SWAP")[1]["data"] == []  # spot only
    status, body = get(sim, "/api/v5/public/instruments?instType=NOPE")
    assert (status, body["code"]) == (400, "51000")
    status, body = get(sim, "/api/v5/market/books?instId=BTC-USDT&sz=5")
    (book,) = body["data"]
    assert len(book["bids"]) == len(book["asks"]) == 5 and float(book["bids"][0][0]) < float(book["asks"][0][0])
    assert get(sim, "/api/v5/market/books?instId=XYZ-USDT")[1]["code"] == "51001"


def test_an_endpoint_over_its_limit_answers_50011_with_429_classified_rate_limited(sim):
    time.sleep(2 - time.time() % 2 + 0.05)  # a fresh 2 s window
    answers = [get(sim, "/api/v5/market/ticker?instId=BTC-USDT") for _ in range(7)]
    assert [status for status, _ in answers] == [200] * 5 + [429] * 2
    status, body = answers[-1]
    assert body == {"code": "50011", "msg": "Too Many Requests", "data": []}
    verdict = ADAPTER.classify(status, {}, json.dumps(body).encode())
    assert (verdict.kind, verdict.code) == ("rate_limited", "50011")
    assert get(sim, "/api/v5/market/books?instId=BTC-USDT")[0] == 200  # other endpoints: limits of their own


def test_signed_requests_are_checked_as_okx_checks_them(sim):
    status, body = signed_get(sim, "/api/v5/account/balance", {"ccy": "BTC"})
    assert status == 200 and body["data"][0]["details"][0]["availBal"] == "1"
    for changes, code in (({"secret": "wrong"}, "50113"), ({"key": "nope"}, "50111"),
                          ({"passphrase": "wrong"}, "50105"), ({"time_ms": str(int(time.time() * 1000) - 60_000)},
                                                               "50102")):
        status, body = signed_get(sim, "/api/v5/account/balance", {}, **changes)
        assert (status, body["code"]) == (401, code), changes
        assert ADAPTER.classify(status, {}, json.dumps(body).encode()).kind in ("auth", "timestamp")
    assert get(sim, "/api/v5/account/balance")[1]["code"] == "50103"


def test_the_books_channel_verifies_every_checksum_and_sequence(tmp_path):
    async def run(sim) -> tuple[int, int]:
        book = StreamBook(ADAPTER.book_depth("books"), ADAPTER.book_checksum)
        verified = chained = 0
        url = f"{sim.base_url.replace('http', 'ws')}/okx/ws/v5/public"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.send_str('{"op":"subscribe","args":[{"channel":"books","instId":"NOPE"}]}')
            assert json.loads((await ws.receive(timeout=5)).data)["code"] == "60018"
            await ws.send_str('{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}],"id":"7"}')
            ack = json.loads((await ws.receive(timeout=5)).data)
            assert ack == {"id": "7", "event": "subscribe", "arg": {"channel": "books", "instId": "BTC-USDT"},
                           "connId": ack["connId"]}
            await ws.send_str("ping")
            while verified < 40:
                text = (await ws.receive(timeout=5)).data
                message = ADAPTER.decode_stream_message(text)
                if message is None:
                    assert text == "pong"
                    continue
                update = book_update(message)
                assert update is not None and update.checksum is not None and update.sequence is not None
                chained += update.prev_sequence is not None
                assert book.apply(update) is StreamBookOutcome.APPLIED
                verified += 1
        return verified, chained

    with simulator(tmp_path) as sim:
        verified, chained = asyncio.run(run(sim))
    assert verified == 40 and chained == 39  # a snapshot, then 39 updates each naming the one before


def test_new_connections_over_the_ip_limit_are_refused_with_429(sim):
    async def attempts() -> list[int]:
        statuses = []
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                try:
                    async with session.ws_connect(f"{sim.base_url.replace('http', 'ws')}/okx/ws/v5/public"):
                        statuses.append(101)
                except aiohttp.WSServerHandshakeError as e:
                    statuses.append(e.status)
        return statuses

    time.sleep(1 - time.time() % 1 + 0.05)
    assert asyncio.run(attempts()) == [101, 101, 429]


def test_a_quiet_connection_is_closed_and_subscribe_operations_are_limited(tmp_path):
    """Nothing sent to a connection for idle_timeout_s: closed with 4004; past subscribe_ops_per_hour: 60014."""

    async def run(sim) -> tuple[list[str], int | None]:
        url = f"{sim.base_url.replace('http', 'ws')}/okx/ws/v5/public"
        codes = []
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            for _ in range(3):
                await ws.send_str('{"op":"unsubscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}')
                answer = json.loads((await ws.receive(timeout=5)).data)
                codes.append(answer.get("code", answer["event"]))
            closing = await ws.receive(timeout=5)  # nothing more is sent to it: the idle timer runs out
            return codes, ws.close_code if closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) else None

    config = "[okx.ws]\nidle_timeout_s = 0.5\nsubscribe_ops_per_hour = 2\n"
    with simulator(tmp_path, config) as sim:
        codes, close_code = asyncio.run(run(sim))
        served = sim.stats()["exchanges"]["okx"]["ws"]
    assert codes == ["unsubscribe", "unsubscribe", "60014"]
    assert close_code == 4004 and served["closes_idle"] == 1
