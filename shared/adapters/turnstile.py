"""Cloudflare Turnstile's server-side check (``POST /turnstile/v0/siteverify``), one ``HumanCheck``.

The request is a form with ``secret``, ``response`` (the widget's token) and optionally ``remoteip``;
the answer is JSON with ``success`` and ``error-codes``. Tokens are single-use and expire after 300
seconds. The check fails closed: no token, a refusal or an unreadable answer is ``False``; Cloudflare
not answering is a ``TransientError`` (503, try again), never a pass. The secret is never logged.
"""
from __future__ import annotations

import logging
from typing import Any

from shared.errors import TransientError

log = logging.getLogger("bookbridge.turnstile")

SITEVERIFY_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
MAX_TOKEN_LENGTH = 2048
TIMEOUT_SECONDS = 5


class TurnstileVerifier:
    """``verify(token, remote_ip) -> bool`` against ``url`` (Cloudflare's, or a local stand-in)."""

    def __init__(self, secret: str, session: Any, url: str = SITEVERIFY_URL) -> None:
        self._secret, self._session, self._url = secret, session, url or SITEVERIFY_URL

    def verify(self, token: str | None, remote_ip: str | None = None) -> bool:
        """True only when Cloudflare says this token is a fresh pass for our secret."""
        import requests

        if not token or len(token) > MAX_TOKEN_LENGTH:
            return False
        form = {"secret": self._secret, "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        try:
            resp = self._session.post(self._url, data=form, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            raise TransientError(f"the human check could not be verified ({type(exc).__name__})",
                                 retry_after=5) from None
        if resp.status_code >= 500:
            raise TransientError("the human check could not be verified", retry_after=5)
        try:
            body = resp.json()
        except ValueError:
            return False
        ok = isinstance(body, dict) and body.get("success") is True
        if not ok:
            codes = body.get("error-codes") if isinstance(body, dict) else None
            log.info("human check refused: %s", ",".join(str(c) for c in codes or []) or "no reason")
        return ok
