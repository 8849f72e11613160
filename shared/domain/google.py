"""Google's side of a ``google_calendar`` connection, pure: scopes, the account an id token names, what a
failed refresh means, and free/busy answers (rule 28). No I/O, no SDK imports.

A Google account is identified by its id token's ``sub`` (stable, never reused) under the issuer; it is
stored in the connection's ``account_oid`` with ``account_tid`` = :data:`GOOGLE_ACCOUNT_TENANT`, so the
connection entity and its views stay one shape for every kind.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.domain.availability import BusyBlock
from shared.domain.connections import AccountCheck, MicrosoftAccount, RefreshFailure
from shared.domain.model import SCOPES, ConnectionKind

#: What every Google sign-in asks besides the kind's scopes: the id token (``openid``) with the address.
SIGN_IN_SCOPES = ("openid", "email")
ISSUERS = ("https://accounts.google.com", "accounts.google.com")
#: ``account_tid`` of a Google account on a connection (Google has no tenants).
GOOGLE_ACCOUNT_TENANT = "google"
#: The account's primary calendar, as Calendar v3 names it.
PRIMARY = "primary"


def scopes() -> list[str]:
    """The scopes a ``google_calendar`` sign-in asks for (the id token's, then free/busy and events)."""
    return [*SIGN_IN_SCOPES, *SCOPES[ConnectionKind.GOOGLE_CALENDAR]]


def missing_scopes(granted: Any) -> list[str]:
    """The kind's scopes Google did not grant (a person may untick one on Google's consent screen)."""
    have = {str(s) for s in (granted or ())}
    return [s for s in SCOPES[ConnectionKind.GOOGLE_CALENDAR] if s not in have]


MISSING_SCOPES_MESSAGE = ("Google did not grant every permission bookbridge needs (see your availability, "
                          "add and change the events of bookings). Connect again and leave both boxes ticked "
                          "on Google's consent screen.")


def check_account(claims: Mapping[str, Any], client_id: str, now: float | None = None) -> AccountCheck:
    """The account of a Google id token's claims (issuer, audience, expiry and ``sub`` checked)."""
    iss, aud, sub = str(claims.get("iss") or ""), claims.get("aud"), str(claims.get("sub") or "").strip()
    audiences = aud if isinstance(aud, list) else [aud]
    exp = claims.get("exp")
    moment = time.time() if now is None else now
    if iss not in ISSUERS or client_id not in audiences or not isinstance(exp, (int, float)) or exp <= moment:
        return AccountCheck(None, "id_token_invalid", "Google's answer could not be verified. Start again.")
    if not sub:
        return AccountCheck(None, "account_incomplete", "Google did not identify the account.")
    email = str(claims.get("email") or "")[:256]
    return AccountCheck(MicrosoftAccount(oid=sub, tid=GOOGLE_ACCOUNT_TENANT, upn=email,
                                         display_name=str(claims.get("name") or "")[:256]))


def classify_refresh_failure(error: str | None, status: int | None = None) -> RefreshFailure:
    """What a failed refresh at Google's token endpoint means ("Using OAuth 2.0 for Web Server Applications":
    ``invalid_grant`` is a refresh token expired or revoked: the host connects again)."""
    err = (error or "").strip().lower()
    if err == "invalid_grant":
        return RefreshFailure("needs_reauth", "invalid_grant: the Google sign-in was revoked or expired")
    if err in {"invalid_client", "unauthorized_client"}:
        return RefreshFailure("configuration", f"{err}: Google refused the app's client credentials")
    if not err or err in {"temporarily_unavailable", "server_error"} or (status or 0) >= 500:
        return RefreshFailure("transient", f"{err or 'unavailable'}: Google sign-in is unavailable")
    return RefreshFailure("needs_reauth", f"{err}: Google refused to renew the sign-in")


def _instant(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def rfc3339(value: datetime) -> str:
    """An instant as Calendar v3 takes it (``2026-11-24T09:00:00Z``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def free_busy_request(start: datetime, end: datetime) -> dict[str, Any]:
    """The body of ``freeBusy.query`` for the account's primary calendar."""
    return {"timeMin": rfc3339(start), "timeMax": rfc3339(end), "items": [{"id": PRIMARY}]}


def busy_blocks(answer: Mapping[str, Any]) -> list[BusyBlock] | str:
    """The primary calendar's busy periods of a ``freeBusy.query`` answer, or why there are none (Google
    answers 200 with ``errors`` on a calendar it could not read: the member is then unreadable)."""
    calendars = answer.get("calendars") if isinstance(answer, Mapping) else None
    entry = calendars.get(PRIMARY) if isinstance(calendars, Mapping) else None
    if not isinstance(entry, Mapping):
        return "Google's free/busy answer named no calendar"
    errors = entry.get("errors") or []
    if errors:
        reasons = ", ".join(str(e.get("reason") or "unknown") for e in errors if isinstance(e, Mapping))
        return f"Google could not read the calendar's free/busy ({reasons or 'unknown'})"
    try:
        return [BusyBlock(_instant(b["start"]), _instant(b["end"]), "busy") for b in entry.get("busy") or []]
    except (KeyError, TypeError, ValueError):
        return "Google's free/busy answer could not be read"
