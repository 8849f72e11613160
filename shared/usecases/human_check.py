"""The optional human check of booking intake (rule 29): verified server-side before anything is stored,
and the booking form's quiet signals (a trap field people never see, and how long the form was open).

``HumanCheck`` is the port (Cloudflare Turnstile today, ``shared/adapters/turnstile.py``; hCaptcha's
siteverify has the same shape and can follow). With no check configured, intake does not ask for one.
"""
from __future__ import annotations

import logging

from shared.errors import ValidationError
from shared.ports import HumanCheck

FIELD = "human_check_token"
PROVIDER = "turnstile"
MIN_FILL_MS = 2000
"""A person needs longer than this from seeing the form to sending it (the page and widget measure it)."""
QUIET_REASON = "the booking could not be accepted; check your details and try again"

log = logging.getLogger("bookbridge.intake")


def require_human(check: HumanCheck | None, token: str | None, remote_ip: str | None) -> None:
    """Nothing when no check is configured or the token passes; a 422 naming the field otherwise."""
    if check is None:
        return
    if not token:
        raise ValidationError(FIELD, "the human check is required: complete the challenge and send its token")
    if not check.verify(token, remote_ip):
        raise ValidationError(FIELD, "the human check did not pass; complete the challenge again")


def challenge(secret: str | None, site_key: str | None) -> dict[str, str] | None:
    """What the booking page and widget render (``human_check`` of the slots answer): the provider and its
    public site key, when intake verifies tokens (``TURNSTILE_SECRET_KEY``) and the site key is set."""
    if not secret or not site_key:
        return None
    return {"provider": PROVIDER, "site_key": site_key, "field": FIELD}


def check_form_signals(website: str | None, fill_ms: int | None, min_fill_ms: int = MIN_FILL_MS) -> None:
    """Refuse, without saying why, a form whose trap field was filled in or that was sent too fast.

    Both signals come only from the booking page and widget; an API client that sends neither is
    governed by the rate limits and the human check instead.
    """
    if website:
        log.info("booking form refused: trap field filled")
        raise ValidationError("body", QUIET_REASON)
    if fill_ms is not None and fill_ms < min_fill_ms:
        log.info("booking form refused: sent %d ms after it was shown", fill_ms)
        raise ValidationError("body", QUIET_REASON)
