"""Authenticated encryption of secrets at rest (token caches, auth flows), with key rotation."""
from __future__ import annotations

from typing import Any

from shared.errors import ConfigurationError, UndecryptableSecret
from shared.settings import Settings


class TokenCipher:
    """Fernet under ``MultiFernet``: the first key encrypts, every key decrypts."""

    def __init__(self, keys: list[str]) -> None:
        from cryptography.fernet import Fernet, MultiFernet

        if not keys:
            raise ConfigurationError("setting TOKEN_ENCRYPTION_KEYS is required to store tokens")
        try:
            self._fernet: Any = MultiFernet([Fernet(k.encode("ascii")) for k in keys])
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                "TOKEN_ENCRYPTION_KEYS must hold Fernet keys (32 url-safe base64 bytes), comma-separated"
            ) from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCipher:
        """Keys from ``TOKEN_ENCRYPTION_KEYS``."""
        return cls(settings.get_list("TOKEN_ENCRYPTION_KEYS"))

    @staticmethod
    def generate_key() -> str:
        """A new random key (for set-up scripts and rotation)."""
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode("ascii")

    def encrypt(self, plaintext: str) -> str:
        """Ciphertext (url-safe text) of ``plaintext``."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """Plaintext of ``ciphertext``; :class:`UndecryptableSecret` if no key fits or it was altered."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise UndecryptableSecret("a stored secret could not be decrypted with any configured key") from exc

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the current primary key."""
        return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
