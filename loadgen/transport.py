"""No silent retries under the load generator.

geventhttpclient, the HTTP client under Locust's FastHttpUser, resends an idempotent request (GET,
DELETE, ...) on a fresh connection when a pooled connection turns out to be reset or closed. For an
application that is kind; for a load tester it hides exactly what its users come to see, and the
exchange (or the simulator) counts two requests where Locust counts one. FastHttpUser already turns
off the user agent's own retry loop (`max_retries = 0`); this turns off the connection-level one,
so that every request sent is one request counted and a reset is a classified `connection` failure.
"""

from __future__ import annotations

from geventhttpclient import client as _client


def _never_retry(method: str) -> bool:
    return False


def disable_silent_retries() -> None:
    _client._may_retry_after_send_error = _never_retry
