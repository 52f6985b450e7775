"""The analysis' vocabulary: severities, findings, thresholds and the one exception bad input raises."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, fields
from typing import Any


class AnalysisError(Exception):
    """Input the analysis cannot use (a missing directory, an empty or truncated file, unknown columns).

    The message is one line that names the file and the problem."""


class Severity(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3}


@dataclass(frozen=True, slots=True)
class Finding:
    """Something the run shows, with the numbers behind it and what to change."""

    kind: str  # stable identifier, e.g. "rate_limit_onset"
    severity: Severity
    message: str
    recommendation: str
    evidence: dict[str, Any] = field(default_factory=dict)
    exchange: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "exchange": self.exchange,
            "severity": self.severity.value,
            "message": self.message,
            "evidence": self.evidence,
            "recommendation": self.recommendation,
        }


def by_severity(findings: list[Finding]) -> list[Finding]:
    """Most severe first; the order within a severity is kept."""
    return sorted(findings, key=lambda f: -f.severity.rank)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a number becomes a finding. Defaults from the suite's seed tutorial where it gives one."""

    rate_limit_high_share: float = 0.10  # rate-limit answers above this share of requests: high severity
    rate_limit_recommend_share: float = 0.05  # ... above this: medium, with a recommendation
    timeout_share: float = 0.05  # timeouts above this share of requests: medium
    error_share: float = 0.05  # any other error kind above this share: medium
    mean_latency_ms: float = 500.0  # mean REST latency above this: a recommendation
    ws_latency_p95_ms: float = 500.0  # WebSocket event latency p95 above this: a recommendation
    knee_latency_factor: float = 2.0  # latency knee: p95 at least this many times its low-load value ...
    knee_min_increase_ms: float = 10.0  # ... and at least this many ms above it
    ceiling_marginal_gain: float = 0.25  # throughput ceiling: an added user brings less than this share of
    # what each user brought at the lowest load
    sustain_window_s: int = 10  # window for "sustained" rates when the exchange's limit window is unknown
    reconnect_storm_count: int = 5  # this many WebSocket reconnects ...
    reconnect_storm_window_s: int = 10  # ... within this many seconds: a reconnect storm
    late_start_share: float = 0.05  # paced (open-model) requests started late above this share: the generator lagged
    sim_cpu_share: float = 0.9  # a second in which the simulator used at least this share of one core ...
    sim_loop_lag_ms: float = 50.0  # ... or its event loop's median lag was at least this: a saturated second
    sim_saturated_s: int = 5  # saturated seconds in a row before the simulator counts as saturated
    regression_share: float = 0.10  # --compare: worse by more than this share is a regression
    leak_warmup_share: float = 0.2  # resource leaks: the first this share of the run is warm-up, not judged
    leak_min_samples: int = 8  # ... at least this many per-second samples after it, else not judged
    leak_trend: float = 0.6  # ... a leak rises steadily: Kendall's tau of the samples against time at least this
    leak_rss_mb: float = 20.0  # ... and its fitted rise over the judged span at least this many MiB of memory
    leak_fds: int = 20  # ... or this many open file descriptors

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def with_overrides(self, overrides: dict[str, str]) -> Thresholds:
        """A copy with `name=value` overrides applied; AnalysisError for unknown names or bad values."""
        values: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(self)}
        for name, text in overrides.items():
            if name not in types:
                raise AnalysisError(f"unknown threshold {name!r} (known: {', '.join(self.names())})")
            try:
                value: float | int = int(text) if types[name] == "int" else float(text)
            except ValueError:
                raise AnalysisError(f"threshold {name}: expected a number, got {text!r}") from None
            if value < 0:
                raise AnalysisError(f"threshold {name}: must not be negative, got {text}")
            values[name] = value
        return Thresholds(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **values})

    def to_json(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def plain(value: Any) -> Any:
    """`value` with numpy scalars made Python numbers, NaN and infinities made None: ready for strict JSON."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | str) or value is None:
        return value
    if hasattr(value, "item") and not isinstance(value, int | float):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
