"""Signing of manage tokens and encryption of secrets at rest."""
from __future__ import annotations

import pytest

from shared.adapters.signing import Signer
from shared.adapters.token_cipher import TokenCipher, UndecryptableSecret
from shared.errors import ConfigurationError


def test_signed_token_round_trip_and_purpose_binding():
    signer = Signer("k" * 32)
    token = signer.sign("manage", {"ws": "w", "host": "h", "id": "b1"})
    assert signer.verify("manage", token) == {"ws": "w", "host": "h", "id": "b1"}
    assert signer.verify("connect", token) is None
    assert Signer("z" * 32).verify("manage", token) is None
    body, mac = token.split(".")
    assert signer.verify("manage", body + "." + mac[:-1] + ("A" if mac[-1] != "A" else "B")) is None
    for junk in ["", "x", "a.b.c", "é.é"]:
        assert signer.verify("manage", junk) is None


def test_signer_needs_a_real_key():
    with pytest.raises(ConfigurationError):
        Signer("short")


def test_cipher_rotation_old_key_still_decrypts():
    old, new = TokenCipher.generate_key(), TokenCipher.generate_key()
    secret = '{"RefreshToken": {"x": {"secret": "rt-123"}}}'
    stored = TokenCipher([old]).encrypt(secret)
    assert "rt-123" not in stored
    rotated_cipher = TokenCipher([new, old])
    assert rotated_cipher.decrypt(stored) == secret
    assert TokenCipher([new]).decrypt(rotated_cipher.rotate(stored)) == secret
    with pytest.raises(UndecryptableSecret):
        TokenCipher([new]).decrypt(stored)
    with pytest.raises(UndecryptableSecret):
        rotated_cipher.decrypt(stored[:-4] + "AAAA")


def test_cipher_refuses_missing_or_bad_keys():
    with pytest.raises(ConfigurationError):
        TokenCipher([])
    with pytest.raises(ConfigurationError):
        TokenCipher(["not-a-key"])
