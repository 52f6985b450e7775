"""Whether a host is the suite's built-in simulator: asked of the host itself, never guessed from its port.

Only hosts that are not one of the exchange's known production or testnet hosts are asked, with a bounded
timeout: `GET <scheme>://<host:port>/__sim/identity`. The answer names each exchange's mount; a REST base
is the simulator for an exchange when it is that exchange's mount there.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from exchanges.base import ExchangeAdapter, TargetKind
from simulator.identity import IDENTITY_PATH, mounts_in

PROBE_TIMEOUT_S = 3.0  # also how long a refused connection is retried (a simulator still starting)
MAX_ANSWER_BYTES = 65536
KNOWN_EXCHANGE_HOSTS = (TargetKind.PRODUCTION, TargetKind.TESTNET)


def is_simulator(adapter: ExchangeAdapter, rest_base: str | None, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether `rest_base` (e.g. http://127.0.0.1:8000/binance) is `adapter`'s mount in the suite's simulator."""
    if not rest_base or adapter.target_kind(rest_base) in KNOWN_EXCHANGE_HOSTS:
        return False
    parts = urlsplit(rest_base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    mounts = simulator_mounts(f"{parts.scheme}://{parts.netloc}", timeout_s)
    return mounts is not None and mounts.get(adapter.name) == parts.path.rstrip("/")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the host itself must answer


# No proxy from the environment (Locust's users do not use one either) and no redirects.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def simulator_mounts(origin: str, timeout_s: float = PROBE_TIMEOUT_S) -> dict[str, str] | None:
    """Each exchange's mount when `origin` (scheme://host:port) is the simulator; None for anything else,
    an error or no answer within `timeout_s` (a refused connection is retried until then)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with _OPENER.open(f"{origin}{IDENTITY_PATH}", timeout=max(0.1, deadline - time.monotonic())) as resp:
                return mounts_in(json.loads(resp.read(MAX_ANSWER_BYTES)))
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError) or time.monotonic() + 0.25 > deadline:
                return None
        except (OSError, ValueError):  # an HTTP error status, a timeout, a reset; not JSON
            return None
        time.sleep(0.25)
