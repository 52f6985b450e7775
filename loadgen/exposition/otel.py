"""The same metrics through OpenTelemetry, when Locust runs with `--otel` (its OTLP exporter, set up from the standard
`OTEL_*` variables by Locust itself: `locust.opentelemetry`).

Each Prometheus family of `RunCollector` becomes an asynchronous OTel instrument on the meter "exchange_stress",
read by the exporter's own schedule (nothing on the request path): counters as observable counters, gauges as
observable gauges. Names and units follow OTel's conventions: dots after the prefix, no unit suffix in the name,
the unit apart (`exchange_stress.rest_latency`, unit `s`). OTel has no asynchronous histogram, so each latency
histogram goes out as `<name>.count` (an observable counter) and `<name>.percentile` (an observable gauge with a
`quantile` attribute: 0.5, 0.95, 0.99), the percentiles over the whole run so far from Locust's own histograms,
as exact as Locust's (about two significant digits), not from the Prometheus buckets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from locust.env import Environment
from prometheus_client.core import Metric

from analysis.histogram import percentile
from loadgen.exposition.names import PREFIX
from loadgen.exposition.prometheus import RunCollector

logger = logging.getLogger(__name__)

METER = "exchange_stress"
QUANTILES = (0.5, 0.95, 0.99)
SNAPSHOT_TTL_S = 0.5  # one collect serves every instrument's callback of one export


def otel_name(prometheus_name: str) -> tuple[str, str]:
    """An OTel name and unit for a Prometheus family name (without `_total`)."""
    base = prometheus_name.removeprefix(PREFIX)
    unit = "1"
    for suffix, otel_unit in (("_seconds", "s"), ("_bytes", "By")):
        if base.endswith(suffix):
            base, unit = base.removesuffix(suffix), otel_unit
    prefix = "exchange_stress." if prometheus_name.startswith(PREFIX) else ""
    return prefix + base, unit


class Snapshot:
    """The collector's families, collected at most once per SNAPSHOT_TTL_S (an export reads every instrument)."""

    def __init__(self, collector: RunCollector) -> None:
        self.collector = collector
        self._at = 0.0
        self._families: dict[str, Metric] = {}
        self._lock = threading.Lock()

    def families(self) -> dict[str, Metric]:
        with self._lock:
            if time.monotonic() - self._at > SNAPSHOT_TTL_S:
                self._families = {f.name: f for f in self.collector.collect()}
                self._at = time.monotonic()
            return self._families


def attach(environment: Environment, collector: RunCollector, meter_provider: Any = None) -> bool:
    """With `--otel` (or a `meter_provider` given): the instruments, on Locust's meter provider. False when off."""
    if meter_provider is None and not getattr(environment.parsed_options, "otel", False):
        return False
    try:
        from opentelemetry import metrics
    except ImportError:  # Locust has said so already ("pip install locust[otel]")
        return False
    meter = (meter_provider or metrics.get_meter_provider()).get_meter(METER)
    snapshot = Snapshot(collector)
    for family in collector.collect():
        _instrument(meter, metrics.Observation, snapshot, family)
    return True


def _instrument(meter: Any, observation: type, snapshot: Snapshot, family: Metric) -> None:
    name, unit = otel_name(family.name)
    source = family.name

    def samples(suffix: str) -> Iterable[Any]:
        current = snapshot.families().get(source)
        return [s for s in current.samples if s.name == source + suffix] if current is not None else []

    def observe(suffix: str) -> Callable[[Any], Iterable[Any]]:
        return lambda _options: [observation(s.value, dict(s.labels)) for s in samples(suffix)]

    if family.type == "counter":
        meter.create_observable_counter(name, callbacks=[observe("_total")], unit=unit,
                                        description=family.documentation)
    elif family.type == "gauge":
        meter.create_observable_gauge(name, callbacks=[observe("")], unit=unit, description=family.documentation)
    elif family.type == "histogram":
        meter.create_observable_counter(f"{name}.count", callbacks=[observe("_count")], unit="1",
                                        description=f"Measured samples: {family.documentation}")

        def quantiles(_options: Any) -> Iterable[Any]:
            snapshot.families()
            out = []
            for (family_name, values), histogram in snapshot.collector.histograms.items():
                if family_name != source:
                    continue
                labels = dict(zip(("exchange", "method", "endpoint"), values, strict=True))
                for q in QUANTILES:
                    ms = percentile(histogram, q)
                    if ms is not None:
                        out.append(observation(ms / 1000, {**labels, "quantile": str(q)}))
            return out

        meter.create_observable_gauge(f"{name}.percentile", callbacks=[quantiles], unit=unit,
                                      description=f"Whole-run percentiles (Locust's histogram): {family.documentation}")
