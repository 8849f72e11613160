"""What Microsoft's identity platform errors mean for a connection (pure; AADSTS codes, refresh failures,
callback errors). Reasons are written by us: Microsoft's descriptions can carry personal data."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# AADSTS codes (https://learn.microsoft.com/entra/identity-platform/reference-error-codes)
REAUTH_CODES = frozenset({70000, 70008, 700082, 50173, 50076, 50079, 50078, 50158, 53003, 700084})
"""Refresh failures the host fixes by signing in again (expired, revoked or MFA/CA-blocked grants)."""
CONSENT_CODES = frozenset({65001, 90093, 90094, 90095, 900941, 700016})
"""The app lacks consent (or is not in the tenant): an administrator may have to grant it."""
DECLINED_CODES = frozenset({65004})
"""The user declined consent."""
CLIENT_CONFIG_CODES = frozenset({7000215, 7000222, 7000218, 700025, 50011})
"""Our own app registration is wrong (bad/expired secret, redirect URI): not the host's problem."""

_REASONS = {
    70000: "the Microsoft grant is no longer valid",
    70008: "the Microsoft sign-in expired after a long period of inactivity",
    700082: "the Microsoft sign-in expired after a long period of inactivity",
    50173: "the Microsoft sign-in was revoked (for example after a password change)",
    50076: "the organisation now requires multi-factor authentication",
    50079: "the organisation now requires multi-factor authentication",
    50078: "the organisation now requires multi-factor authentication",
    50158: "the organisation requires an additional sign-in check",
    53003: "a conditional access policy blocked the connection",
    700084: "the Microsoft sign-in expired",
    65001: "the permissions were not granted (consent is missing or was withdrawn)",
    90093: "the permissions need an administrator's approval (user consent is not allowed for them)",
    90094: "the organisation requires an administrator to approve this app",
    900941: "an administrator's consent is required for the requested permissions",
    90095: "the organisation requires an administrator to approve this app",
    700016: "the app is not approved in the Microsoft organisation",
}


@dataclass(frozen=True)
class RefreshFailure:
    """How a failed refresh must be handled."""

    outcome: str
    """``needs_reauth`` (mark the connection), ``transient`` (retry later) or ``configuration``."""
    reason: str
    consent_required: bool = False


def aadsts_codes(error_description: str, error_codes: Any = ()) -> tuple[int, ...]:
    """The AADSTS codes of an error: the ``error_codes`` list, else those named in the description."""
    codes: list[int] = []
    for code in error_codes or ():
        try:
            codes.append(int(code))
        except (TypeError, ValueError):
            continue
    if not codes:
        codes = [int(m) for m in re.findall(r"AADSTS(\d{4,7})", error_description or "")]
    return tuple(dict.fromkeys(codes))


def _reason(error: str, codes: tuple[int, ...], fallback: str) -> str:
    text = next((_REASONS[c] for c in codes if c in _REASONS), fallback)
    label = error or "error"
    if codes:
        label += " (" + ", ".join(f"AADSTS{c}" for c in codes) + ")"
    return f"{label}: {text}"


def classify_refresh_failure(
    error: str | None, error_description: str = "", error_codes: Any = (), *, no_account: bool = False
) -> RefreshFailure:
    """What a failed silent refresh means for the connection.

    ``invalid_grant`` (AADSTS70000, 70008, 700082, 50173, ...) and missing consent (AADSTS65001, 90094)
    need the host to connect again (``needs_reauth``; consent ones offer the admin-consent link). Server
    and network failures are transient. A broken app registration (bad secret) is our configuration.
    Reasons are written by us (Microsoft's descriptions can carry personal data) and name the codes.
    """
    if no_account:
        return RefreshFailure("needs_reauth", "no_refresh_token: the stored sign-in holds no usable refresh token")
    err = (error or "").strip().lower()
    codes = aadsts_codes(error_description, error_codes)
    client_error = err in {"invalid_client", "unauthorized_client"} and not set(codes) & CONSENT_CODES
    if client_error or any(c in CLIENT_CONFIG_CODES for c in codes):
        return RefreshFailure("configuration", _reason(err, codes, "the app registration was refused by Microsoft"))
    if set(codes) & CONSENT_CODES or err == "consent_required":
        return RefreshFailure(
            "needs_reauth", _reason(err or "consent_required", codes, "consent is missing"), consent_required=True
        )
    if set(codes) & REAUTH_CODES or err in {"invalid_grant", "interaction_required", "login_required"}:
        return RefreshFailure("needs_reauth", _reason(err, codes, "the Microsoft sign-in is no longer valid"))
    if err in {"temporarily_unavailable", "server_error", "request_timeout", "slow_down"} or not err:
        return RefreshFailure("transient", _reason(err or "unavailable", codes, "Microsoft sign-in is unavailable"))
    return RefreshFailure("needs_reauth", _reason(err, codes, "Microsoft refused to renew the sign-in"))


@dataclass(frozen=True)
class CallbackError:
    """How an ``error`` returned to the sign-in callback is shown."""

    reason: str
    message: str
    admin_consent: bool = False


def classify_callback_error(error: str, error_description: str = "") -> CallbackError:
    """Microsoft's ``error`` / ``error_description`` on a callback, as a result the host understands."""
    err = (error or "").strip().lower()
    codes = aadsts_codes(error_description)
    if set(codes) & CONSENT_CODES or err == "consent_required":
        return CallbackError(
            "admin_consent_required",
            "Your organisation requires an administrator to approve bookbridge before you can connect. "
            "Ask your Microsoft 365 administrator to grant consent (your workspace administrator can create "
            "an admin-consent link for them), then connect again.",
            admin_consent=True,
        )
    if err == "access_denied" or set(codes) & DECLINED_CODES:
        return CallbackError(
            "access_denied",
            "The connection was cancelled: the permissions were not granted. Connect again and accept the "
            "requested permissions to continue.",
        )
    if err in {"temporarily_unavailable", "server_error"}:
        return CallbackError("temporarily_unavailable",
                             "Microsoft sign-in is temporarily unavailable. Try again shortly.")
    if err in {"interaction_required", "login_required"}:
        return CallbackError("sign_in_required", "Microsoft needs you to sign in again. Start the connection again.")
    return CallbackError("sign_in_failed", "Microsoft could not complete the sign-in. Start the connection again.")
