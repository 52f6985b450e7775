"""Stream messages logged in bulk come out in Locust's stats as they would message by message."""

import gevent
from locust.env import Environment
from locust.stats import RequestStats

from loadgen.users import stream_stats as stream_stats_module
from loadgen.users.stream_stats import StreamStats, stream_stats

SAMPLES = [("btcusdt@trade", 3.2, 120), ("btcusdt@trade", None, 80), ("btcusdt@depth@100ms", 140.0, 900),
           ("btcusdt@trade", 0.0, 100), ("btcusdt@depth@100ms", 2500.0, 1000)]


def environment() -> Environment:
    env = Environment()
    env.create_local_runner()
    return env


def figures(entry) -> dict:
    return {"requests": entry.num_requests, "none": entry.num_none_requests, "total": entry.total_response_time,
            "min": entry.min_response_time, "max": entry.max_response_time, "bytes": entry.total_content_length,
            "times": dict(entry.response_times), "per_s": sum(entry.num_reqs_per_sec.values())}


def test_bulk_stats_equal_stats_logged_message_by_message():
    env = environment()
    expected = RequestStats()
    bulk = stream_stats(env)
    for name, latency, size in SAMPLES:
        bulk.log("WS", name, latency, size)
        expected.log_request("WS", name, latency, size)
    assert env.stats.total.num_requests == 0  # pending until flushed
    bulk.flush()
    for name in ("btcusdt@trade", "btcusdt@depth@100ms"):
        assert figures(env.stats.get(name, "WS")) == figures(expected.get(name, "WS"))
    assert figures(env.stats.total) == figures(expected.total)
    bulk.flush()  # nothing pending: nothing changes
    assert env.stats.total.num_requests == len(SAMPLES)


def test_pending_stats_are_flushed_while_messages_arrive_and_at_test_stop(monkeypatch):
    monkeypatch.setattr(stream_stats_module, "FLUSH_INTERVAL_S", 0.02)
    env = environment()
    bulk = stream_stats(env)
    bulk.log("WS", "btcusdt@trade", 1.0, 10)
    gevent.sleep(0.05)
    assert env.stats.get("btcusdt@trade", "WS").num_requests == 1
    gevent.sleep(0.05)
    assert bulk._flusher is None  # an idle interval ends the flusher ...
    bulk.log("WS", "btcusdt@trade", 1.0, 10)
    assert bulk._flusher is not None  # ... and the next message starts it again
    env.events.test_stop.fire(environment=env)
    assert env.stats.get("btcusdt@trade", "WS").num_requests == 2


def test_a_stats_reset_at_spawning_complete_drops_what_is_pending():
    env = environment()
    env.reset_stats = True
    bulk = stream_stats(env)
    bulk.log("WS", "btcusdt@trade", 1.0, 10)
    env.events.spawning_complete.fire(user_count=1)
    bulk.flush()
    assert env.stats.total.num_requests == 0


def test_one_stream_stats_per_environment():
    env = environment()
    assert stream_stats(env) is stream_stats(env)
    assert isinstance(stream_stats(env), StreamStats)
    assert stream_stats(environment()) is not stream_stats(env)
