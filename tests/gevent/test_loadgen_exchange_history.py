"""The Exchange tab's charts' data: points per interval from the view's cumulative samples."""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest

from loadgen.metrics import metrics_hub
from loadgen.web import security as web_security
from loadgen.web.exchange_history import MAX_POINTS, history
from loadgen.web.exchange_view import HistoryPoint, exchange_view
from tests.gevent.test_loadgen_webui import environment

T0 = 1_800_000_000.0


def samples(seconds: int, *, rps: int = 10, weight_per_request: int = 2, limited_at: dict[int, int] | None = None,
            slow_from: int | None = None, used: dict[int, int] | None = None) -> list[HistoryPoint]:
    """One sample a second of a steady run: `rps` requests a second, as many events (10 ms, or 100 ms from
    second `slow_from` on), 429s at the seconds of `limited_at`, the exchange's used weight at `used`'s."""
    out, limited = [], 0
    for s in range(seconds + 1):
        limited += (limited_at or {}).get(s, 0)
        events = {100 if slow_from is not None and s > slow_from else 10: rps} if s else {}
        totals = {"binance": {"requests": rps * s, "weight_requested": rps * s * weight_per_request,
                              "ws_messages": 3 * rps * s, "rate_limited": limited, "banned": 0,
                              "weight_limit": 6000, "weight_window_s": 60}}
        weight = {"binance": (used or {})[s]} if s in (used or {}) else {}
        out.append(HistoryPoint(float(s), T0 + s, totals, {"binance": events}, weight))
    return out


def test_no_points_before_two_samples():
    assert history([]) == history(samples(0)) == {"interval_s": None, "latency": history([])["latency"],
                                                  "exchanges": []}


def test_a_point_a_second_with_rates_429s_and_the_windowed_p95():
    data = history(samples(10, limited_at={5: 2}, slow_from=6, used={3: 400, 9: 1100}))
    assert data["interval_s"] == 1 and "each interval" in data["latency"]
    (x,) = data["exchanges"]
    assert (x["exchange"], x["weight_limit"], x["weight_window_s"]) == ("binance", 6000, 60)
    assert x["t"] == [T0 + s for s in range(1, 11)]
    assert x["requests_per_s"] == [10.0] * 10 and x["ws_messages_per_s"] == [30.0] * 10
    assert x["rate_limited"] == [0, 0, 0, 0, 2, 0, 0, 0, 0, 0] and x["banned"] == [0] * 10
    # each interval's own events: 100 ms from second 7 on, though the run's cumulative p95 stays at 10 ms until later
    assert x["event_latency_p95_ms"] == [10] * 6 + [100] * 4
    assert x["used_weight"] == [None, None, 400, None, None, None, None, None, 1100, None]
    assert x["sent_weight_per_window"] == [20 * s for s in range(1, 11)]  # all sent so far: the run is younger


def test_long_histories_are_downsampled_without_losing_counts():
    run = samples(600, limited_at={s: 1 for s in range(100, 400, 7)}, used={s: s for s in range(1, 601)})
    (x,) = history(run)["exchanges"]
    assert history(run)["interval_s"] == 5 and len(x["t"]) == MAX_POINTS
    assert sum(x["rate_limited"]) == run[-1].totals["binance"]["rate_limited"]  # every 429 on a point
    assert x["requests_per_s"] == [10.0] * MAX_POINTS
    assert x["used_weight"][:3] == [5, 10, 15]  # the highest in each interval
    assert x["sent_weight_per_window"][-1] == 60 * 20  # the last 60 s only
    assert x["event_latency_p95_ms"] == [10] * MAX_POINTS


def test_a_master_gets_a_point_per_worker_report_at_least():
    assert history(samples(30), 3.0)["interval_s"] == 3


@pytest.fixture(autouse=True)
def locust_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["locust"])


def test_the_ui_serves_the_history_and_loads_the_charts_in_its_page():
    env = environment()
    client = env.web_ui.app.test_client()
    env.events.test_start.fire(environment=env)
    view = exchange_view(env)
    view.sample()
    view.history[0] = replace(view.history[0], at=view.history[0].at - 1.0)  # a second ago
    metrics_hub(env).collector("binance").request(1)
    metrics_hub(env).collector("binance").rate_limited()
    view.sample()
    (x,) = client.get("/exchange/history").get_json()["exchanges"]
    assert x["exchange"] == "binance" and sum(x["rate_limited"]) == 1 and x["weight_limit"] == 6000
    page = client.get("/").get_data(as_text=True)
    assert '<script src="exchange/charts.js" defer></script>' in page
    script = client.get("/exchange/charts.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    assert b"exchange/history" in script.data


def test_the_history_and_the_charts_script_are_behind_the_login(monkeypatch):
    monkeypatch.setenv(web_security.USERNAME_VAR, "trader")
    monkeypatch.setenv(web_security.PASSWORD_VAR, "s3cret-pass")
    client = environment("--web-login", "--web-host", "0.0.0.0").web_ui.app.test_client()
    assert client.get("/exchange/history").status_code == 302
    assert client.get("/exchange/charts.js").status_code == 302
    client.post("/login/submit", data={"username": "trader", "password": "s3cret-pass"},
                headers={"Origin": "http://localhost"})
    assert client.get("/exchange/history").get_json()["exchanges"] == []
    assert client.get("/exchange/charts.js").status_code == 200
