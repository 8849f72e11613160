"""Webhooks, purely: the event types, the signature, ids, what a URL and an address may be, which link event a
booking write announces, and when a failed delivery is tried again.

The signature is Stripe's scheme under our header name (``docs/webhooks.md``)::

    Bookbridge-Signature: t=<unix seconds>,v1=<hex of HMAC-SHA256(secret, "<t>." + raw body)>
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from shared.domain.backoff import default_backoff

SIGNATURE_HEADER = "Bookbridge-Signature"
EVENT_TYPES: tuple[str, ...] = (
    "booking.created", "booking.rescheduled", "booking.cancelled",
    "meeting_link.created", "meeting_link.changed", "meeting_link.failed",
    "connection.connected", "connection.needs_reauth", "connection.disconnected",
)
MAX_WEBHOOKS_PER_WORKSPACE = 10
MAX_URL_LENGTH = 2048
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 200
#: A delivery is tried again with back-off for this long after its first attempt, then recorded ``failed``.
RETRY_WINDOW = timedelta(hours=24)
FIRST_RETRY_SECONDS = 10.0
MAX_RETRY_SECONDS = 3600.0
#: How old a signature's timestamp may be when verified (the documented snippet uses the same default).
DEFAULT_TOLERANCE_SECONDS = 300


# ------------------------------------------------------------------------------ signature
def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>." + body`` under ``secret``."""
    signed = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Bookbridge-Signature`` value: ``t=<timestamp>,v1=<signature>``."""
    return f"t={int(timestamp)},v1={signature(secret, timestamp, body)}"


def verify_signature(header: str, secret: str, body: bytes, now: int,
                     tolerance: int = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """True when ``header`` holds a ``v1`` signature of ``body`` under ``secret`` made at most ``tolerance``
    seconds from ``now`` (what a receiver checks; ``docs/webhooks.md`` shows the same in a standalone snippet)."""
    parts: dict[str, list[str]] = {}
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    stamps = parts.get("t") or []
    if len(stamps) != 1 or not stamps[0].isdigit() or abs(now - int(stamps[0])) > tolerance:
        return False
    expected = signature(secret, int(stamps[0]), body)
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))


# ------------------------------------------------------------------------------ ids
def event_id(event_type: str, workspace: str, subject: str, key: str) -> str:
    """The id of an event: the same facts (type, workspace, subject, what changed) give the same id, so an
    event emitted twice (a retried write, a redelivered message) is delivered once per webhook."""
    digest = hashlib.sha256(f"{event_type}|{workspace}|{subject}|{key}".encode()).hexdigest()
    return f"evt_{digest[:32]}"


def delivery_id(event: str, webhook: str) -> str:
    """The id of one event's delivery to one webhook (unique per pair, stable across redeliveries)."""
    return "dlv_" + hashlib.sha256(f"{event}|{webhook}".encode()).hexdigest()[:32]


# ------------------------------------------------------------------------------ what may be stored
def url_problem(url: Any, *, local_development: bool) -> str | None:
    """Why ``url`` cannot receive webhooks, or ``None``: an absolute ``https`` URL (``http`` too in local
    development) with a host, no credentials, no fragment, at most ``MAX_URL_LENGTH`` characters."""
    if not isinstance(url, str) or not url:
        return "must be an absolute https URL"
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "must be an absolute https URL"
    schemes = ("https", "http") if local_development else ("https",)
    if parts.scheme.lower() not in schemes or not parts.hostname:
        return "must be an absolute https URL" + (" (or http in local development)" if local_development else "")
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials"
    if parts.fragment:
        return "must not contain a fragment"
    if not local_development and literal_address_refused(parts.hostname):
        return "must not point at a loopback, private or reserved address"
    return None


def literal_address_refused(host: str) -> bool:
    """True when ``host`` is an IP literal that :func:`address_allowed` refuses outside local development
    (or ``localhost``)."""
    if host.lower().rstrip(".") == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address_allowed(host.strip("[]"), local_development=False)


def address_allowed(address: str, *, local_development: bool) -> bool:
    """True when a delivery may connect to ``address``: any in local development; otherwise only a global
    unicast address (never loopback, private, link-local, shared, reserved or multicast: SSRF)."""
    if local_development:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not ip.is_multicast


def events_problem(events: Any) -> str | None:
    """Why ``events`` is not a valid subscription list, or ``None``."""
    if not isinstance(events, list | tuple) or not events:
        return "must be a non-empty list of event types"
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        return f"unknown event type {unknown[0]!r}; one of " + ", ".join(EVENT_TYPES)
    return None


# ------------------------------------------------------------------------------ link events
def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def link_event_for(before: Any, after: Any) -> tuple[str, str] | None:
    """``(event type, key)`` announced by one write of a booking from ``before`` to ``after`` (mappings or
    objects with the booking entity's field names), or ``None``.

    A meeting URL appearing is ``meeting_link.created`` (``meeting_link.changed`` when the meeting was made
    again under another organizer, or when one URL replaces another); the link state becoming ``failed`` is
    ``meeting_link.failed``. The key is the URL (or the failure's revision and reason), so the same change
    written twice is one event.
    """
    old_url, new_url = _field(before, "meeting_url") or "", _field(after, "meeting_url") or ""
    if new_url and new_url != old_url:
        generation = _field(after, "meeting_generation")
        replaced = bool(old_url) or (isinstance(generation, int) and generation > 0)
        return ("meeting_link.changed" if replaced else "meeting_link.created"), str(new_url)
    if _field(after, "link_state") == "failed" and _field(before, "link_state") != "failed":
        reason = str(_field(after, "link_reason") or "")
        return "meeting_link.failed", f"{_field(after, 'revision') or 0}|{hashlib.sha256(reason.encode()).hexdigest()}"
    return None


# ------------------------------------------------------------------------------ retries
def retry_delay(first_attempt_at: datetime, now: datetime, attempt: int, *,
                uniform: Callable[[float, float], float] = random.uniform) -> int | None:
    """Seconds until attempt ``attempt + 1`` after attempt ``attempt`` failed at ``now``; ``None`` once the
    24-hour window since ``first_attempt_at`` is over (the delivery is then ``failed``). The last attempt is
    made at the window's end."""
    left = (first_attempt_at + RETRY_WINDOW - now).total_seconds()
    if left <= 0:
        return None
    wait = default_backoff(attempt, first=FIRST_RETRY_SECONDS, cap=MAX_RETRY_SECONDS, uniform=uniform)
    return max(1, int(min(wait, left)) or 1)
