"""Reporting outcomes to Locust with the adapter's low-cardinality failure texts."""

from __future__ import annotations

from locust.env import Environment

from exchanges.base import FailureKind, Verdict


class ClassifiedFailure(Exception):
    """A failure whose repr is its text, so Locust's failures CSV, console and a distributed master all
    show e.g. `rate_limited: -1003 HTTP 429` rather than a wrapped exception."""

    def __repr__(self) -> str:
        return str(self)


def failure_for(verdict: Verdict) -> ClassifiedFailure:
    return ClassifiedFailure(verdict.error_text())


def unexpected(exc: BaseException) -> Verdict:
    """A verdict for an exception in our own code (a bug or an answer we could not read)."""
    return Verdict(False, FailureKind.PROTOCOL, message=type(exc).__name__)


def fire(
    environment: Environment,
    request_type: str,
    name: str,
    response_time_ms: float | None,
    response_length: int = 0,
    verdict: Verdict | None = None,
) -> None:
    """Record one request or message: a success when `verdict` is None or ok, else a classified failure."""
    environment.events.request.fire(
        request_type=request_type,
        name=name,
        response_time=response_time_ms,
        response_length=response_length,
        exception=None if verdict is None or verdict.ok else failure_for(verdict),
        context={},
    )
