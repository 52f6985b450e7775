"""The base of every exchange REST user: named endpoints, signing, classification, weight and pacing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode

from locust import FastHttpUser
from locust.env import Environment
from locust.exception import StopUser

from exchanges.base import OVERLOAD_KINDS, Endpoint, ExchangeAdapter, FailureKind, Verdict
from loadgen.options import BanAction, Mode
from loadgen.pacing.arrivals import PacerClosed, Start
from loadgen.pacing.cluster_budget import cluster_of
from loadgen.pacing.spike import bursts_of
from loadgen.runtime import ExchangeRuntime, end_run, exchange_runtime
from loadgen.users.credentials import Credentials, MissingCredentials
from loadgen.users.request_events import failure_for, fire, unexpected
from loadgen.users.transport import Answer, DirectHttp, disable_silent_retries

logger = logging.getLogger(__name__)

disable_silent_retries()

CLOCK_SAMPLES = 3
PACE_REQUEST_TYPE = "PACE"  # Locust stats rows "late_start" (lateness as the time) and "skipped_start"
BREAKER_OPEN = Verdict(False, FailureKind.CONNECTION, message="circuit breaker open: not sent")
UNSIGNED_PATHS_CACHED = 4096  # distinct unsigned requests whose encoded path is kept (then the cache starts over)
_UNSIGNED_PATHS: dict[tuple[object, ...], str] = {}


@dataclass(frozen=True, slots=True)
class Reply:
    verdict: Verdict
    status: int  # 0 when no HTTP answer arrived
    body: bytes
    parsed: Any  # what the request's `parse` function made of the body
    sent_at: float  # wall-clock seconds just before sending (after any polite wait) ...
    received_at: float  # ... and once the answer was read
    intended_at: float | None = None  # open model: when the schedule meant the request to start
    sent: bool = True  # False when the circuit breaker refused the request

    @property
    def ok(self) -> bool:
        return self.verdict.ok


def unsigned_path(endpoint: Endpoint, fields: dict[str, str]) -> str:
    """The path with its query of an unsigned request, from a per-process cache: polling users send the same
    few parameter sets over and over."""
    key = (endpoint.path, *fields.items())
    path = _UNSIGNED_PATHS.get(key)
    if path is None:
        path, rest = endpoint.fill_path(fields)
        if rest:
            path = f"{path}?{urlencode(rest)}"
        if len(_UNSIGNED_PATHS) >= UNSIGNED_PATHS_CACHED:
            _UNSIGNED_PATHS.clear()
        _UNSIGNED_PATHS[key] = path
    return path


def clock_offset_ms(sent_s: float, received_s: float, server_ms: float) -> float:
    """Local clock minus server clock, assuming the server read its clock halfway through (NTP-style)."""
    return (sent_s + received_s) / 2.0 * 1000.0 - server_ms


class ExchangeRestUser(FastHttpUser):
    """Sends the adapter's endpoints by name and records every answer as a success or a classified failure.

    In `probe` mode requests go out at the user's own pace whatever the answers. In `polite` mode every
    request first waits for room in the (cluster-wide) weight budget. With backoff on (polite mode's
    default), requests wait out the exchange's shared Retry-After pause and a ban stops the user or the
    run; with `--backoff retry-after` (the ramp's default) they wait only as long as a Retry-After says.
    With the breaker on, requests to a failing exchange are refused without being sent.

    Classes with `open_model` take every request's start from the cluster-wide schedule when the run has
    a target rate (their wait time should then be `unless_paced(...)`).
    """

    abstract = True
    adapter: ClassVar[ExchangeAdapter]
    needs_credentials: ClassVar[bool] = False  # signed endpoints: load keys at start, refuse to run without
    # Prepended to every row name its users report (requests, WebSocket rows, late starts): with several
    # exchanges in one run, 'binance:time' and 'coinbase:time' stay apart in Locust's stats (keyed by method
    # and name). locustfiles/all.py sets it to `loadgen.gates.evaluation.exchange_prefix`.
    stats_prefix: ClassVar[str] = ""
    open_model: ClassVar[bool] = False

    runtime: ExchangeRuntime
    credentials: Credentials | None = None
    clock_offset_ms = 0.0  # local minus server; signed timestamps are corrected by it
    refused = False

    def __init__(self, environment: Environment) -> None:
        # Before FastHttpUser builds its client from self.host: with --host at the simulator's root
        # (several exchanges in one run), each user talks to its own exchange's mount.
        self.host = self.adapter.base_on(self.host or environment.host)
        super().__init__(environment)
        self._http = DirectHttp(self.client)

    def on_start(self) -> None:
        runtime = exchange_runtime(self.environment, self.adapter)
        if runtime is None:
            self.refuse(f"{self.adapter.name}: no valid settings for this test")
            return
        self.runtime = runtime
        if self.needs_credentials:
            try:
                self.credentials = runtime.credentials()
            except MissingCredentials as e:
                self.refuse(str(e))

    def refuse(self, message: str) -> None:
        """Do not run: log `message` once, end the run with exit code 1, and stop this user quietly."""
        if self.refused:
            return
        self.refused = True
        end_run(self.environment, message, failed=True)
        self.stop()

    def request(
        self,
        endpoint_name: str,
        params: Mapping[str, str | int | float] | None = None,
        parse: Callable[[bytes], Any] | None = None,
        row_type: str | None = None,
    ) -> Reply:
        """Send one request and record it under the endpoint's name (and `row_type`, by default its HTTP method).
        `parse` reads a successful body; if it raises, the request counts as a `protocol` failure."""
        endpoint = self.adapter.endpoint(endpoint_name)
        fields = {k: str(v) for k, v in (params or {}).items()}
        weight = endpoint.weight_for(fields)
        runtime = self.runtime
        start = self._paced_start()
        intended_at = None if start is None else start.intended_at
        breaker = runtime.breaker
        if breaker is not None and not breaker.allow():
            runtime.metrics.breaker_rejected()
            now = time.time()
            return self._in_burst(start, Reply(BREAKER_OPEN, 0, b"", None, now, now, intended_at, sent=False))
        self._wait_for_room(weight)
        path, headers, body = self._encode(endpoint, fields)
        parsed = None
        context = {} if intended_at is None else {"intended_start": intended_at}
        sent_at = time.time()
        started = time.perf_counter()
        answer = self._http.send(endpoint.method, path, headers, body)
        response_time_ms = (time.perf_counter() - started) * 1000
        received_at = time.time()
        status, body = answer.status, answer.body
        verdict = self._classify(answer)
        if verdict.ok and parse is not None:
            try:
                parsed = parse(body)
            except Exception as e:  # the answer is not what the exchange documents
                verdict = Verdict(False, FailureKind.PROTOCOL, message=f"unreadable answer ({type(e).__name__})")
        # Counted where Locust counts it: a request cut off by a stop is in neither.
        runtime.metrics.request(weight, self.adapter.limit_cost(endpoint, weight), verdict.ok,
                                verdict.kind in OVERLOAD_KINDS)
        self.environment.events.request.fire(  # the keys FastHttpSession gives its request event
            request_type=row_type or endpoint.method,
            name=self.stats_prefix + endpoint.name,
            response_time=response_time_ms,
            response_length=len(body),
            exception=None if verdict.ok else failure_for(verdict),
            context={**self.context(), **context},
            response=answer.response,
            url=self.client.base_url + path,
            start_time=sent_at,
        )
        if breaker is not None:
            breaker.record(None if verdict.ok else verdict.kind)
        reply = self._in_burst(start, Reply(verdict, status, body, parsed, sent_at, received_at, intended_at))
        self._account(verdict)
        return reply

    def measure_clock_offset(self) -> float:
        """Local minus server clock in ms. The process's users of an exchange share it: the first to ask measures
        it, the others wait for that and reuse it, so that a test's start does not send every user's time
        requests at once (OKX allows 10 per 2 s per IP). A measurement that got no answer is not kept."""
        runtime = self.runtime
        with runtime.clock_lock:
            if runtime.clock_offset_ms is None:
                runtime.clock_offset_ms = self._sample_clock_offset()
            return runtime.clock_offset_ms if runtime.clock_offset_ms is not None else 0.0

    def _sample_clock_offset(self) -> float | None:
        """The offset from the best of a few time requests (smallest round trip); None when none succeeded."""
        best: tuple[float, float] | None = None  # (round trip, offset)
        for _ in range(CLOCK_SAMPLES):
            reply = self.request(self.adapter.time_endpoint, parse=self.adapter.parse_server_time)
            round_trip = reply.received_at - reply.sent_at
            if reply.ok and (best is None or round_trip < best[0]):
                best = (round_trip, clock_offset_ms(reply.sent_at, reply.received_at, reply.parsed))
        return best[1] if best is not None else None

    def _encode(self, endpoint: Endpoint, fields: dict[str, str]) -> tuple[str, dict[str, str], str | None]:
        """(path with query, headers, body or None) of a request; path placeholders are filled from `fields`."""
        if not endpoint.signed:
            return unsigned_path(endpoint, fields), {}, None
        path, fields = endpoint.fill_path(fields)
        if self.credentials is None:
            raise RuntimeError(f"{type(self).__name__} sends signed {endpoint.name} without needs_credentials")
        signed = self.adapter.sign_request(
            self.credentials.api_key,
            self.credentials.api_secret,
            fields,
            timestamp_ms=int(time.time() * 1000 - self.clock_offset_ms),
            recv_window_ms=self.runtime.settings.recv_window_ms,
            method=endpoint.method,
            path=path,
            passphrase=self.credentials.passphrase,
        )
        return (f"{path}?{signed.query}" if signed.query else path), signed.headers, signed.body or None

    def _classify(self, answer: Answer) -> Verdict:
        try:
            if answer.status == 0:
                return self.adapter.classify_exception(answer.error or ConnectionError())
            headers = answer.headers
            return self.adapter.classify(answer.status, headers if headers is not None else {}, answer.body)
        except Exception as e:  # never let a bug in classification lose the sample
            logger.exception("%s: classifying an answer failed", self.adapter.name)
            return unexpected(e)

    def _paced_start(self) -> Start | None:
        """Open model: wait for this request's start on the cluster-wide schedule and count how it went."""
        if not self.open_model:
            return None
        cluster = cluster_of(self.environment)
        pacer = cluster.pacer_for(self.adapter.name)
        if not pacer.active:
            return None
        try:
            start = pacer.start()
        except PacerClosed:  # the test is stopping: this request is never sent
            raise StopUser() from None
        late = start.lag_s > cluster.late_after_s
        self.runtime.metrics.paced_start(start.lag_s * 1000.0, late, start.skipped)
        if late:
            fire(self.environment, PACE_REQUEST_TYPE, self.stats_prefix + "late_start", start.lag_s * 1000.0)
        for _ in range(start.skipped):
            fire(self.environment, PACE_REQUEST_TYPE, self.stats_prefix + "skipped_start", None)
        return start

    def _in_burst(self, start: Start | None, reply: Reply) -> Reply:
        """Count `reply` in its burst's tally when the request was part of one (the spike scenario)."""
        if start is not None and start.burst is not None:
            bursts_of(self.environment).record(start.burst, reply.verdict, reply.sent, reply.sent_at, reply.received_at)
        return reply

    def _wait_for_room(self, weight: int) -> None:
        runtime = self.runtime
        # With backoff every Retry-After is honoured; in any mode nobody sends during a ban (418): an IP
        # that keeps sending only extends it, on a real exchange for up to 3 days.
        if runtime.settings.backoff or runtime.gate.remaining_s() > 0:
            waited = runtime.gate.wait()
            if waited > 0:
                runtime.metrics.retry_after_wait(waited)
        if runtime.settings.mode is Mode.POLITE:
            waited = runtime.limiter.acquire(weight)
            if waited > 0:
                runtime.metrics.weight_wait(waited)

    def _account(self, verdict: Verdict) -> None:
        runtime = self.runtime
        if verdict.used_weight is not None:
            runtime.metrics.used_weight(verdict.used_weight)
        if verdict.order_count is not None:
            runtime.metrics.order_count(verdict.order_count)
        backoff = runtime.settings.backoff
        if verdict.ok:
            if backoff:
                runtime.gate.clear()
            return
        if verdict.kind is FailureKind.RATE_LIMITED:
            runtime.metrics.rate_limited()
            if backoff:
                runtime.gate.hold(verdict.retry_after_s)
            elif runtime.settings.honour_retry_after and verdict.retry_after_s is not None:
                runtime.gate.hold_for(verdict.retry_after_s)
            self._pause_schedule()
        elif verdict.kind is FailureKind.BANNED:
            runtime.metrics.banned(verdict.retry_after_s)
            if backoff:
                self._stop_for_ban(verdict)
            else:  # probe mode too: the limit is found; wait the ban out rather than extend it
                runtime.gate.hold(verdict.retry_after_s)
                self._pause_schedule()

    def _pause_schedule(self) -> None:
        """While the exchange's users are held, its schedule waits too: no starts pile up behind the pause to go
        out together when it ends, and none count as skipped."""
        held_s = self.runtime.gate.remaining_s()
        if held_s > 0:
            cluster_of(self.environment).pacer_for(self.adapter.name).pause_for(held_s)

    def _stop_for_ban(self, verdict: Verdict) -> None:
        """A ban is not waited out (it only grows if the IP keeps sending): stop this user, or the run."""
        settings = self.runtime.settings
        wait = f"Retry-After {verdict.retry_after_s:g} s" if verdict.retry_after_s is not None else "no Retry-After"
        if settings.on_ban is BanAction.STOP_RUN:
            end_run(self.environment, f"{self.adapter.name}: banned ({wait}); stopping the run (--on-ban stop-run)",
                    failed=False)
        elif not self.runtime.cache.get("ban_logged"):
            self.runtime.cache["ban_logged"] = True
            logger.warning("%s: banned (%s); banned users stop (--on-ban stop-user)", self.adapter.name, wait)
        self.stop()
        raise StopUser()
