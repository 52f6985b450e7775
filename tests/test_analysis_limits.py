"""Rate-limit findings on small hand-made runs with known limits."""

from __future__ import annotations

import json

import pytest

import analysis.limits as limits
from analysis.limits import LimitSpec, analyse_rate_limits, limit_spec
from analysis.load import load_run
from analysis.model import Severity, Thresholds
from analysis.timeline import exchange_of
from exchanges.base import LimitKind
from tests.support.analysis_runs import RunBuilder

LIMIT, WINDOW = 400, 10  # weight per window, enforced by the made-up exchange below


def fixed_window_run(tmp_path, seconds: int = 60, weight: int = 4, ramp_from: int = 6, ramp_step_s: int = 10,
                     with_headers: bool = True, ban_after: int | None = None):
    """Requests per second ramp up by one every `ramp_step_s`; an epoch-aligned fixed window of LIMIT
    weight per WINDOW seconds answers 429 beyond it (rejected requests are charged, as on Binance)."""
    builder = RunBuilder(seconds=seconds)
    used = 0
    rates, limited_counts = [], []
    for i in range(seconds):
        if i % WINDOW == 0:
            used = 0
        rate = ramp_from + i // ramp_step_s
        limited = 0
        for _ in range(rate):
            used += weight
            limited += used > LIMIT
        banned = 0
        if ban_after is not None and i >= ban_after:
            banned, limited = rate, 0
        rates.append(rate)
        limited_counts.append(limited + banned)
        row = {"requests": rate, "weight_requested": rate * weight, "rate_limited": limited, "banned": banned,
               "weight_limit": 6000, "weight_window_s": 60}
        if with_headers:
            row |= {"used_weight_last": used, "used_weight_max": used}
        builder.exchange_second(i, **row)
    builder.users = [r for r in rates]
    builder.entry("GET", "depth", rates, failures=limited_counts)
    return builder


def analyse(run_dir, thresholds: Thresholds | None = None):
    return analyse_rate_limits(load_run(run_dir), "binance", thresholds or Thresholds())


def test_limit_window_and_onset_from_used_weight_headers(tmp_path):
    result = analyse(fixed_window_run(tmp_path).write(tmp_path / "run"))
    summary = result.summary
    assert summary["limit_window_s"] == WINDOW and summary["limit_window_source"] == "used-weight resets"
    assert summary["estimated_limit"]["unit"] == "weight/10s"
    assert summary["estimated_limit"]["method"] == "used-weight headers"
    assert summary["estimated_limit"]["value"] == pytest.approx(LIMIT, rel=0.02)
    onset = summary["onset"]
    # 10 requests/s of weight 4 fill 400 per 10 s exactly; 11/s (from 50 s) is the first rate over it.
    assert onset["time_s"] == 59 and onset["users"] == 11
    assert onset["requests_per_s"] == pytest.approx(11, rel=0.01)
    assert onset["used_weight"] == 440
    # the highest 10 s span without a 429: nine seconds at 11/s after one at 10/s, cut short by the onset
    assert summary["max_safe_requests_per_s"] == pytest.approx(10.9)


def test_limit_from_saturated_windows_without_headers(tmp_path):
    result = analyse(fixed_window_run(tmp_path, seconds=80, ramp_from=10, with_headers=False).write(tmp_path / "r"))
    estimate = result.summary["estimated_limit"]
    assert estimate["method"] == "accepted per saturated window"
    assert estimate["unit"] == "weight/60s"  # the client's configured window: nothing in the data says otherwise
    assert result.summary["limit_window_source"] == "client --weight-window-s"


def test_token_bucket_limit_from_what_was_accepted_while_throttled(tmp_path, monkeypatch):
    spec = LimitSpec("requests", 1, LimitKind.TOKEN_BUCKET, 10.0)
    monkeypatch.setattr(limits, "limit_spec", lambda exchange: spec)
    builder = RunBuilder(seconds=30)
    tokens = 15.0  # burst 15, refilled at 7 per second
    for i in range(30):
        sent = 5 + i // 2
        tokens = min(15.0, tokens + 7)
        accepted = min(sent, int(tokens))
        tokens -= accepted
        builder.exchange_second(i, requests=sent, rate_limited=sent - accepted)
    builder.entry("GET", "ticker", 5)
    summary = analyse(builder.write(tmp_path / "run")).summary
    assert summary["estimated_limit"]["unit"] == "requests/s"
    assert summary["estimated_limit"]["method"] == "accepted per second while throttled"
    assert summary["estimated_limit"]["value"] == pytest.approx(7, rel=0.05)
    assert summary["published_limit"] == {"value": 10.0, "unit": "requests/s"}


def test_share_sets_the_severity(tmp_path):
    result = analyse(fixed_window_run(tmp_path, seconds=60, ramp_from=14).write(tmp_path / "run"))
    onset = next(f for f in result.findings if f.kind == "rate_limit_onset")
    assert result.summary["answers"]["share"] > 0.10
    assert onset.severity is Severity.HIGH
    assert onset.evidence["endpoints"] == {}  # the made-up failures CSV names none
    lenient = analyse(tmp_path / "run", Thresholds(rate_limit_high_share=0.9, rate_limit_recommend_share=0.8))
    assert next(f for f in lenient.findings if f.kind == "rate_limit_onset").severity is Severity.LOW


def test_client_limit_above_the_enforced_one_is_a_finding(tmp_path):
    result = analyse(fixed_window_run(tmp_path).write(tmp_path / "run"))
    mismatch = next(f for f in result.findings if f.kind == "client_limit_above_exchange_limit")
    assert "--weight-limit 400 --weight-window-s 10" in mismatch.recommendation


def test_bans_and_ignored_retry_after(tmp_path):
    result = analyse(fixed_window_run(tmp_path, seconds=60, ramp_from=14, ban_after=40).write(tmp_path / "run"))
    summary = result.summary
    assert summary["bans"] == [{"start_s": 40.0, "length_s": 20, "answers": sum(14 + i // 10 for i in range(40, 60)),
                                "until_end_of_run": True}]
    assert summary["retry_after"]["honoured"] is False
    kinds = {f.kind: f.severity for f in result.findings}
    assert kinds["ip_ban"] is Severity.HIGH and kinds["retry_after_ignored"] is Severity.HIGH


def test_retry_after_honoured_when_the_client_stops_sending(tmp_path):
    builder = RunBuilder(seconds=20)
    for i in range(20):
        limited = 3 if i == 8 else 0
        sent = 0 if 9 <= i < 12 else 10
        builder.exchange_second(i, requests=sent, rate_limited=limited, retry_after_waits=10 if i == 9 else 0)
    builder.entry("GET", "depth", 10)
    summary = analyse(builder.write(tmp_path / "run")).summary
    assert summary["retry_after"] == {"honoured": True, "episodes": 1, "answers_after_told_to_wait": 0,
                                      "client_waits": 10, "client_wait_s": 0.0}


def test_no_rate_limiting_reports_a_null_onset_and_the_highest_clean_rate(tmp_path):
    builder = RunBuilder(seconds=30).exchange_seconds(requests=[5 + i // 10 for i in range(30)])
    summary = analyse(builder.entry("GET", "depth", 5).write(tmp_path / "run")).summary
    assert summary["onset"] is None and summary["estimated_limit"] is None and not summary["limit_reached"]
    assert summary["max_safe_window_s"] == 30  # Binance's 60 s window, cut to the run's length
    assert summary["max_safe_requests_per_s"] == pytest.approx(6.0)


def test_a_run_shorter_than_the_window_is_sustained_over_its_own_seconds_not_its_history_rows(tmp_path):
    builder = RunBuilder(seconds=11).exchange_seconds(requests=[5] * 11)  # a 10 s run: 11 history rows
    run_dir = builder.entry("GET", "depth", 5).write(tmp_path / "run")
    (run_dir / "locust_exchange.json").write_text(json.dumps({"run": {"duration_s": 10.02}, "exchanges": {}}))
    assert analyse(run_dir).summary["max_safe_window_s"] == 10


def test_onset_from_the_failures_csv_without_the_suites_history(tmp_path):
    builder = RunBuilder(seconds=20).entry("GET", "depth", 10, failures=[0] * 12 + [3] * 8)
    builder.failure("GET", "depth", "rate_limited: -1003 HTTP 429", 24, first=12, last=19)
    summary = analyse(builder.write(tmp_path / "run")).summary
    assert summary["onset"]["time_s"] == 12
    assert summary["onset"]["requests_per_s"] == pytest.approx(10, rel=0.01)


def test_each_exchange_counts_in_its_adapters_unit():
    spec = limit_spec("binance")
    assert spec is not None and (spec.unit, spec.interval_s, spec.kind) == ("weight", 60, LimitKind.FIXED_WINDOW)
    assert spec.published == 6000 and spec.label() == "weight/60s"
    assert limit_spec("no-such-exchange") is None


def test_entries_map_to_exchanges_by_prefix_or_the_runs_exchange():
    assert exchange_of("depth", ["binance"]) == "binance"
    assert exchange_of("coinbase:ticker", ["binance", "coinbase"]) == "coinbase"
    assert exchange_of("binance/ticker/price", ["binance", "coinbase"]) == "binance"
    assert exchange_of("ticker/price", ["binance", "coinbase"]) is None


def test_back_to_back_bans_are_told_apart_by_the_429s_between_them(tmp_path):
    """A prober banned for 3 s, answered 429 again the second the ban ends, then banned for 6 s."""
    banned = [0] * 5 + [10] * 3 + [4] + [10] * 5 + [0] * 6
    limited = [0] * 4 + [3] + [0] * 3 + [6] + [0] * 11
    builder = RunBuilder(seconds=20).exchange_seconds(requests=10, rate_limited=limited, banned=banned)
    summary = analyse(builder.entry("GET", "depth", 10).write(tmp_path / "run")).summary
    assert [(b["start_s"], b["length_s"]) for b in summary["bans"]] == [(5, 3), (8, 6)]


def test_only_refused_endpoints_count_towards_a_counters_rate(tmp_path, monkeypatch):
    """Kraken counts Ticker per IP but Trades per pair: Trades' successes are not the IP counter's rate."""
    monkeypatch.setattr(limits, "limit_spec", lambda exchange: LimitSpec("calls", 1, LimitKind.DECAYING_COUNTER, None))
    seconds = 30
    ticker, refused = [6] * seconds, [0] * 5 + [4] * 25  # the counter lets 2 calls/s through once it is full
    builder = RunBuilder(seconds=seconds, exchange="kraken")
    builder.entry("GET", "Ticker", ticker, failures=refused).entry("GET", "Trades", 3)
    builder.exchange_seconds(requests=[t + 3 for t in ticker], rate_limited=refused)
    builder.failure("GET", "Ticker", "rate_limited: EGeneral:Too many requests HTTP 200", sum(refused), 5, 29)
    summary = analyse_rate_limits(load_run(builder.write(tmp_path / "run")), "kraken", Thresholds()).summary
    assert summary["estimated_limit"]["unit"] == "calls/s"
    assert summary["estimated_limit"]["value"] == pytest.approx(2.0, abs=0.1)


def bucket_search_run(exchange: str, entries: dict[str, int], limit_rps: float) -> RunBuilder:
    """A ramp run's search against a bucket of `limit_rps` (requests/s of the whole mix): a climb that is
    rate-limited, a clean probe just below the limit, a drain, and a rate-limited probe just above it."""
    below, above = limit_rps * 0.976, limit_rps * 1.024
    plan = [("climb", 2 * limit_rps, 0, 4, "rate_limited"), ("probe", below, 5, 20, "clean"),
            ("drain", 2 * limit_rps, 21, 23, "rate_limited"), ("probe", above, 24, 27, "rate_limited")]
    builder = RunBuilder(seconds=28, exchange=exchange)
    requests, limited = [0] * 28, [0] * 28
    for role, rps, first, last, verdict in plan:
        builder.plateau(role, rps, first, last, verdict)
        for second in range(first, last + 1):
            requests[second] = round(rps)
            limited[second] = max(0, round(rps - limit_rps)) if verdict == "rate_limited" else 0
    builder.exchange_seconds(requests=requests, rate_limited=limited)
    for name, per_second in entries.items():  # the mix: what share of the requests each endpoint has
        builder.entry("GET", name, per_second)
    return builder


def test_a_ramp_run_reports_its_highest_clean_probe_and_the_limit_between_the_bracket(tmp_path):
    builder = bucket_search_run("coinbase", {"ticker": 10, "book": 3}, limit_rps=6.0)
    summary = analyse_rate_limits(load_run(builder.write(tmp_path / "run")), "coinbase", Thresholds()).summary
    assert summary["max_safe_requests_per_s"] == pytest.approx(6.0 * 0.976, abs=0.01)
    assert summary["max_safe_window_s"] == 16  # the probe's length, not the sustain window
    assert summary["search"] == {"plateaus": 4, "highest_clean_rps": pytest.approx(5.856),
                                 "lowest_limited_rps": pytest.approx(6.144), "closed": True}
    estimate = summary["estimated_limit"]
    assert estimate["unit"] == "requests/s" and estimate["method"].startswith("ramp search: between 5.856")
    assert estimate["value"] == pytest.approx(6.0, abs=0.05)


def test_the_search_limit_counts_only_the_requests_that_draw_on_it(tmp_path):
    """Kraken counts Trades and OHLC per pair: its IP counter sees 13 of every 16 poller calls."""
    builder = bucket_search_run("kraken", {"Ticker": 10, "Depth": 3, "Trades": 1, "OHLC": 2}, limit_rps=3 * 16 / 13)
    summary = analyse_rate_limits(load_run(builder.write(tmp_path / "run")), "kraken", Thresholds()).summary
    assert summary["estimated_limit"]["unit"] == "calls/s"
    assert summary["estimated_limit"]["value"] == pytest.approx(3.0, rel=0.03)


def test_a_ramp_run_without_a_clean_probe_has_no_max_safe_rate(tmp_path):
    """Climbs are too short to call a rate sustainable, however clean the seconds before a limit were."""
    builder = RunBuilder(seconds=12, exchange="coinbase").exchange_seconds(
        requests=[10] * 6 + [20] * 6, rate_limited=[0] * 9 + [5] * 3)
    builder.plateau("climb", 10, 0, 5, "short").plateau("climb", 20, 6, 11, "rate_limited")
    summary = analyse_rate_limits(load_run(builder.entry("GET", "ticker", 10).write(tmp_path / "run")), "coinbase",
                                  Thresholds()).summary
    assert summary["max_safe_requests_per_s"] is None
    assert summary["search"] == {"plateaus": 2, "highest_clean_rps": None, "lowest_limited_rps": 20.0,
                                 "closed": False}


def test_used_weight_headers_still_give_a_fixed_windows_limit_in_a_ramp_run(tmp_path):
    builder = fixed_window_run(tmp_path)
    builder.plateau("climb", 11, 50, 59, "rate_limited", weight_per_request=4).plateau("probe", 10, 0, 49, "clean")
    summary = analyse(builder.write(tmp_path / "run")).summary
    assert summary["estimated_limit"]["method"] == "used-weight headers"
    assert summary["max_safe_requests_per_s"] == 10 and summary["max_safe_window_s"] == 50


def test_the_limit_is_what_the_search_measured_while_the_limit_refused(tmp_path):
    """Kraken's IP counter sees a random 13 in 16 calls: a probe just below its rate can still be refused. The
    capacities measured well above the limit (climb, drain) give it; a probe refused just below it does not."""
    builder = RunBuilder(seconds=40, exchange="kraken").exchange_seconds(requests=4)
    builder.plateau("climb", 16, 0, 5, "rate_limited", capacity=(3.7, 3.01))
    builder.plateau("probe", 3.5, 6, 10, "rate_limited", capacity=(3.2, 2.6))  # refused by chance, not saturated
    builder.plateau("probe", 3.0, 11, 30, "clean").plateau("drain", 7.0, 31, 35, "rate_limited", capacity=(3.68, 2.98))
    summary = analyse_rate_limits(load_run(builder.entry("GET", "Ticker", 4).write(tmp_path / "run")), "kraken",
                                  Thresholds()).summary
    assert summary["estimated_limit"] == {"value": 3.0, "unit": "calls/s", "window_s": 1,
                                          "method": "ramp search: let through while refusing (median of 2 plateaus)"}
    assert summary["max_safe_requests_per_s"] == 3.0 and not summary["search"]["closed"]


# --- Each exchange in its own terms ---------------------------------------------------------------


def kraken_probe_run(tmp_path, lockout: bool = False):
    """A Kraken poller that keeps its pace while the public counter refuses calls (HTTP 200 errors)."""
    seconds = 30
    refused = [0] * 5 + [4] * 25
    locked = [0] * 20 + [6] * 10 if lockout else [0] * seconds
    builder = RunBuilder(seconds=seconds, exchange="kraken")
    builder.entry("GET", "Ticker", 6, failures=[r + b for r, b in zip(refused, locked, strict=True)])
    builder.exchange_seconds(requests=6, rate_limited=refused, banned=locked)
    builder.failure("GET", "Ticker", "rate_limited: EGeneral:Too many requests HTTP 200", sum(refused), 5, 29)
    return analyse_rate_limits(load_run(builder.write(tmp_path / "run")), "kraken", Thresholds())


def test_an_exchange_without_retry_after_is_judged_on_backing_off_not_on_retry_after(tmp_path):
    result = kraken_probe_run(tmp_path)
    assert result.summary["signals"] == {
        "rate_limited": "EAPI:Rate limit exceeded, EGeneral:Too many requests or EOrder:Rate limit exceeded in an "
                        "HTTP 200 body",
        "banned": "EGeneral:Temporary lockout in an HTTP 200 body",
        "retry_after": False,
    }
    found = {f.kind: f for f in result.findings}
    assert "retry_after_ignored" not in found
    backoff = found["no_backoff_after_rate_limit"]
    assert backoff.severity is Severity.MEDIUM and backoff.exchange == "kraken"
    assert "HTTP 200 body, with no Retry-After" in backoff.message
    assert "429" not in backoff.message + backoff.recommendation
    onset = found["rate_limit_onset"]
    assert "(EAPI:Rate limit exceeded" in onset.message and "kraken sends no Retry-After" in onset.recommendation
    assert "honour Retry-After" not in onset.recommendation


def test_the_published_limit_is_given_in_the_exchanges_own_unit(tmp_path):
    assert kraken_probe_run(tmp_path).summary["published_limit"] == {"value": 1.0, "unit": "calls/s"}


def test_a_ban_is_worded_as_the_exchange_bans(tmp_path):
    ban = next(f for f in kraken_probe_run(tmp_path, lockout=True).findings if f.kind == "ip_ban")
    assert "(EGeneral:Temporary lockout in an HTTP 200 body)" in ban.message and "418" not in ban.message
    assert "invalid keys or signatures" in ban.recommendation and "Binance" not in ban.recommendation
    binance = analyse(fixed_window_run(tmp_path, seconds=60, ramp_from=14, ban_after=40).write(tmp_path / "b"))
    ban = next(f for f in binance.findings if f.kind == "ip_ban")
    assert "(HTTP 418)" in ban.message and "2 minutes up to 3 days" in ban.recommendation


def test_the_client_limit_is_in_the_exchanges_unit(tmp_path):
    builder = RunBuilder(seconds=10, exchange="kraken").entry("GET", "Ticker", 1)
    builder.exchange_seconds(requests=1, weight_limit=15, weight_window_s=15)
    summary = analyse_rate_limits(load_run(builder.write(tmp_path / "run")), "kraken", Thresholds()).summary
    assert summary["client_limit"] == {"value": 15.0, "unit": "calls/15s", "window_s": 15}


def test_refusals_on_endpoints_with_limits_of_their_own_estimate_nothing_of_the_reported_limit(tmp_path):
    """OKX limits each endpoint apart: `time`'s own limit refused a few start-up calls, the ticker's never did."""
    seconds = 20
    refused = [3] + [0] * (seconds - 1)
    builder = RunBuilder(seconds=seconds, exchange="okx")
    builder.entry("GET", "ticker", 8).entry("GET", "time", [6] + [0] * (seconds - 1), failures=refused)
    builder.exchange_seconds(requests=[14] + [8] * (seconds - 1), rate_limited=refused)
    builder.failure("GET", "time", "rate_limited: 50011 HTTP 429", 3, 0, 0)
    result = analyse_rate_limits(load_run(builder.write(tmp_path / "run")), "okx", Thresholds())
    assert result.summary["onset"] is not None and result.summary["estimated_limit"] is None
    (onset,) = [f for f in result.findings if f.kind == "rate_limit_onset"]
    assert "on time 3" in onset.message and "effective limit" not in onset.message


def test_a_fixed_window_counts_only_the_endpoints_that_draw_on_it(tmp_path):
    """OKX's reported limit is the ticker's (20 per 2 s): books requests, limited apart, are not counted in it."""
    seconds = 20
    ticker, refused = [15] * seconds, [0] * 4 + [5] * (seconds - 4)  # 10 tickers/s let through once refused
    builder = RunBuilder(seconds=seconds, exchange="okx")
    builder.entry("GET", "ticker", ticker, failures=refused).entry("GET", "books", 15)
    builder.exchange_seconds(requests=[t + 15 for t in ticker], rate_limited=refused)
    builder.failure("GET", "ticker", "rate_limited: 50011 HTTP 429", sum(refused), 4, seconds - 1)
    estimate = analyse_rate_limits(load_run(builder.write(tmp_path / "run")), "okx", Thresholds()).summary[
        "estimated_limit"]
    assert estimate["unit"] == "requests/2s" and estimate["value"] == pytest.approx(20.0)


def test_findings_name_the_answers_the_run_got_bans_only_included(tmp_path):
    """Bybit's IP limit answers HTTP 403 and bans: the findings name its ban answer, not its 10006."""
    seconds = 20
    banned = [0] * 5 + [4] * (seconds - 5)
    builder = RunBuilder(seconds=seconds, exchange="bybit")
    builder.entry("GET", "tickers", 10, failures=banned)
    builder.exchange_seconds(requests=10, banned=banned)
    builder.failure("GET", "tickers", "banned: HTTP 403 access too frequent", sum(banned), 5, seconds - 1)
    findings = analyse_rate_limits(load_run(builder.write(tmp_path / "run")), "bybit", Thresholds()).findings
    (onset,) = [f for f in findings if f.kind == "rate_limit_onset"]
    from exchanges.bybit import ADAPTER

    assert ADAPTER.limit_signals.banned in onset.message and "10006" not in onset.message
