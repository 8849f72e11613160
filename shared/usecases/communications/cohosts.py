"""The co-hosts' e-mailed .ics (rule 20's last fallback): a co-host of a collective booking without a connected
calendar of their provider is recorded ``emailed`` by the reconciler (``shared.domain.participants``), whose
outbox puts one ``cohost_invite`` message per change. This worker then sends each such co-host the booking's
current times and link as an .ics REQUEST (UID per booking and co-host, SEQUENCE = the booking's revision), and a
cancelled booking's CANCEL to every co-host a REQUEST went to. One sent-record per co-host and change, claimed as
every message is: ``cohost_invite|{revision}|{user key}|{link key}`` and ``cohost_cancel|{user key}`` (the user
key is a hash: row keys and logs carry no personal data)."""
from __future__ import annotations

from shared.domain import participants as participant_rules
from shared.errors import DeliveryRejected
from shared.ports import Entity
from shared.repositories import workspaces as workspaces_repo
from shared.repositories.bookings import Booking
from shared.usecases.communications.compose import Mail, invitation
from shared.usecases.communications.decide import Send, is_cancelled, link_of
from shared.usecases.communications.deps import Job
from shared.usecases.communications.sent_records import SENT, idempotency_key, link_fingerprint, sent_rk

INVITE, CANCEL = participant_rules.COHOST_INVITE, "cohost_cancel"


def user_key(user: str) -> str:
    """The co-host's part of a row key and of the event's UID (a hash of the user id)."""
    return link_fingerprint(f"user|{user}")[:12]


def _invited(rows: list[Entity], key: str) -> bool:
    return any(r.get("state") == SENT and str(r.get("RowKey", "")).startswith(f"{INVITE}|")
               and str(r["RowKey"]).split("|")[2:3] == [key] for r in rows)


def invitee_rows(rows: list[Entity]) -> list[Entity]:
    """The sent-records of the invitee's and the host's messages (the co-hosts' left out)."""
    return [r for r in rows if not str(r.get("RowKey", "")).startswith((f"{INVITE}|", f"{CANCEL}|"))]


def cohost_sends(b: Booking, rows: list[Entity]) -> list[Send]:
    """What the co-hosts are e-mailed now: the current invitation to each ``emailed`` co-host, or, for a
    cancelled booking, the CANCEL to each co-host an invitation went to."""
    recorded = participant_rules.records(b.participants_json)
    link = link_of(b)
    out: list[Send] = []
    for user in participant_rules.cohosts(b.as_row()):
        key = user_key(user)
        if is_cancelled(b):
            if _invited(rows, key):
                out.append(Send(CANCEL, f"{CANCEL}|{key}", cohost=user))
        elif link and recorded.get(user, participant_rules.Participant()).event == participant_rules.EMAILED:
            out.append(Send(INVITE, sent_rk(INVITE, b.revision, f"{key}|{link_fingerprint(link)[:12]}"), cohost=user))
    return out


def compose_cohost(job: Job, send: Send, b: Booking) -> Mail:
    """The co-host's e-mail (to their ``users`` e-mail) with the .ics REQUEST or CANCEL."""
    from shared.mail.cohost_texts import cohost_text
    from shared.mail.ics import booking_uid
    from shared.mail.message import OutgoingMessage

    store = job.deps.store
    cohost_row = workspaces_repo.get_user(store, b.workspace, send.cohost) or {}
    to, name = str(cohost_row.get("email") or ""), str(cohost_row.get("name") or "") or None
    if not to:
        raise DeliveryRejected("the co-host has no email address", code="no_recipient")
    host_row = workspaces_repo.get_user(store, b.workspace, b.host) or {}
    method, link = ("CANCEL", None) if send.kind == CANCEL else ("REQUEST", link_of(b))
    text = cohost_text(cancelled=method == "CANCEL", calendar_name=b.calendar_name or b.calendar_slug or "Meeting",
                       organizer=str(host_row.get("name") or b.host), invitee=b.invitee_name,
                       start_utc=b.start_utc, end_utc=b.end_utc,
                       timezone=str(cohost_row.get("timezone") or "") or b.calendar_timezone, link=link)
    attachment = invitation(job, method, b, link, host_row, attendee=(to, name),
                            uid=booking_uid(f"{b.id}.{user_key(send.cohost)}"))
    message = OutgoingMessage(to=to, to_name=name, subject=text.subject, text=text.text, attachments=[attachment],
                              headers={"X-Bookbridge-Kind": send.kind},
                              idempotency_key=idempotency_key(b.workspace, b.id, send.row_key))
    return Mail(message, link_sha=link_fingerprint(link), ics_method=method)


__all__ = ["CANCEL", "INVITE", "cohost_sends", "compose_cohost", "invitee_rows", "user_key"]
