"""Which message a ``communications`` message sends, given the booking and its sent-records (pure)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain import reminders as reminder_rules
from shared.domain.model import BookingStatus, LinkState
from shared.ports import Entity, parse_iso_utc
from shared.repositories.bookings import Booking
from shared.usecases.communications.messages import CommsMessage
from shared.usecases.communications.sent_records import (
    CONFIRMATION_RK,
    SENDING,
    SENT,
    claim_age,
    link_fingerprint,
    rows_of,
    sent_rk,
)

#: Kinds sent to the invitee that carry the current link and times (and may carry the .ics REQUEST).
INVITEE_UPDATES = ("confirmation", "link_update", "reschedule")


@dataclass(frozen=True)
class Send:
    """Send ``kind`` (may differ from the message's kind), recorded as ``row_key``."""

    kind: str
    row_key: str
    to_host: bool = False
    cohost: str = ""  # a co-host's e-mailed .ics (rule 20): the co-host's user id


@dataclass(frozen=True)
class Skip:
    """Send nothing (``action`` is the outcome reported)."""

    reason: str
    action: str = "skipped"


@dataclass(frozen=True)
class Later:
    """Come back in ``delay`` seconds (``count_attempt``: as a retry)."""

    delay: int
    reason: str
    count_attempt: bool = False


def link_of(b: Booking) -> str | None:
    """The meeting link the messages show: the stored one, for ``created`` and ``static`` links."""
    if b.meeting_url and b.link_state in (LinkState.CREATED.value, LinkState.STATIC.value):
        return b.meeting_url
    return None


def graph_invited(b: Booking) -> bool:
    """True when Outlook (Graph) sent the invitee the invitation (rule 8): then no .ics of ours."""
    return b.extra.get("invitation_sent_by_graph") is True or b.invitation_channel == "outlook"


def is_cancelled(b: Booking) -> bool:
    """True for a cancelled booking."""
    return b.status == BookingStatus.CANCELLED.value


def decide(msg: CommsMessage, b: Booking, rows: list[Entity], now: datetime,
           stale_claim: timedelta) -> Send | Skip | Later:
    """What to do with ``msg`` given the booking and its sent-records."""
    if msg.kind == "cancellation":
        if not is_cancelled(b):
            return Skip("booking is not cancelled")
        if not rows_of(rows, "confirmation"):  # a confirmation comes first, or nothing
            confirming = fresh_claims(rows_of(rows, "confirmation", SENDING), now, stale_claim)
            if confirming:
                return Later(confirming, "confirmation being sent", count_attempt=True)
            return Skip("never confirmed: a cancellation alone would be the first message")
        return Send("cancellation", sent_rk("cancellation", msg.revision))
    if is_cancelled(b):
        return Skip("booking is cancelled")
    decider = {"confirmation": _confirmation, "link_update": _link_update, "reschedule": _reschedule,
               "host_notice": _host_notice}.get(msg.kind)
    if decider is not None:
        return decider(msg, b, rows, now, stale_claim)
    return _reminder(msg, b, now)


def _confirmation(msg: CommsMessage, b: Booking, rows: list[Entity], now: datetime,
                  stale_claim: timedelta) -> Send | Skip | Later:
    if b.link_state == LinkState.PENDING.value:
        return Skip("link pending: the meeting worker sends the confirmation")
    if rows_of(rows, "confirmation"):
        return Skip("confirmation already sent", "duplicate")
    return Send("confirmation", CONFIRMATION_RK)


def _reminder(msg: CommsMessage, b: Booking, now: datetime) -> Send | Skip | Later:
    assert msg.offset_minutes is not None and msg.due_at is not None
    if b.revision != msg.revision:
        return Skip("booking moved: reminders of the new revision replace this one")
    if reminder_rules.is_too_late(b.start_utc, now):
        return Skip("meeting already started")
    delay = reminder_rules.requeue_delay(parse_iso_utc(msg.due_at), now)
    if delay is not None:
        return Later(delay, "reminder not due yet")
    return Send("reminder", sent_rk("reminder", msg.revision, msg.offset_minutes))


def _link_update(msg: CommsMessage, b: Booking, rows: list[Entity], now: datetime,
                 stale_claim: timedelta) -> Send | Skip | Later:
    link = link_of(b)
    if not link:
        return Skip("no link to announce")
    if not rows_of(rows, "confirmation"):
        busy = fresh_claims(rows_of(rows, "confirmation", SENDING), now, stale_claim)
        if busy:
            return Later(busy, "confirmation being sent", count_attempt=True)
        return Send("confirmation", CONFIRMATION_RK)
    fingerprint = link_fingerprint(link)
    if any(r.get("link_sha") == fingerprint for r in rows if r.get("state") == SENT):
        return Skip("the invitee already has this link")
    return Send("link_update", sent_rk("link_update", msg.revision, fingerprint[:12]))


def _reschedule(msg: CommsMessage, b: Booking, rows: list[Entity], now: datetime,
                stale_claim: timedelta) -> Send | Skip | Later:
    if msg.revision < b.revision:
        return Skip("a newer change follows")
    confirmations = rows_of(rows, "confirmation")
    if not confirmations:
        if b.link_state == LinkState.PENDING.value:
            return Skip("link pending: the meeting worker's confirmation carries the new time")
        confirming = fresh_claims(rows_of(rows, "confirmation", SENDING), now, stale_claim)
        if confirming:
            return Later(confirming, "confirmation being sent", count_attempt=True)
        return Send("confirmation", CONFIRMATION_RK)
    if any(_int(r.get("booking_revision")) >= msg.revision for r in confirmations):
        return Skip("the confirmation already carried this time")
    return Send("reschedule", sent_rk("reschedule", msg.revision))


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


#: The sent-record suffix of a host notice about the host's change in Outlook, per ``external_change`` (rule 19).
OUTLOOK_CHANGES = {"deleted_in_outlook": "external_delete", "move_refused": "move_refused"}
OUTLOOK_CHANGE_SUFFIXES = tuple(f"|{suffix}" for suffix in OUTLOOK_CHANGES.values())


def _host_notice(msg: CommsMessage, b: Booking, rows: list[Entity], now: datetime,
                 stale_claim: timedelta) -> Send | Skip | Later:
    change = str(b.extra.get("external_change") or "")
    if change == "deleted_in_outlook":  # rule 19, external_delete: notify_host
        return Send("host_notice", sent_rk("host_notice", msg.revision, "external_delete"), to_host=True)
    if change == "move_refused":  # rule 19 with rule 13: told once per revision, then the link's notices again
        rk = sent_rk("host_notice", msg.revision, OUTLOOK_CHANGES[change])
        if not any(r.get("RowKey") == rk for r in rows_of(rows, "host_notice")):  # a stale claim is sent again
            return Send("host_notice", rk, to_host=True)
    if b.link_state not in (LinkState.AWAITING_CONNECTION.value, LinkState.FAILED.value):
        return Skip("the link problem is resolved")
    return Send("host_notice", sent_rk("host_notice", msg.revision, b.link_state), to_host=True)


def fresh_claims(claims: list[Entity], now: datetime, stale_claim: timedelta) -> int:
    """Seconds until the youngest of ``claims`` goes stale (0 when none is fresh)."""
    waits = []
    for claim in claims:
        age = claim_age(claim, now)
        if age < stale_claim:
            waits.append(int((stale_claim - age).total_seconds()) + 5)
    return max(waits, default=0)
