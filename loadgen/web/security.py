"""Safer defaults for Locust's web UI, whose own are unsafe for a tool that can hammer an exchange.

- It binds to 127.0.0.1 unless `--web-host` says otherwise, and refuses to serve another interface
  without `--web-login` (exit code 2).
- `--web-login` is a working username/password login: WEB_UI_USERNAME and WEB_UI_PASSWORD from the
  environment (or `.env` through the runner), compared in constant time; neither is ever logged.
- It does not answer cross-origin requests: Locust's permissive CORS headers are removed and a request
  whose Origin is not the UI's own (or one given with `--web-origin`) gets 403. On loopback, a Host
  that is not a loopback name gets 403 too (DNS rebinding). Flask's debug mode is off.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import gevent
from flask import Flask, redirect, request, session, url_for
from flask_login import UserMixin, login_user
from locust.env import Environment

logger = logging.getLogger(__name__)

EXIT_USAGE = 2
DEFAULT_WEB_HOST = "127.0.0.1"
USERNAME_VAR = "WEB_UI_USERNAME"
PASSWORD_VAR = "WEB_UI_PASSWORD"
LOGIN_ROUTE = "/login/submit"
FAILED_LOGIN_DELAY_S = 1.0  # slows down password guessing
LOOPBACK_NAMES = frozenset({"localhost", "::1", "[::1]"})


def add_arguments(parser: Any, **_: Any) -> None:
    parser.set_defaults(web_host=DEFAULT_WEB_HOST)  # Locust's own default is every interface
    group = parser.add_argument_group("Web UI security (exchange-stress-test)")
    group.add_argument("--web-origin", action="append", default=[], metavar="URL",
                       help="Also accept requests from this origin, e.g. a reverse proxy's https://loadtest.example "
                       "(repeatable; the UI's own origin is always accepted)")


def is_loopback_host(host: str) -> bool:
    name = host.strip().lower()
    return name in LOOPBACK_NAMES or name.startswith("127.")


class WebLoginUser(UserMixin):
    id = "web-ui-user"


class CrossOriginGuard:
    """WSGI middleware: 403 for a foreign Origin (and, on loopback, a foreign Host); no CORS headers ever."""

    def __init__(self, app: Callable[..., Iterable[bytes]], allowed_origins: Iterable[str], loopback_only: bool):
        self.app = app
        self.allowed_origins = {o.rstrip("/").lower() for o in allowed_origins}
        self.loopback_only = loopback_only

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        scheme = environ.get("wsgi.url_scheme", "http")
        host = environ.get("HTTP_HOST", "")
        origin = environ.get("HTTP_ORIGIN")
        if self.loopback_only and not is_loopback_host(urlsplit(f"//{host}").hostname or ""):
            return _forbidden(start_response, "unexpected Host header")
        if origin is not None and origin.lower() not in {f"{scheme}://{host}".lower(), *self.allowed_origins}:
            return _forbidden(start_response, "cross-origin requests are not served")

        def start_without_cors(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
            return start_response(status, kept, *exc_info)

        return self.app(environ, start_without_cors)


def _forbidden(start_response: Callable[..., Any], reason: str) -> list[bytes]:
    body = f"403 Forbidden: {reason}\n".encode()
    start_response("403 Forbidden", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def secure(environment: Environment) -> None:
    """At init, before the UI serves: refuse an unsafe setup (exit 2), then harden the Flask app."""
    web_ui = environment.web_ui
    options = environment.parsed_options
    if web_ui is None or options is None:
        return
    host = str(getattr(options, "web_host", "") or "")
    loopback = is_loopback_host(host)
    if not loopback and not options.web_login:
        logger.error(
            "refusing to serve the web UI on %s without a login: use --web-login (with %s and %s set) "
            "or keep the default --web-host %s", host or "every interface", USERNAME_VAR, PASSWORD_VAR, DEFAULT_WEB_HOST
        )
        sys.exit(EXIT_USAGE)
    app: Flask = web_ui.app
    app.debug = False
    app.wsgi_app = CrossOriginGuard(app.wsgi_app, getattr(options, "web_origin", None) or [], loopback)
    if options.web_login:
        enable_login(app, web_ui, f"{getattr(options, 'web_base_path', '') or ''}{LOGIN_ROUTE}")


def enable_login(app: Flask, web_ui: Any, route: str) -> None:
    username, password = os.environ.get(USERNAME_VAR, ""), os.environ.get(PASSWORD_VAR, "")
    if not username or not password:
        logger.error("--web-login needs %s and %s in the environment (or .env)", USERNAME_VAR, PASSWORD_VAR)
        sys.exit(EXIT_USAGE)
    app.secret_key = secrets.token_hex(32)  # sessions last as long as this process
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict")
    if web_ui.tls_cert and web_ui.tls_key:
        app.config["SESSION_COOKIE_SECURE"] = True
    user = WebLoginUser()
    web_ui.login_manager.user_loader(lambda user_id: user if user_id == user.id else None)
    web_ui.auth_args = {"username_password_callback": route}

    @app.route(route, methods=["POST"])
    def login_submit() -> Any:
        given_user = request.form.get("username", "").encode()
        given_password = request.form.get("password", "").encode()
        user_ok = hmac.compare_digest(given_user, username.encode())
        password_ok = hmac.compare_digest(given_password, password.encode())
        if user_ok and password_ok:
            login_user(user)
            return redirect(url_for("locust.index"))
        logger.warning("web UI: failed login from %s", request.remote_addr)
        gevent.sleep(FAILED_LOGIN_DELAY_S)
        session["auth_error"] = "Invalid username or password"
        return redirect(url_for("locust.login"))

    logger.info("web UI login on (credentials from %s and %s)", USERNAME_VAR, PASSWORD_VAR)
