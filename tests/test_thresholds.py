"""Threshold expressions, thresholds files, measuring on plain snapshots, and the CI report files."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from analysis.histogram import percentile
from exchanges.binance import ADAPTER as BINANCE_ADAPTER
from exchanges.kraken import ADAPTER as KRAKEN_ADAPTER
from loadgen.gates.evaluation import (
    EntryStats,
    ExchangeCatalog,
    Outcome,
    RunStats,
    Scope,
    evaluate,
    format_value,
    resolve_scope,
)
from loadgen.gates.reports import RunOverview, junit_xml, markdown_summary
from loadgen.gates.thresholds import (
    Source,
    ThresholdError,
    gate_settings,
    metric_named,
    parse_threshold,
    read_thresholds_file,
)

BINANCE = ExchangeCatalog(
    "binance",
    frozenset({"depth", "ticker/price", "order GET", "time"}),
    frozenset({"btcusdt@trade", "btcusdt@depth@100ms"}),
    frozenset({"connect", "reconnect"}),
)
COINBASE = ExchangeCatalog(
    "coinbase", frozenset({"book", "time"}), frozenset({"matches:BTC-USD"}), frozenset({"connect"})
)
ONE = {"binance": BINANCE}
TWO = {"binance": BINANCE, "coinbase": COINBASE}


def entry(method: str, name: str, times: dict[int, int], failures: int = 0, **kw: int) -> EntryStats:
    count = sum(times.values()) + kw.pop("untimed", 0)
    return EntryStats(method, name, count, failures, float(sum(k * v for k, v in times.items())),
                      float(max(times, default=0)), times, **kw)


@pytest.mark.parametrize(
    ("text", "metric", "scope", "op", "limit"),
    [
        ("p95<300", "p95", "", "<", 300.0),
        (" p99 [ binance  depth ] <= 800 ", "p99", "binance depth", "<=", 800.0),
        ("rate_limited_ratio<0.001", "rate_limited_ratio", "", "<", 0.001),
        ("ws_gaps==0", "ws_gaps", "", "==", 0.0),
        ("p99.9[order GET]!=1e3", "p99.9", "order GET", "!=", 1000.0),
        ("ws_event_latency_p95[binance]>=5", "ws_event_latency_p95", "binance", ">=", 5.0),
    ],
)
def test_expressions_are_read(text, metric, scope, op, limit):
    t = parse_threshold(text)
    assert (t.metric.name, t.scope, t.op, t.limit) == (metric, scope, op, limit)


def test_the_text_is_normalised_for_reports():
    assert parse_threshold(" p99 [ binance  depth ] <= 800 ").text == "p99[binance depth]<=800"


def test_percentile_metrics_are_fractions_and_sources():
    assert metric_named("p99.9").percentile == 0.999
    assert metric_named("p50").source is Source.REQUESTS
    assert metric_named("ws_event_latency_p99").source is Source.STREAMS
    assert metric_named("late_start_ratio").counters == ("late_starts", "paced_starts")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p95 300", "cannot read threshold"),
        ("latency<3", "unknown metric 'latency'"),
        ("p100<3", "unknown metric 'p100'"),
        ("p0<3", "unknown metric 'p0'"),
        ("p95<fast", "'fast' is not a number"),
        ("p95<inf", "finite number"),
        ("p95[]<3", "empty scope"),
        ("p95<<3", "'<3' is not a number"),
    ],
)
def test_bad_expressions_are_errors(text, message):
    with pytest.raises(ThresholdError, match=message):
        parse_threshold(text)


def test_thresholds_file_and_command_line_combine(tmp_path: Path):
    file = tmp_path / "gates.toml"
    file.write_text('thresholds = ["p95<300", "ws_gaps==0"]\nabort_on_fail = true\nabort_delay_s = 5\n')
    settings = gate_settings(["fail_ratio<0.01", "p95 < 300"], file, abort_on_fail=False, abort_delay_s=None)
    assert [t.text for t in settings.thresholds] == ["p95<300", "ws_gaps==0", "fail_ratio<0.01"]
    assert (settings.abort_on_fail, settings.abort_delay_s) == (True, 5.0)
    assert gate_settings([], file, False, 0.5).abort_delay_s == 0.5  # the command line wins
    assert gate_settings(["p50<1"], None, False, None).abort_delay_s == 10.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("thresholds = [", "not valid TOML"),
        ('threshold = ["p95<3"]', "unknown key"),
        ("thresholds = 'p95<3'", "must be a list of strings"),
        ('thresholds = ["p95<3", 3]', "must be a list of strings"),
        ('thresholds = ["nope<3"]', "unknown metric 'nope'"),
        ("abort_on_fail = 'yes'", "true or false"),
        ("abort_delay_s = -1", "seconds >= 0"),
    ],
)
def test_bad_thresholds_files_are_errors(tmp_path: Path, content, message):
    file = tmp_path / "gates.toml"
    file.write_text(content)
    with pytest.raises(ThresholdError, match=message):
        read_thresholds_file(file)


def test_a_missing_thresholds_file_is_an_error(tmp_path: Path):
    with pytest.raises(ThresholdError, match="No such file"):
        read_thresholds_file(tmp_path / "missing.toml")


# --- scopes


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("p95<1", Scope()),
        ("p95[binance]<1", Scope("binance")),
        ("p95[depth]<1", Scope(request="depth")),
        ("p95[order GET]<1", Scope(request="order GET")),
        ("p95[binance order GET]<1", Scope("binance", "order GET")),
        ("p95[connect]<1", Scope(request="connect")),
        ("ws_event_latency_p95[btcusdt@trade]<1", Scope(request="btcusdt@trade")),
        ("ws_gaps[binance]==0", Scope("binance")),
    ],
)
def test_scopes_resolve_against_the_run(text, scope):
    assert resolve_scope(parse_threshold(text), ONE) == scope


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p95[dpeth]<1", "'dpeth' is not an exchange or request of this run"),
        ("p95[kraken]<1", "'kraken' is not an exchange or request"),
        ("p95[coinbase depth]<1", "not an exchange or request"),
        ("ws_gaps[depth]==0", "ws_gaps can be scoped to an exchange only"),
        ("late_start_ratio[binance depth]<1", "can be scoped to an exchange only"),
        ("ws_event_latency_p95[depth]<1", "'depth' is not a stream of this run"),
        ("ws_event_latency_p95[coinbase btcusdt@trade]<1", "not an exchange or request"),
    ],
)
def test_unknown_or_unfit_scopes_are_errors(text, message):
    with pytest.raises(ThresholdError, match=message):
        resolve_scope(parse_threshold(text), TWO)


# --- measuring


def test_percentile_is_locusts_algorithm_on_the_merged_histogram():
    assert percentile({}, 0.95) is None
    assert percentile({10: 1}, 0.99) == 10
    histogram = {1: 50, 2: 30, 10: 15, 500: 5}  # 100 samples
    assert percentile(histogram, 0.49) == 1
    assert percentile(histogram, 0.5) == 2  # Locust's rule: the bucket where at most 50 samples lie below
    assert percentile(histogram, 0.8) == 10
    assert percentile(histogram, 0.94) == 10
    assert percentile(histogram, 0.95) == 500


RUN = RunStats(
    duration_s=10.0,
    entries=(
        entry("GET", "depth", {5: 90, 100: 10}, failures=4, rate_limited=3, banned=1),
        entry("GET", "ticker/price", {2: 100}),
        entry("WS", "btcusdt@trade", {1: 900, 40: 100}, untimed=2, failures=2),
        entry("WS", "connect", {30: 2}),
        entry("PACE", "late_start", {900: 5}),  # not a request: not in the run's REST metrics
    ),
    exchanges={"binance": {"ws_gaps": 2, "ws_drops": 0, "ws_reconnects": 1, "late_starts": 5, "paced_starts": 50}},
)


def values(*texts: str, catalogs=ONE, run=RUN) -> list[float | None]:
    thresholds = [parse_threshold(t) for t in texts]
    outcomes = evaluate([(t, resolve_scope(t, catalogs)) for t in thresholds], catalogs, run)
    return [o.value for o in outcomes]


def test_request_metrics_cover_rest_requests_only_unless_a_request_is_named():
    assert values("p50<1", "p95<1", "p99<1", "requests<1", "failures<1") == [5, 100, 100, 200, 4]
    assert values("avg<1") == [pytest.approx((5 * 90 + 100 * 10 + 2 * 100) / 200)]
    assert values("max<1", "rps<1", "fail_ratio<1") == [100, 20.0, 0.02]
    assert values("rate_limited<1", "banned<1", "rate_limited_ratio<1") == [4, 1, 0.02]  # a ban is a rate limit too
    assert values("p95[depth]<1", "p99[binance depth]<1", "fail_ratio[depth]<1") == [100, 100, 0.04]
    assert values("p95[connect]<1", "p50[btcusdt@trade]<1") == [30, 1]


def test_stream_latency_and_exchange_counters():
    assert values("ws_event_latency_p50<1", "ws_event_latency_p95<1", "ws_event_latency_p99[btcusdt@trade]<1") == [
        1, 40, 40]
    assert values("ws_gaps==0", "ws_gaps[binance]==0", "ws_reconnects<1", "late_start_ratio<1") == [2, 2, 1, 0.1]


def test_no_data_fails_and_is_reported_as_such():
    empty = RunStats(0.0, (), {})
    outcomes = evaluate([(parse_threshold(t), Scope()) for t in ("p95<300", "rps>1", "late_start_ratio<1",
                                                                 "ws_gaps==0")], ONE, empty)
    assert [o.value for o in outcomes] == [None, None, None, 0]
    assert [o.passed for o in outcomes] == [False, False, False, True]
    assert outcomes[0].measured() == "no data"


def test_an_exchange_scope_over_a_merged_entry_is_an_error_not_a_wrong_number():
    run = RunStats(1.0, (entry("GET", "time", {3: 10}), entry("GET", "book", {4: 10})), {})
    t = parse_threshold("p95[coinbase]<100")
    (outcome,) = evaluate([(t, resolve_scope(t, TWO))], TWO, run)
    assert outcome.error and "merged the samples of 'time'" in outcome.error
    assert not outcome.passed
    assert values("p95[book]<100", catalogs=TWO, run=run) == [4]


# A side-by-side run (locustfiles/all.py): every row carries its exchange's prefix.
SIDE_BY_SIDE = RunStats(
    duration_s=10.0,
    entries=(
        entry("GET", "binance:depth", {5: 90, 100: 10}, failures=4, rate_limited=3, banned=1),
        entry("GET", "binance:time", {2: 10}),
        entry("GET", "coinbase:time", {3: 20}),
        entry("GET", "coinbase:book", {7: 60}, failures=6, rate_limited=6),
        entry("WS", "binance:btcusdt@trade", {1: 900, 40: 100}),
        entry("WS", "coinbase:matches:BTC-USD", {2: 500}),
        entry("WS", "binance:connect", {30: 2}),
        entry("WS", "coinbase:connect", {50: 1}),
        entry("PACE", "binance:late_start", {900: 5}),
    ),
    exchanges={"binance": {"ws_gaps": 2, "ws_reconnects": 1, "late_starts": 5, "paced_starts": 50},
               "coinbase": {"ws_gaps": 1, "ws_reconnects": 0, "late_starts": 0, "paced_starts": 50}},
)


def test_side_by_side_scopes_resolve_whatever_the_prefix():
    assert resolve_scope(parse_threshold("p95[binance:depth]<1"), TWO) == Scope("binance", "depth")
    assert resolve_scope(parse_threshold("p95[coinbase connect]<1"), TWO) == Scope("coinbase", "connect")
    assert resolve_scope(parse_threshold("p95[coinbase:matches:BTC-USD]<1"), TWO) == Scope("coinbase",
                                                                                            "matches:BTC-USD")
    with pytest.raises(ThresholdError, match="not an exchange or request"):
        resolve_scope(parse_threshold("p95[coinbase:depth]<1"), TWO)


def test_side_by_side_runs_are_measured_whole_per_exchange_and_per_request():
    def measured(*texts: str) -> list[float | None]:
        return values(*texts, catalogs=TWO, run=SIDE_BY_SIDE)

    # the whole run: every exchange's REST rows, none of the other rows
    assert measured("requests<1", "failures<1", "rate_limited<1", "banned<1") == [190, 10, 10, 1]
    assert measured("p50<1", "max<1", "rps<1") == [5, 100, 19.0]
    assert measured("p95[binance]<1", "requests[binance]<1", "requests[coinbase]<1") == [100, 110, 80]
    assert measured("fail_ratio[coinbase]<1", "rate_limited_ratio[binance]<1") == [0.075, 4 / 110]
    # a request of every exchange that has it, of one exchange, or named as Locust names it
    assert measured("requests[time]<1", "p95[coinbase time]<1", "p99[binance:depth]<1") == [30, 3, 100]
    assert measured("p95[connect]<1", "p95[binance connect]<1", "max[coinbase connect]<1") == [50, 30, 50]
    assert measured("ws_event_latency_p95<1", "ws_event_latency_p99[coinbase]<1") == [40, 2]
    assert measured("ws_event_latency_p95[btcusdt@trade]<1") == [40]
    assert measured("ws_gaps<1", "ws_gaps[coinbase]<1", "late_start_ratio<1") == [3, 1, 0.05]


def test_values_are_formatted_with_units():
    assert format_value(metric_named("p95"), 12.0) == "12 ms"
    assert format_value(metric_named("avg"), 2.345) == "2.3 ms"
    assert format_value(metric_named("rps"), 12.345) == "12.3/s"
    assert format_value(metric_named("fail_ratio"), 0.0125) == "0.0125 (1.25%)"
    assert format_value(metric_named("ws_gaps"), 3.0) == "3"
    assert format_value(metric_named("p95"), None) == "no data"


# --- reports


def outcomes() -> list[Outcome]:
    ok, failed, broken = (parse_threshold(t) for t in ("p95<300", "ws_gaps==0", "p95[binance]<5"))
    return [Outcome(ok, Scope(), 120.0), Outcome(failed, Scope(), 3.0),
            Outcome(broken, Scope("binance"), None, "binance: Locust merged the samples of 'time'")]


def test_junit_has_one_case_per_threshold_with_failures_and_errors():
    root = ET.fromstring(junit_xml(outcomes(), 12.34))
    (suite,) = root.findall("testsuite")
    counts = [suite.get(k) for k in ("tests", "failures", "errors", "time")]
    assert counts == ["3", "1", "1", "12.3"]
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["p95<300", "ws_gaps==0", "p95[binance]<5"]
    assert cases[0].find("failure") is None and "measured: 120 ms" in cases[0].find("system-out").text
    assert cases[1].find("failure").get("message") == "ws_gaps==0: measured 3"
    assert "merged the samples" in cases[2].find("error").get("message")


def test_markdown_summary_lists_thresholds_and_the_run():
    overview = RunOverview("Load test: binance", 60.2, 1200, 3, 19.9, 4.0, 12.0, None,
                           {"binance": {"requests": 1200, "rate_limited": 2, "banned": 0, "ws_messages": 9000,
                                        "ws_reconnects": 1, "ws_drops": 0, "ws_gaps": 3}})
    text = markdown_summary(overview, outcomes())
    assert text.startswith("## Load test: binance\n")
    assert "**❌ 1 of 3 thresholds could not be checked**" in text
    assert "| ✅ | `p95<300` | run | 120 ms |" in text
    assert "| ❌ | `ws_gaps==0` | run | 3 |" in text
    assert "| ⚠️ | `p95[binance]<5` | binance |" in text
    assert "| 60 s | 1200 | 3 | 19.9 | 4 | 12 | - |" in text
    assert "| binance | 1200 | 2 | 0 | 9000 | 1 | 0 | 3 |" in text
    assert "Threshold" not in markdown_summary(overview, [])


def test_the_summary_names_each_exchanges_own_limit_signals():
    counts = {"requests": 100, "rate_limited": 7, "banned": 0, "ws_messages": 0, "ws_reconnects": 0,
              "ws_drops": 0, "ws_gaps": 0}
    overview = RunOverview("Load test: binance, kraken", 10.0, 200, 7, 20.0, 1.0, 2.0, 3.0,
                           {"binance": counts, "kraken": counts},
                           {"binance": BINANCE_ADAPTER.limit_signals, "kraken": KRAKEN_ADAPTER.limit_signals})
    text = markdown_summary(overview, [])
    assert "| Exchange | Requests | Rate limited | Banned |" in text
    assert "(429)" not in text and "(418)" not in text  # no HTTP status claimed for every exchange
    assert "binance: HTTP 429 (codes -1003, -1015) / HTTP 418" in text
    assert "kraken: EAPI:Rate limit exceeded, EGeneral:Too many requests or EOrder:Rate limit exceeded in an HTTP " \
           "200 body / EGeneral:Temporary lockout in an HTTP 200 body" in text


def test_the_documented_examples_parse(tmp_path: Path):
    root = Path(__file__).resolve().parent.parent
    workflow = (root / "docs" / "github-actions-load-test.yml").read_text()
    expressions = re.findall(r"--threshold '([^']+)'", workflow)
    assert len(expressions) >= 4
    for text in expressions:
        parse_threshold(text)
    toml_block = re.search(r"```toml\n(.*?)```", (root / "docs" / "ci.md").read_text(), re.S).group(1)
    file = tmp_path / "gates.toml"
    file.write_text(toml_block)
    assert len(read_thresholds_file(file).thresholds) == 4
