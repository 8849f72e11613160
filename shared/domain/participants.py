"""Collective co-hosts (rule 20), pure: what each participant's own calendar event needs.

The first member of a collective booking (the booking's ``host``) organizes its meeting; every other member
(a *co-host*) gets the booking's event in their own calendar, written with their own calendar connection: a
member whose ``calendar_provider`` is ``google`` in their Google calendar (``google_calendar`` connection, the
event id derived from booking + user, ``sendUpdates=none``), any other in their linked Outlook calendar
(``microsoft_calendar``). No attendees (the invitee's invitation is the organizer's), the same link as the booking,
moved and cancelled with it. What was done per co-host is recorded on the booking as ``participants_json`` =
``{user: {provider, event, event_id, calendar_id, revision, link, error}}`` (intake records ``provider`` =
``google`` for a Google co-host; absent = ``microsoft``: the provider the event is, or will be, written to):

* ``event``: ``written`` (at ``revision``, carrying ``link``), ``retrying`` (a transient failure; the booking's
  ``next_attempt_at`` retries it), ``failed`` (a person must act: reconnect the calendar, or Graph refused),
  ``cancelled`` (the booking was cancelled and the event removed), ``emailed`` (no connected calendar of the
  co-host's provider: the booking went to the co-host's e-mail as an .ics at ``revision`` with ``link``, sent once
  per change by the communications worker, kind ``cohost_invite``); absent = ``none`` (nothing yet, e.g. no link).

:func:`steps` compares a co-host's record with the booking and the co-host's calendar connection and names what
to do, in order; the use case (``shared.usecases.reconcile.participants``) runs it.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from shared.domain.meeting_plan import IDEMPOTENCY_NAMESPACE, ConnectionView
from shared.domain.model import BookingStatus, ConnectionKind, LinkState

WRITTEN, RETRYING, FAILED, CANCELLED, NONE = "written", "retrying", "failed", "cancelled", "none"
EMAILED = "emailed"
#: The ``communications`` kind that e-mails the co-hosts without a calendar their .ics (REQUEST or CANCEL).
COHOST_INVITE = "cohost_invite"
MICROSOFT, GOOGLE = "microsoft", "google"
#: The connection a co-host's event is written with, per provider.
CONNECTION_KIND = {MICROSOFT: ConnectionKind.MICROSOFT_CALENDAR.value, GOOGLE: ConnectionKind.GOOGLE_CALENDAR.value}


class Step(str, Enum):
    """One call towards a co-host's desired event."""

    CREATE = "create"    # write the event (with the booking's current times and link)
    TIMES = "times"      # move it to the booking's current times
    LINK = "link"        # give it the booking's current link
    CANCEL = "cancel"    # remove it: the booking was cancelled
    EMAIL = "email"      # no calendar: e-mail the current times and link as an .ics REQUEST
    EMAIL_CANCEL = "email_cancel"  # the e-mailed event's CANCEL .ics


@dataclass(frozen=True)
class Participant:
    """What is recorded of one co-host's event."""

    event: str = NONE
    event_id: str = ""
    calendar_id: str = ""
    revision: int = -1
    link: str = ""
    error: str = ""
    provider: str = MICROSOFT

    @classmethod
    def from_value(cls, value: Any) -> Participant:
        if not isinstance(value, Mapping):
            return cls()
        rev = value.get("revision")
        return cls(event=str(value.get("event") or NONE), event_id=str(value.get("event_id") or ""),
                   calendar_id=str(value.get("calendar_id") or ""),
                   revision=rev if isinstance(rev, int) and not isinstance(rev, bool) else -1,
                   link=str(value.get("link") or ""), error=str(value.get("error") or ""),
                   provider=GOOGLE if value.get("provider") == GOOGLE else MICROSOFT)

    def as_value(self) -> dict[str, Any]:
        """The stored form (empty fields and the default provider left out)."""
        return {k: v for k, v in asdict(self).items() if v not in ("", -1) and (k, v) != ("provider", MICROSOFT)}

    @property
    def connection_kind(self) -> str:
        """The co-host's connection this record's event is written with."""
        return CONNECTION_KIND[self.provider]

    def failing(self, state: str, error: str) -> Participant:
        """This record after a failure (``retrying`` or ``failed``) with its reason."""
        return replace(self, event=state, error=error[:300])


def records(participants_json: Any) -> dict[str, Participant]:
    """The recorded co-hosts (``{}`` for nothing or something unreadable)."""
    try:
        parsed = json.loads(str(participants_json or "{}"))
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {str(user): Participant.from_value(value) for user, value in parsed.items()}


def planned(google_users: list[str]) -> str | None:
    """The ``participants_json`` intake stores: the Google co-hosts' provider (``None``: nothing to record)."""
    if not google_users:
        return None
    return json.dumps({u: Participant(provider=GOOGLE).as_value() for u in google_users}, separators=(",", ":"),
                      sort_keys=True)


def with_record(participants_json: Any, user: str, record: Participant) -> str:
    """``participants_json`` with ``user``'s record replaced."""
    current = {u: p.as_value() for u, p in records(participants_json).items()}
    current[user] = record.as_value()
    return json.dumps(current, separators=(",", ":"), sort_keys=True)


def transaction_id(workspace: str, booking_id: str, user: str) -> str:
    """The ``transactionId`` of a co-host's event (the same for every attempt: a retried POST is one event)."""
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"event|{workspace}|{booking_id}|cohost|{user}"))


def cohosts(booking: Mapping[str, Any]) -> list[str]:
    """Every member of the booking but its organizer (``host``), in the booking's order."""
    try:
        hosts = json.loads(str(booking.get("hosts_json") or "[]"))
    except ValueError:
        return []
    primary = str(booking.get("host") or "")
    users = [str(h.get("user") or "") for h in hosts if isinstance(h, Mapping)] if isinstance(hosts, list) else []
    return [u for u in users if u and u != primary]


def current_link(booking: Mapping[str, Any]) -> str:
    """The link the co-hosts' events carry: the booking's, once it has one ('' otherwise)."""
    state = str(booking.get("link_state") or "")
    if state in (LinkState.CREATED.value, LinkState.STATIC.value):
        return str(booking.get("meeting_url") or "")
    return ""


def _revision(booking: Mapping[str, Any]) -> int:
    value = booking.get("revision")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _upcoming(booking: Mapping[str, Any], now: datetime) -> bool:
    try:
        start = datetime.fromisoformat(str(booking.get("start_utc") or "").replace("Z", "+00:00"))
    except ValueError:
        return False
    return start.tzinfo is not None and start.astimezone(UTC) > now


def steps(booking: Mapping[str, Any], record: Participant, calendar: ConnectionView | None,
          now: datetime) -> tuple[Step, ...]:
    """What ``record``'s co-host needs now (empty: nothing). ``calendar``: the co-host's own connection of
    ``record.connection_kind`` (``None``: none). A co-host without a connected calendar and without an
    event is e-mailed the booking once it has its link (again for each change); one whose event exists is acted
    on (a broken connection is recorded then); a connected calendar takes over from the e-mail."""
    if str(booking.get("status") or "") == BookingStatus.CANCELLED.value:
        if record.event_id and record.event != CANCELLED:
            return (Step.CANCEL,)
        return (Step.EMAIL_CANCEL,) if record.event == EMAILED else ()
    if not _upcoming(booking, now):
        return ()
    if not record.event_id:
        if calendar is not None and calendar.connected:
            return (Step.CREATE,)
        return (Step.EMAIL,) if _email_behind(booking, record) else ()
    out: list[Step] = []
    if record.revision < _revision(booking):
        out.append(Step.TIMES)
    link = current_link(booking)
    if link and record.link != link:  # a link made later (backfill, retry) or a new one (rule 18)
        out.append(Step.LINK)
    return tuple(out)


def _email_behind(booking: Mapping[str, Any], record: Participant) -> bool:
    """True when a co-host without a calendar lacks the booking's current times or link by e-mail."""
    link = current_link(booking)
    if not link or record.event == FAILED:  # a failed record waits for its reconnect (a person acts)
        return False
    return record.event != EMAILED or record.revision < _revision(booking) or record.link != link


def needs_work(booking: Mapping[str, Any], calendars: Mapping[str, ConnectionView | None] | None,
               now: datetime) -> bool:
    """True when a co-host's event is behind. With ``calendars`` (the co-hosts' calendar connections) the
    connections decide too; without (a caller that did not read them) only what is recorded: an event behind
    the booking, or a co-host waiting for a retry."""
    recs = records(booking.get("participants_json"))
    for user in cohosts(booking):
        record = recs.get(user, Participant())
        if calendars is None:
            if record.event == RETRYING or ((record.event_id or record.event == EMAILED)
                                            and steps(booking, record, None, now)):
                return True
        elif steps(booking, record, calendars.get(user), now):
            return True
    return False


def waiting(booking: Mapping[str, Any]) -> bool:
    """True when a co-host waits for a retry (the booking keeps its ``next_attempt_at`` for it)."""
    recs = records(booking.get("participants_json"))
    return any(recs.get(u, Participant()).event == RETRYING for u in cohosts(booking))


__all__ = ["CANCELLED", "COHOST_INVITE", "CONNECTION_KIND", "EMAILED", "FAILED", "GOOGLE", "MICROSOFT", "NONE",
           "Participant", "RETRYING", "Step", "WRITTEN", "cohosts", "current_link", "needs_work", "planned", "records",
           "steps", "transaction_id", "waiting", "with_record"]
