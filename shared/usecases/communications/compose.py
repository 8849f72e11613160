"""Rendering a message from the booking's current state: text, HTML and (unless Outlook invited the
invitee) our .ics."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from shared.domain import google_events
from shared.domain.host_notices import Notice, NoticeCause, booking_notice
from shared.domain.model import ConnectionKind
from shared.errors import DeliveryRejected
from shared.ports import parse_iso_utc
from shared.repositories import workspaces as workspaces_repo
from shared.repositories.bookings import Booking
from shared.repositories.connection_reads import get_connection_row
from shared.usecases.communications.decide import (
    INVITEE_UPDATES,
    OUTLOOK_CHANGE_SUFFIXES,
    Send,
    graph_invited,
    link_of,
)
from shared.usecases.communications.deps import CommsDeps, Job
from shared.usecases.communications.sent_records import SENT, idempotency_key, link_fingerprint


@dataclass
class Mail:
    """A rendered message ready for the transport, plus what its sent-record keeps."""

    message: Any
    link_sha: str = ""
    ics_method: str = ""


def manage_url(deps: CommsDeps, b: Booking) -> str:
    """``{PUBLIC_BASE_URL}/api/manage/{id}?token={manage token}``: the invitee's manage page (rule 30)."""
    from shared.usecases.booking import manage_token

    token = manage_token(deps.signer, b)
    base = (deps.public_base_url or "").rstrip("/")
    return f"{base}/api/manage/{quote(b.id, safe='')}?token={quote(token, safe='')}"


def instant(value: Any) -> datetime | None:
    """An optional stored instant (``None`` when absent or unreadable)."""
    try:
        return parse_iso_utc(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def compose(job: Job, send: Send, b: Booking) -> Mail:
    """The message ``send`` asks for (to the invitee, or to the host for a host notice)."""
    from shared.mail.message import OutgoingMessage
    from shared.mail.templates import render

    host_row = workspaces_repo.get_user(job.deps.store, b.workspace, b.host) or {}
    view = _view(job, send, b, host_row)
    key = idempotency_key(b.workspace, b.id, send.row_key)
    headers = {"X-Bookbridge-Kind": send.kind}
    if send.to_host:
        to = str(host_row.get("email") or "")
        if not to:
            raise DeliveryRejected("the host has no email address", code="no_recipient")
        rendered = render("host_notice", host_notice_view(job.deps, b, view),
                          recipient_name=str(host_row.get("name") or "") or None)
        message = OutgoingMessage(to=to, to_name=str(host_row.get("name") or "") or None,
                                  subject=rendered.subject, text=rendered.text, html=rendered.html,
                                  headers=headers, idempotency_key=key)
        return Mail(message)

    link = link_of(b)
    method = ics_method(job, send, b)
    rendered = render(send.kind, view, offset_minutes=job.msg.offset_minutes if send.kind == "reminder" else None,
                      invitation_attached=bool(method), invitation_by_outlook=graph_invited(b),
                      invitation_by_google=google_invites(job, b))
    attachments = [invitation(job, method, b, link, host_row)] if method else []
    message = OutgoingMessage(to=b.invitee_email, to_name=b.invitee_name, subject=rendered.subject,
                              text=rendered.text, html=rendered.html, attachments=attachments,
                              headers=headers, idempotency_key=key)
    carries_link = link if send.kind != "cancellation" else None
    return Mail(message, link_sha=link_fingerprint(carries_link), ics_method=method)


def host_notice_view(deps: CommsDeps, b: Booking, view: Any) -> Any:
    """``view`` with why the host must act and a notice link for the connection that fixes it (rule 21)."""
    from shared.usecases.connections.notice_links import notice_link_url

    teams = get_connection_row(deps.store, b.workspace, b.host, ConnectionKind.TEAMS.value)
    calendar = get_connection_row(deps.store, b.workspace, b.host, ConnectionKind.MICROSOFT_CALENDAR.value)
    notice = booking_notice(b.link_state, teams, calendar, calendar_sync_error=bool(b.graph_sync_error))
    if b.location == "google_meet":  # rule 28: the Meet link waits for the host's Google Calendar
        notice = Notice(NoticeCause.GOOGLE, ConnectionKind.GOOGLE_CALENDAR)
    url = notice_link_url(deps.signer, deps.public_base_url, b.workspace, b.host, notice.kind, deps.clock.now())
    return replace(view, reconnect_url=url, notice_cause=notice.cause.value)


def _view(job: Job, send: Send, b: Booking, host_row: Mapping[str, Any]) -> Any:
    """What the templates show."""
    from shared.mail.templates import BookingView

    host_names = [str(h.get("name") or h.get("user") or "") for h in b.hosts] or \
        [str(host_row.get("name") or b.host)]
    moved = send.kind == "reschedule"
    return BookingView(
        calendar_name=b.calendar_name or b.calendar_slug or "Meeting",
        host_names=host_names,
        invitee_name=b.invitee_name,
        invitee_email=b.invitee_email,
        invitee_timezone=b.invitee_timezone or b.calendar_timezone,
        start_utc=b.start_utc,
        end_utc=b.end_utc,
        meeting_url=link_of(b),
        meeting_label="Google Meet" if b.location == "google_meet" else "Microsoft Teams meeting",
        link_state=b.link_state,
        link_reason=_reason(send, b),
        manage_url=None if send.to_host or send.kind == "cancellation" else manage_url(job.deps, b),
        notes=b.notes,
        previous_start_utc=instant(b.extra.get("previous_start_utc")) if moved else None,
        previous_end_utc=instant(b.extra.get("previous_end_utc")) if moved else None,
        host_timezone=str(host_row.get("timezone") or "") or b.calendar_timezone,
        time_format=None if send.to_host else b.extra.get("invitee_time_format"),
        external_change=b.extra.get("external_change") if send.row_key.endswith(OUTLOOK_CHANGE_SUFFIXES) else None,
    )


def _reason(send: Send, b: Booking) -> str | None:
    return (b.link_reason or "").strip() or None if send.to_host else b.link_reason


def google_invites(job: Job, b: Booking) -> bool:
    """Rule 28: a Google member's Google Calendar invites the invitee (``sendUpdates=all``) while the host's
    ``google_calendar`` is connected: then no .ics of ours (one point read)."""
    if not google_events.wanted(b.as_row()):
        return False
    row = get_connection_row(job.deps.store, b.workspace, b.host, ConnectionKind.GOOGLE_CALENDAR.value)
    return str((row or {}).get("status") or "") == "connected"


def ics_method(job: Job, send: Send, b: Booking) -> str:
    """``REQUEST``/``CANCEL`` when this message carries our .ics, else ``""``.

    Our .ics goes out when Outlook did not invite the invitee (rule 8), and also whenever an .ics
    of ours was sent before (that event in the invitee's calendar must follow the changes).
    """
    if send.kind not in (*INVITEE_UPDATES, "cancellation"):
        return ""
    ours_before = any(r.get("ics") for r in job.rows if r.get("state") == SENT)
    if (graph_invited(b) or google_invites(job, b)) and not ours_before:
        return ""
    return "CANCEL" if send.kind == "cancellation" else "REQUEST"


def invitation(job: Job, method: str, b: Booking, link: str | None, host_row: Mapping[str, Any],
               attendee: tuple[str, str | None] | None = None, uid: str | None = None) -> Any:
    """Our .ics (``method`` REQUEST or CANCEL) as an attachment: to the invitee, or to ``attendee`` with the
    event's own ``uid`` (a co-host's, rule 20)."""
    from shared.mail.ics import booking_uid, build_invitation, invitation_attachment
    from shared.mail.message import parse_sender

    organizer_email = str(host_row.get("email") or "")
    organizer_name = str(host_row.get("name") or "") or None
    if not organizer_email:
        organizer_email, organizer_name = parse_sender(job.deps.mail_from)
    hosts = ", ".join(str(h.get("name") or "") for h in b.hosts if h.get("name"))
    summary = b.calendar_name or b.calendar_slug or "Meeting"
    description = f"{summary} with {hosts}." if hosts else summary
    if method == "CANCEL":
        description = f"Cancelled: {description}"
    ics = build_invitation(
        method=method,  # type: ignore[arg-type]
        uid=uid or booking_uid(b.id),
        sequence=max(0, int(b.revision)),
        start_utc=b.start_utc,
        end_utc=b.end_utc,
        summary=summary,
        organizer=(organizer_email, organizer_name),
        attendee=attendee or (b.invitee_email, b.invitee_name),
        dtstamp=job.deps.clock.now(),
        description=description,
        url=link if method == "REQUEST" else None,
    )
    return invitation_attachment(ics, method)  # type: ignore[arg-type]


def message_id(deps: CommsDeps, key: str | None) -> str:
    """The Message-ID header the transport derives from ``key`` (kept on the sent-record)."""
    from shared.mail.message import message_id_for, parse_sender

    try:
        domain = parse_sender(deps.mail_from)[0].rsplit("@", 1)[1]
    except DeliveryRejected:
        domain = "bookbridge"
    return message_id_for(key or "", domain)
