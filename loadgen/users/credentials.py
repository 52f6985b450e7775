"""API keys for signed users: the simulator's demo account on the built-in simulator, else the exchange's
real keys from the environment, else from a `.env` file (which never overrides it).

The values never appear in a repr, str, log line or exception: errors name the missing variables only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from dotenv import dotenv_values, find_dotenv

from exchanges.base import ExchangeAdapter, simulator_keys


class MissingCredentials(Exception):
    """Raised with a one-line message naming the variables that are unset or empty."""

    def __init__(self, exchange: str, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"{exchange}: signed requests need {' and '.join(missing)} "
            "(set them in the environment or in .env)"
        )


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    passphrase: str = field(default="", repr=False)  # only exchanges whose keys have one (Coinbase Exchange)

    def __repr__(self) -> str:
        return "Credentials(api_key=<redacted>, api_secret=<redacted>)"

    __str__ = __repr__


def load_credentials(
    exchange: str,
    key_var: str,
    secret_var: str,
    environ: Mapping[str, str] | None = None,
    dotenv_path: str | None = None,
    passphrase_var: str | None = None,
) -> Credentials:
    """The key and secret named by `key_var`/`secret_var` (and the passphrase, if the exchange has one).
    A variable set in the environment wins over `.env` (searched from the working directory upwards
    unless `dotenv_path` is given)."""
    environ = os.environ if environ is None else environ
    path = dotenv_path if dotenv_path is not None else find_dotenv(usecwd=True)
    from_file = dotenv_values(path) if path else {}
    names = (key_var, secret_var) if passphrase_var is None else (key_var, secret_var, passphrase_var)
    values = {var: environ.get(var) or from_file.get(var) or "" for var in names}
    missing = [var for var, value in values.items() if not value]
    if missing:
        raise MissingCredentials(exchange, missing)
    return Credentials(values[key_var], values[secret_var], values.get(passphrase_var or "", ""))


def ws_session_credentials(adapter: ExchangeAdapter, on_simulator: bool, dotenv_path: str | None = None,
                           environ: Mapping[str, str] | None = None) -> Credentials | None:
    """The key and secret a WebSocket order session signs with, where the exchange has its own kind of key there
    (`adapter.ws_session_key_vars`): the simulator's demo pair on the simulator; elsewhere the variables from the
    environment or `.env` when either is set (MissingCredentials when only one is). None: the REST keys sign."""
    if not adapter.ws_session_key_vars:
        return None
    if on_simulator:
        key, secret = simulator_keys(adapter.ws_session_key_vars, adapter.simulator_ws_session_keys,
                                     os.environ if environ is None else environ)
        return Credentials(key, secret)
    key_var, secret_var = adapter.ws_session_key_vars
    environ = os.environ if environ is None else environ
    path = dotenv_path if dotenv_path is not None else find_dotenv(usecwd=True)
    from_file = dotenv_values(path) if path else {}
    if not any(environ.get(var) or from_file.get(var) for var in (key_var, secret_var)):
        return None
    return load_credentials(adapter.name, key_var, secret_var, environ, path or "")


def credentials_for(adapter: ExchangeAdapter, on_simulator: bool) -> Credentials:
    """The keys (and passphrase) `adapter`'s signed users sign with: the simulator's demo account when their
    host is the built-in simulator (loadgen/users/simulator_probe.py; a user's real keys never go there), else
    the exchange's variables from the environment or `.env`."""
    key_var, secret_var, *passphrase = adapter.user_key_vars
    passphrase_var = passphrase[0] if passphrase else None
    if on_simulator:
        demo = adapter.simulator_user_env()
        return Credentials(demo[key_var], demo[secret_var], demo.get(passphrase_var or "", ""))
    return load_credentials(adapter.name, key_var, secret_var, passphrase_var=passphrase_var)
