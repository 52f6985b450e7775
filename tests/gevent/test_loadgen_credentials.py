"""Credentials: environment first, then .env; values never appear in reprs, messages or logs."""

import logging

import pytest

from loadgen.users.credentials import Credentials, MissingCredentials, load_credentials

KEY = "key-5f2a9c0b7e11d3"
SECRET = "secret-c4e8aa01b2f9d7"


def load(environ, dotenv_path):
    return load_credentials("binance", "BINANCE_API_KEY", "BINANCE_API_SECRET", environ, str(dotenv_path))


def test_environment_values_are_used(tmp_path):
    creds = load({"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET}, tmp_path / "missing.env")
    assert (creds.api_key, creds.api_secret) == (KEY, SECRET)


def test_dotenv_fills_in_but_never_overrides_the_environment(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"BINANCE_API_KEY=from-file\nBINANCE_API_SECRET={SECRET}\n", encoding="utf-8")
    creds = load({"BINANCE_API_KEY": KEY}, dotenv)
    assert (creds.api_key, creds.api_secret) == (KEY, SECRET)


def test_values_never_appear_in_repr_or_str(tmp_path):
    creds = Credentials(KEY, SECRET)
    for text in (repr(creds), str(creds), f"{creds}", repr([creds]), repr({"c": creds})):
        assert KEY not in text and SECRET not in text
        assert "redacted" in text


def test_missing_variables_are_named_without_values(tmp_path, caplog):
    dotenv = tmp_path / ".env"
    dotenv.write_text("BINANCE_API_SECRET=\n", encoding="utf-8")
    with pytest.raises(MissingCredentials) as caught:
        load({"BINANCE_API_KEY": KEY}, dotenv)
    message = str(caught.value)
    assert caught.value.missing == ["BINANCE_API_SECRET"]
    assert "BINANCE_API_SECRET" in message and "BINANCE_API_KEY" not in message
    assert KEY not in message and KEY not in repr(caught.value) and "\n" not in message
    with pytest.raises(MissingCredentials) as both:
        load({}, tmp_path / "none.env")
    assert both.value.missing == ["BINANCE_API_KEY", "BINANCE_API_SECRET"]
    with caplog.at_level(logging.DEBUG):
        load({"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET}, dotenv)
    assert KEY not in caplog.text and SECRET not in caplog.text


def test_a_passphrase_is_loaded_when_the_exchange_has_one(tmp_path):
    names = ("COINBASE_API_KEY", "COINBASE_API_SECRET")
    environ = {names[0]: KEY, names[1]: SECRET, "COINBASE_API_PASSPHRASE": "pass-9d1e"}
    creds = load_credentials("coinbase", *names, environ, str(tmp_path / "none.env"),
                             passphrase_var="COINBASE_API_PASSPHRASE")
    assert creds.passphrase == "pass-9d1e" and "pass-9d1e" not in repr(creds)
    with pytest.raises(MissingCredentials) as caught:
        load_credentials("coinbase", *names, {names[0]: KEY, names[1]: SECRET}, str(tmp_path / "none.env"),
                         passphrase_var="COINBASE_API_PASSPHRASE")
    assert caught.value.missing == ["COINBASE_API_PASSPHRASE"]
