"""`GET /__sim/identity`: how a client tells that a host is this suite's simulator, and where each exchange
is mounted in it. The Locust users ask it at test start to sign with the simulator's demo account
(loadgen/users/simulator_probe.py). This module has no dependencies, so that clients can import it."""

from __future__ import annotations

from collections.abc import Mapping

IDENTITY_PATH = "/__sim/identity"
SERVICE = "exchange-stress-test simulator"


def identity_document(mounts: Mapping[str, str]) -> dict[str, object]:
    """The answer: the service's name and each exchange's mount ("binance" -> "/binance")."""
    return {"service": SERVICE, "exchanges": dict(mounts)}


def mounts_in(document: object) -> dict[str, str] | None:
    """Each exchange's mount from an identity answer; None when the answer is not the simulator's."""
    if not isinstance(document, dict) or document.get("service") != SERVICE:
        return None
    mounts = document.get("exchanges")
    if not isinstance(mounts, dict):
        return None
    return {name: path for name, path in mounts.items() if isinstance(name, str) and isinstance(path, str)}
