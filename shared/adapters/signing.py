"""Signed, expiring tokens (manage tokens, one-time links) with HMAC-SHA256 under LINK_SIGNING_KEY."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from shared.errors import ConfigurationError
from shared.settings import Settings


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """``sign(purpose, payload) -> token`` and ``verify(purpose, token) -> payload | None``."""

    def __init__(self, key: str) -> None:
        if not key or len(key) < 16:
            raise ConfigurationError("setting LINK_SIGNING_KEY is required (at least 16 characters)")
        self._key = key.encode("utf-8")

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        """Key from ``LINK_SIGNING_KEY``."""
        return cls(settings.require("LINK_SIGNING_KEY"))

    def _mac(self, purpose: str, body: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}.{body}".encode("ascii"), hashlib.sha256).digest()[:20])

    def sign(self, purpose: str, payload: dict[str, Any]) -> str:
        """A url-safe token binding ``payload`` to ``purpose`` (a token for one purpose fails for another)."""
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        return f"{body}.{self._mac(purpose, body)}"

    def verify(self, purpose: str, token: str) -> dict[str, Any] | None:
        """The payload if ``token`` was signed by us for ``purpose``; ``None`` otherwise."""
        if not token or token.count(".") != 1 or len(token) > 2048:
            return None
        body, mac = token.split(".")
        try:
            expected = self._mac(purpose, body)
        except UnicodeEncodeError:
            return None
        if not hmac.compare_digest(expected.encode("ascii"), mac.encode("utf-8", "surrogatepass")):
            return None
        try:
            payload = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError):
            return None
        return payload if isinstance(payload, dict) else None


