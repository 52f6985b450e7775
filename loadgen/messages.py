"""Every message the suite's processes exchange in a distributed run, and what it adds to workers' reports.

Locust carries two kinds, both msgpack-encoded over its ZeroMQ link:

- custom messages: sent with `runner.send_message(NAME, payload, client_id)` and received by the handler
  given to `runner.register_message(NAME, handler)`, which gets `msg.data` (the payload) and `msg.node_id`;
- report keys: a worker adds a key to the dict that `report_to_master` passes it (about every 3 s and once
  at the end), and the master reads it back in `worker_report(client_id, data)`.

Each entry below says who sends it to whom, when, which module handles it, and its payload's type. A
local run (no workers) sends none of them: its processes' parts call each other directly.
"""

from __future__ import annotations

from typing import Any, TypedDict

# --- custom messages ---------------------------------------------------------------------------------

SHARE = "exchange_stress_share"
"""
Master -> each live worker, whenever that worker's share of the cluster-wide budget changes (a worker
joined or left, or a scenario changed the targets). Handled by `loadgen.pacing.cluster_budget`.

:payload: :class:`SharePayload`
"""


class SharePayload(TypedDict):
    fraction: float  # this worker's part of every cluster-wide target (1 / live workers)
    total_rps: float | None  # the cluster-wide target request rate; None: unpaced
    exchange_rps: dict[str, float]  # cluster-wide targets of single exchanges (the ramp and capacity searches)


BURST = "exchange_stress_burst"
"""
Master -> each live worker, once per burst of the spike scenario: every paced user of the worker sends
one request at wall-clock time `at`. Handled by `loadgen.pacing.spike`.

:payload: :class:`BurstPayload`
"""


class BurstPayload(TypedDict):
    cycle: int  # the burst's number
    at: float  # when to release it, wall-clock seconds (the processes' clocks are NTP-synced)
    timeout_s: float  # how long to wait for the answers before reporting the tally


BURST_RESULT = "exchange_stress_burst_result"
"""
Worker -> master, once per burst, after its answers came or `timeout_s` passed: that process's tally,
which the master sums over the workers taking part. Handled by `loadgen.pacing.spike`.

:payload: :class:`BurstResultPayload` (a `loadgen.pacing.spike.BurstTally` as a dict)
"""


class BurstResultPayload(TypedDict):
    cycle: int
    size: int  # starts let through: one per user
    sent: int
    succeeded: int
    rate_limited: int  # 429 or 418 answers
    failed: int  # other failures, the breaker's refusals included
    first_sent: float | None  # wall-clock seconds
    last_answered: float | None


ABORT = "exchange_stress_abort"
"""
Worker -> master, at most once per test, when a worker finds the run must not go on (options the test
start found invalid, a user refusing to run, e.g. for missing API keys): the master logs the reason and
stops the run with exit code 1. Sent by `loadgen.runtime.end_run`; the master's handler is registered by
`loadgen.plugin`.

:payload: :class:`ReasonPayload`
"""

STOP = "exchange_stress_stop"
"""
Worker -> master, at most once per test, when a worker finds the run is over (a ban with `--on-ban
stop-run`): the master logs the reason and ends the run as if its time were up, exit code unchanged.
Sent by `loadgen.runtime.end_run`; the master's handler is registered by `loadgen.plugin`.

:payload: :class:`ReasonPayload`
"""


class ReasonPayload(TypedDict):
    message: str  # one line for the log; never a secret


FINAL_REPORT_REQUEST = "exchange_stress_final_report"
"""
Master -> each live worker, at the end of the run: stop your users and send your last stats report now.
Handled by `loadgen.ending.run_end`.

:payload: None
"""

FINAL_REPORT_SENT = "exchange_stress_final_report_sent"
"""
Worker -> master, right after that last report: every request of the worker is in the reports before it.
The master writes the run's files once every worker asked has sent it (or the wait ran out).
Handled by `loadgen.ending.run_end`.

:payload: None
"""

# --- keys added to workers' stats reports ------------------------------------------------------------

EXCHANGE_METRICS_KEY = "exchange_metrics"
"""
In every worker report: the per-exchange counters counted since the worker's previous report, merged by
the master into the run's `_exchange.json` and `_exchange_history.csv`. Written and read by
`loadgen.metrics`.

:value: exchange name -> :class:`ExchangeMetricsReport`
"""


class ExchangeMetricsReport(TypedDict):
    weight_limit: float | None  # the exchange's request-weight limit per window, as configured
    weight_window_s: float  # that window
    seconds: list[dict[str, Any]]  # `loadgen.metrics.SecondStats.to_dict()`, one per wall-clock second


EXCHANGE_GAUGES_KEY = "exchange_gauges"
"""
In every worker report: the worker's gauges per exchange at report time, for the web UI's Exchange tab
and `GET /exchange/stats`. Written and read by `loadgen.web.exchange_view`.

:value: exchange name -> :class:`ExchangeGauges`
"""


class ExchangeGauges(TypedDict, total=False):
    ws_open: int  # WebSocket connections open now
    banned_until: float | None  # wall-clock end of the latest ban the exchange announced
    used_weight: float | None  # the latest used weight the exchange reported
    used_weight_at: float | None  # when it reported it, wall-clock seconds
    breaker: str  # the circuit breaker's state, when --breaker is on


PROCESS_USAGE_KEY = "process_usage"
"""
In every worker report: the worker's resident memory and open file descriptors, one sample per second since
its previous report, written by the master to the run's `_process_history.csv` and `_process.json`. Written and
read by `loadgen.process_history`.

:value: :class:`ProcessUsageReport`
"""


class ProcessUsageReport(TypedDict):
    pid: int  # the worker's process id
    rows: list[list[Any]]  # [epoch seconds, rss_mb or None, fds or None], one per second
