"""The load generator's HTTP transport: no silent retries, and requests sent below Locust's session.

geventhttpclient, the HTTP client under Locust's FastHttpUser, resends an idempotent request (GET,
DELETE, ...) on a fresh connection when a pooled connection turns out to be reset or closed. For an
application that is kind; for a load tester it hides exactly what its users come to see, and the
exchange (or the simulator) counts two requests where Locust counts one. FastHttpUser already turns
off the user agent's own retry loop (`max_retries = 0`); this turns off the connection-level one,
so that every request sent is one request counted and a reset is a classified `connection` failure.

`DirectHttp` sends a user's requests on its session's client without the session's per-request layers.
"""

from __future__ import annotations

from dataclasses import dataclass

from geventhttpclient import client as _client
from geventhttpclient.header import Headers
from geventhttpclient.url import URL
from geventhttpclient.useragent import CompatRequest
from locust.contrib.fasthttp import FastHttpSession, FastResponse

ACCEPT_ENCODING = "gzip, deflate, br"  # what FastHttpSession asks for unless the request says otherwise


def _never_retry(method: str) -> bool:
    return False


def disable_silent_retries() -> None:
    _client._may_retry_after_send_error = _never_retry


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back for one request: the response (status, headers, decoded body), or the error instead."""

    status: int  # 0 when no HTTP answer arrived
    headers: Headers | None
    body: bytes
    error: BaseException | None = None
    response: FastResponse | None = None  # Locust's wrapper of the response, for request-event listeners


class DirectHttp:
    """A FastHttpUser's requests sent straight on its session's HTTP client.

    Locust's `FastHttpSession.request` runs each request through geventhttpclient's user agent (URL
    parsing and requoting, a cookie jar, a redirect and retry loop), a response wrapper and a context
    manager: about 40% of the CPU a request to a fast server costs. This sends the same request line and
    headers on the same client (the session's pool: its timeouts, TLS context and concurrency), decodes
    the body as Locust's `FastResponse` does and leaves the request event to the caller. Cookies the
    server sets are kept and sent back as the session would; redirects are not followed (an exchange API
    does not redirect, and each request sent is one request counted); a transport error reads as the user
    agent reports it (e.g. a timeout as `RetriesExceeded`, since FastHttpUser never retries).
    """

    def __init__(self, session: FastHttpSession) -> None:
        self._session = session
        self._agent = session.client
        self._base_url = session.base_url or ""  # FastHttpUser refuses to start without an absolute one
        self._base = URL(self._base_url)
        self._client_key = (self._base.host, self._base.port)  # how the pool keys its clients
        # The session concatenates its base URL and the request's path; a base ending in "/" would make the
        # request target start with "//", which geventhttpclient refuses.
        self._prefix = self._base.path.rstrip("/")
        self._headers = dict(self._agent.default_headers.items())
        if session.auth_header:
            self._headers["Authorization"] = session.auth_header
        self._plain_headers = {**self._headers, "Accept-Encoding": ACCEPT_ENCODING}  # (the client copies them)

    def send(self, method: str, path: str, headers: dict[str, str], body: str | None) -> Answer:
        """Send one request (`path` already percent-encoded, with its query) and read the whole answer."""
        if headers:
            request_headers = {**self._headers, **headers}
            if "Accept-Encoding" not in headers and "accept-encoding" not in headers:
                request_headers["Accept-Encoding"] = ACCEPT_ENCODING
        else:
            request_headers = self._plain_headers
        cookies = self._session.cookiejar
        if len(cookies):
            request_headers = {**request_headers, "Cookie": self._cookie_header(self._base_url + path, method)}
        try:
            pool = self._agent.clientpool
            client = pool.clients.get(self._client_key) or pool.get_client(self._base)  # (a closed pool empties)
            raw = client.request(method, self._prefix + path, body=body, headers=request_headers)
            response = FastResponse(raw)
            content = response.content
        except Exception as e:  # no (complete) answer: classified by the caller
            return Answer(0, None, b"", self._reported_error(e, self._base_url + path))
        if "set-cookie" in response.headers:
            request = CompatRequest(self._base_url + path, method, Headers())
            cookies.extract_cookies(response, request)  # type: ignore[arg-type]
        return Answer(response.status_code, response.headers, content, None, response)

    def _cookie_header(self, url: str, method: str) -> str:
        request = CompatRequest(url, method, Headers())
        self._session.cookiejar.add_cookie_header(request)  # type: ignore[arg-type]
        return request.headers.get("Cookie", "")

    def _reported_error(self, error: Exception, url: str) -> BaseException:
        """The exception the user agent would report for `error`: itself, or for a temporary error (a timeout,
        a reset) the retries-exceeded error it raises when no retry is left."""
        try:
            self._agent._handle_error(error, url=url)  # raises what is not worth retrying
            self._agent._handle_retries_exceeded(url, last_error=error)
        except Exception as reported:
            return reported
        return error
