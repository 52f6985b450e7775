"""Threshold expressions for CI gates: `p95<300`, `p99[binance depth]<800`, `ws_gaps==0`.

An expression is `METRIC[SCOPE] OP NUMBER`. The scope is optional (the whole run) and names an
exchange, a request (as Locust names it), or an exchange and one of its requests. This module only
reads text (expressions, the thresholds file); `loadgen.gates.evaluation` measures and
`loadgen.gates.locust_hooks` hooks the checks into Locust. Anything it cannot read is a `ThresholdError`: one
line, exit code 2.
"""

from __future__ import annotations

import enum
import math
import operator
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

EXIT_THRESHOLD_FAILED = 3  # a run's exit code when a threshold failed (Locust's own and the runner's)


class ThresholdError(ValueError):
    """A threshold or thresholds file that cannot be used; the message is one line."""


class Source(enum.StrEnum):
    """Where a metric's value comes from."""

    REQUESTS = "requests"  # Locust's request stats: REST requests and orders (WebSocket entries only by name)
    STREAMS = "streams"  # Locust's WebSocket message entries: event latency
    EXCHANGE = "exchange"  # the per-exchange counters (loadgen.metrics): the whole run or one exchange
    ORDERS = "orders"  # the WebSocket order users' rows (loadgen.users.ws_order_rows): the whole run or one exchange


class Unit(enum.StrEnum):
    MS = "ms"
    PER_S = "/s"
    RATIO = "ratio"
    COUNT = "count"


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    source: Source
    unit: Unit
    percentile: float | None = None  # 0.95 for p95
    counters: tuple[str, ...] = ()  # EXCHANGE metrics: the counter(s) read; a ratio is counters[0] / counters[1]
    help: str = ""


FIXED_METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("avg", Source.REQUESTS, Unit.MS, help="mean response time"),
        Metric("max", Source.REQUESTS, Unit.MS, help="slowest response"),
        Metric("rps", Source.REQUESTS, Unit.PER_S, help="requests per second over the run"),
        Metric("requests", Source.REQUESTS, Unit.COUNT, help="requests sent"),
        Metric("failures", Source.REQUESTS, Unit.COUNT, help="failed requests"),
        Metric("fail_ratio", Source.REQUESTS, Unit.RATIO, help="failed requests / requests"),
        Metric("rate_limited", Source.REQUESTS, Unit.COUNT, help="rate-limit answers: 429 and the like, and bans"),
        Metric("rate_limited_ratio", Source.REQUESTS, Unit.RATIO, help="rate-limit answers (bans included) / requests"),
        Metric("banned", Source.REQUESTS, Unit.COUNT, help="ban answers (418)"),
        Metric("ws_gaps", Source.EXCHANGE, Unit.COUNT, counters=("ws_gaps",), help="stream sequence gaps"),
        Metric("ws_drops", Source.EXCHANGE, Unit.COUNT, counters=("ws_drops",), help="abnormal WebSocket closes"),
        Metric("ws_reconnects", Source.EXCHANGE, Unit.COUNT, counters=("ws_reconnects",), help="WebSocket reconnects"),
        Metric("lost_order_events", Source.ORDERS, Unit.COUNT,
               help="acknowledged orders never reported on the private stream"),
        Metric(
            "late_start_ratio",
            Source.EXCHANGE,
            Unit.RATIO,
            counters=("late_starts", "paced_starts"),
            help="paced starts that came late / paced starts",
        ),
    )
}
PERCENTILE_PATTERN = re.compile(r"(ws_event_latency_|order_ack_|order_event_lag_)?p(\d{1,2}(?:\.\d+)?)")
PERCENTILE_HELP = {
    "ws_event_latency_": "stream event latency percentile",
    "order_ack_": "order->ack time percentile (WebSocket orders)",
    "order_event_lag_": "order->event time percentile, every event state (WebSocket orders)",
}
EXPRESSION_PATTERN = re.compile(
    r"\s*(?P<metric>[a-z_0-9.]+)\s*(?:\[(?P<scope>[^\[\]]*)\])?\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<limit>\S+)\s*"
)
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def metric_named(name: str) -> Metric:
    """The metric called `name`: a fixed one, `pNN` (request latency), `ws_event_latency_pNN`, `order_ack_pNN`
    or `order_event_lag_pNN`."""
    if name in FIXED_METRICS:
        return FIXED_METRICS[name]
    match = PERCENTILE_PATTERN.fullmatch(name)
    if match and 0 < float(match.group(2)) < 100:
        percentile = round(float(match.group(2)) / 100, 9)  # 99.9 / 100 is 0.9990000000000001
        if match.group(1):
            source = Source.STREAMS if match.group(1) == "ws_event_latency_" else Source.ORDERS
            return Metric(name, source, Unit.MS, percentile, help=PERCENTILE_HELP[match.group(1)])
        return Metric(name, Source.REQUESTS, Unit.MS, percentile, help="response time percentile")
    raise ThresholdError(f"unknown metric {name!r} (known: {', '.join(known_metric_names())})")


def known_metric_names() -> list[str]:
    return ["p50", "p95", "p99", "p99.9", *FIXED_METRICS, "ws_event_latency_p50", "ws_event_latency_p95",
            "order_ack_p99", "order_event_lag_p99"]


@dataclass(frozen=True, slots=True)
class Threshold:
    text: str  # as written, whitespace normalised: the name of the check in every report
    metric: Metric
    scope: str  # "" = the whole run; resolved against the run's exchanges and requests by `resolve_scope`
    op: str
    limit: float

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.limit)


def parse_threshold(text: str) -> Threshold:
    match = EXPRESSION_PATTERN.fullmatch(text)
    if not match:
        raise ThresholdError(
            f"cannot read threshold {text!r}: write METRIC[SCOPE] OP NUMBER, e.g. p95<300 or p99[depth]<=800"
        )
    metric = metric_named(match["metric"])
    try:
        limit = float(match["limit"])
    except ValueError:
        raise ThresholdError(f"threshold {text!r}: {match['limit']!r} is not a number") from None
    if not math.isfinite(limit):
        raise ThresholdError(f"threshold {text!r}: the limit must be a finite number")
    scope = " ".join((match["scope"] or "").split())
    if match["scope"] is not None and not scope:
        raise ThresholdError(f"threshold {text!r}: empty scope []; leave out the brackets for the whole run")
    normalised = f"{metric.name}{f'[{scope}]' if scope else ''}{match['op']}{match['limit']}"
    return Threshold(normalised, metric, scope, match["op"], limit)


DEFAULT_ABORT_DELAY_S = 10.0


@dataclass(frozen=True, slots=True)
class GateSettings:
    """Everything the gates need: the thresholds, and whether (and from when) a failing one stops the run."""

    thresholds: tuple[Threshold, ...]
    abort_on_fail: bool = False
    abort_delay_s: float = DEFAULT_ABORT_DELAY_S


FILE_KEYS = frozenset({"thresholds", "abort_on_fail", "abort_delay_s"})


def read_thresholds_file(path: Path) -> GateSettings:
    """A TOML file: `thresholds = ["p95<300", ...]`, optionally `abort_on_fail = true` and `abort_delay_s = 10`."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThresholdError(f"thresholds file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThresholdError(f"thresholds file {path}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - FILE_KEYS)
    if unknown:
        known = ", ".join(sorted(FILE_KEYS))
        raise ThresholdError(f"thresholds file {path}: unknown key(s) {', '.join(unknown)} (known: {known})")
    texts = data.get("thresholds", [])
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ThresholdError(f"thresholds file {path}: 'thresholds' must be a list of strings")
    abort = data.get("abort_on_fail", False)
    if not isinstance(abort, bool):
        raise ThresholdError(f"thresholds file {path}: 'abort_on_fail' must be true or false")
    delay = data.get("abort_delay_s", DEFAULT_ABORT_DELAY_S)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < math.inf:
        raise ThresholdError(f"thresholds file {path}: 'abort_delay_s' must be a number of seconds >= 0")
    return GateSettings(tuple(_parse_all(texts, f"thresholds file {path}: ")), abort, float(delay))


def gate_settings(
    expressions: Iterable[str], file: Path | None, abort_on_fail: bool, abort_delay_s: float | None
) -> GateSettings:
    """Command-line thresholds plus those of the file (if any); the command line's abort settings win."""
    from_file = read_thresholds_file(file) if file is not None else GateSettings(())
    thresholds = (*from_file.thresholds, *_parse_all(expressions, ""))
    if abort_delay_s is not None and not 0 <= abort_delay_s < math.inf:
        raise ThresholdError(f"--threshold-abort-delay: must be a number of seconds >= 0, got {abort_delay_s}")
    return GateSettings(
        tuple(dict.fromkeys(thresholds)),  # the same check twice is one check
        abort_on_fail or from_file.abort_on_fail,
        from_file.abort_delay_s if abort_delay_s is None else abort_delay_s,
    )


def _parse_all(texts: Iterable[str], where: str) -> list[Threshold]:
    parsed = []
    for text in texts:
        try:
            parsed.append(parse_threshold(text))
        except ThresholdError as exc:
            raise ThresholdError(f"{where}{exc}") from None
    return parsed
