"""The cookie that binds a sign-in or consent flow to the browser that started it (issue 17).

Starting the flow (the POST of a connect or admin-consent link) sets ``bb_consent``: a random value,
HttpOnly, SameSite=Lax, Secure on https, scoped to ``/api/auth/`` (Microsoft's and Google's callbacks) and
as short-lived as the flow. The flow row keeps only its SHA-256. The callback refuses a flow whose browser
does not present the same value, so an authorize URL seen by someone else cannot be finished in their browser.
"""
from __future__ import annotations

import secrets
from http.cookies import CookieError, SimpleCookie

NAME = "bb_consent"
PATH = "/api/auth/"
MAX_AGE_SECONDS = 600  # the flow's own lifetime (AUTH_FLOW_TTL)


def new_value() -> str:
    """A fresh binding value."""
    return secrets.token_urlsafe(32)


def set_cookie_header(value: str, *, secure: bool) -> str:
    """The ``Set-Cookie`` header value of a binding."""
    parts = [f"{NAME}={value}", f"Path={PATH}", f"Max-Age={MAX_AGE_SECONDS}", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def read(cookie_header: str | None) -> str | None:
    """The binding a request's ``Cookie`` header carries, if any."""
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(NAME)
    value = morsel.value if morsel is not None else ""
    return value if 20 <= len(value) <= 100 and value.isascii() else None
