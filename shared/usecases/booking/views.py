"""What the invitee sees of a booking, and the manage token that points to it."""
from __future__ import annotations

import logging
from typing import Any

from shared.domain.model import (
    BookingStatus,
    LinkState,
)
from shared.errors import (
    NotFound,
)
from shared.ports import Signer, iso_utc
from shared.repositories import bookings as repo
from shared.repositories.bookings import Booking
from shared.usecases.booking.deps import BOOKING_ID_PATTERN, MANAGE_PURPOSE, BookingDeps

log = logging.getLogger("bookbridge.booking")


def manage_token(signer: Signer, b: Booking) -> str:
    """The invitee's manage token: signed ``{ws, host, id}`` so GET/cancel/reschedule are point reads."""
    return signer.sign(MANAGE_PURPOSE, {"ws": b.workspace, "host": b.host, "id": b.id})


def summary_of(b: Booking) -> dict[str, Any]:
    """The fields every booking body starts with: which booking, its status and its time."""
    return {
        "id": b.id,
        "status": b.status,
        "start": iso_utc(b.start_utc),
        "end": iso_utc(b.end_utc),
        "timezone": b.calendar_timezone,
    }


def booking_view(b: Booking) -> dict[str, Any]:
    """What the manage-token holder sees (no join link once cancelled)."""
    shows_link = (b.status == BookingStatus.CONFIRMED.value
                  and b.link_state in (LinkState.CREATED.value, LinkState.STATIC.value))
    return {
        **summary_of(b),
        "calendar": {"slug": b.calendar_slug, "name": b.calendar_name, "type": b.calendar_type},
        "hosts": b.hosts,
        "invitee": {"name": b.invitee_name, "email": b.invitee_email, "timezone": b.invitee_timezone},
        "notes": b.notes,
        "link_status": b.link_state,
        "link_reason": b.link_reason,
        "meeting_url": b.meeting_url if shows_link else None,
        "revision": b.revision,
        "delivery_error": b.extra.get("delivery_error"),
        "created_at": b.created_at,
        "updated_at": b.updated_at,
    }


def created_body(deps: BookingDeps, b: Booking) -> dict[str, Any]:
    """The 201 body of an intake (the manage token is handed out only here)."""
    return {
        **summary_of(b),
        "calendar": {"slug": b.calendar_slug, "name": b.calendar_name},
        "hosts": b.hosts,
        "link_status": b.link_state,
        "meeting_url": b.meeting_url if b.link_state == LinkState.STATIC.value else None,
        "manage_token": manage_token(deps.signer, b),
    }


def load_booking(deps: BookingDeps, booking_id: str, token: str | None) -> Booking:
    """The booking a manage token points to; ``NotFound`` for any mismatch (never a hint)."""
    payload = deps.signer.verify(MANAGE_PURPOSE, token or "") if token else None
    if (
        not payload
        or not isinstance(booking_id, str)
        or not BOOKING_ID_PATTERN.match(booking_id)
        or payload.get("id") != booking_id
        or not isinstance(payload.get("ws"), str)
        or not isinstance(payload.get("host"), str)
    ):
        raise NotFound("no such booking")
    b = repo.get_booking(deps.store, payload["ws"], payload["host"], booking_id)
    if b is None:
        raise NotFound("no such booking")
    return b
