"""Which keys a Binance WebSocket order session signs with, and its Ed25519 signatures (the simulator's side is in
tests/test_sim_binance_ws_api.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchanges.binance import (
    ADAPTER,
    SIM_DEMO_ED25519_API_KEY,
    ed25519_public_key,
    ed25519_verify,
    simulator_ed25519_credentials,
    ws_api_signature_payload,
    ws_api_signed,
)
from loadgen.users.credentials import MissingCredentials, ws_session_credentials

KEY_VAR, PRIVATE_KEY_VAR = ADAPTER.ws_session_key_vars
DEMO_KEY, DEMO_PRIVATE_KEY = simulator_ed25519_credentials({})


def test_on_the_simulator_the_session_signs_with_the_demo_ed25519_key() -> None:
    keys = ws_session_credentials(ADAPTER, on_simulator=True, environ={})
    assert keys is not None and (keys.api_key, keys.api_secret) == (SIM_DEMO_ED25519_API_KEY, DEMO_PRIVATE_KEY)
    assert "PRIVATE" not in repr(keys) and DEMO_PRIVATE_KEY not in str(keys)


def test_elsewhere_the_ed25519_key_is_used_when_configured(tmp_path: Path) -> None:
    empty_dotenv = str(tmp_path / "absent.env")
    assert ws_session_credentials(ADAPTER, False, empty_dotenv, environ={}) is None  # the REST keys sign
    keys = ws_session_credentials(ADAPTER, False, empty_dotenv, environ={KEY_VAR: "k", PRIVATE_KEY_VAR: "pem"})
    assert keys is not None and (keys.api_key, keys.api_secret) == ("k", "pem")
    with pytest.raises(MissingCredentials, match=PRIVATE_KEY_VAR):
        ws_session_credentials(ADAPTER, False, empty_dotenv, environ={KEY_VAR: "k"})
    dotenv = tmp_path / ".env"
    dotenv.write_text(f'{KEY_VAR}=fromfile\n{PRIVATE_KEY_VAR}="{DEMO_PRIVATE_KEY}"\n')
    keys = ws_session_credentials(ADAPTER, False, str(dotenv), environ={})
    assert keys is not None and keys.api_key == "fromfile" and keys.api_secret.strip() == DEMO_PRIVATE_KEY.strip()


def test_a_pem_secret_signs_with_ed25519_an_hmac_secret_with_hmac() -> None:
    signed = ws_api_signed(DEMO_KEY, DEMO_PRIVATE_KEY, {}, 1_700_000_000_000)
    payload = ws_api_signature_payload(signed)
    assert payload == f"apiKey={DEMO_KEY}&timestamp=1700000000000"
    assert ed25519_verify(ed25519_public_key(DEMO_PRIVATE_KEY), payload, str(signed["signature"]))
    hmac_signed = ws_api_signed("key", "secret", {}, 1_700_000_000_000)
    assert len(str(hmac_signed["signature"])) == 64  # hex HMAC-SHA256


def test_an_unreadable_private_key_is_one_line_naming_no_secret() -> None:
    broken = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXZhbHVl\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ValueError) as error:
        ws_api_signed("key", broken, {}, 1)
    assert "c2VjcmV0" not in str(error.value) and "\n" not in str(error.value)


def test_the_simulator_refuses_an_unreadable_demo_ed25519_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.binance.config import BinanceConfig
    from simulator.binance.sim import BinanceSim
    from simulator.common_config import ConfigError

    monkeypatch.setenv("SIM_" + PRIVATE_KEY_VAR, "not a key")
    with pytest.raises(ConfigError, match="SIM_BINANCE_ED25519_PRIVATE_KEY"):
        BinanceSim(BinanceConfig())
