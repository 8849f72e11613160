"""Which Microsoft Graph calls a booking needs, and their request bodies. Pure: no I/O, no SDKs.

The meeting worker (``shared.usecases.meetings``) asks :func:`plan_create` what to do for a booking,
then sends the bodies built here through ``shared.adapters.graph_events``. Every property name and
enum value used below exists in ``graph-v1.0-subset.json`` (held by ``tests/graph_contract_check.py``).

Idempotency keys are derived from the booking, never from its revision, so that a retried or
redelivered create can never make a second Graph object:

- :func:`transaction_id` -> ``event.transactionId`` (Outlook de-duplicates a retried POST);
- :func:`external_id` -> ``externalId`` of ``POST /me/onlineMeetings/createOrGet`` (Teams returns
  the meeting already created for that id by the same organizer).

Times: events carry ``dateTimeTimeZone`` values named by the Windows zone of the calendar's IANA zone
(``Europe/Amsterdam`` -> ``W. Europe Standard Time``, CLDR windowsZones via ``shared.domain.graph_time``),
else ``UTC`` (rule 22: Graph refuses most IANA names). Online meetings take ``Edm.DateTimeOffset`` instants
in UTC.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from shared.domain import graph_time, linked_calendar
from shared.domain.input_limits import one_line
from shared.domain.model import (
    DYNAMIC_LINK_CALENDAR_TYPES,
    CalendarType,
    ConnectionStatus,
    LinkState,
    MeetingLocation,
)

#: Namespace of the uuid5 idempotency keys (fixed forever: changing it would allow duplicates).
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1f7e0c-3b7a-5d2e-9a51-0b8b1e4c2d11")

#: Link states in which a Teams booking still needs its link (``failed`` = a retry).
LINK_WANTED_STATES = frozenset({LinkState.PENDING, LinkState.AWAITING_CONNECTION, LinkState.RETRYING,
                                LinkState.FAILED})

TEAMS_LOCATION_NAME = "Microsoft Teams Meeting"
CANCEL_COMMENT = "This booking was cancelled."


# ------------------------------------------------------------------------------ idempotency keys
def _generation_suffix(generation: int) -> str:
    return f"|{generation}" if generation else ""


def transaction_id(workspace: str, booking_id: str, generation: int = 0) -> str:
    """The ``transactionId`` of the booking's calendar event (the same for every attempt; ``generation``:
    the booking's ``meeting_generation``, +1 when its meeting is replaced under another organizer)."""
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"event|{workspace}|{booking_id}{_generation_suffix(generation)}"))


def external_id(workspace: str, booking_id: str, generation: int = 0) -> str:
    """The ``externalId`` of the booking's Teams meeting for ``createOrGet`` (the same for every attempt)."""
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE,
                          f"onlineMeeting|{workspace}|{booking_id}{_generation_suffix(generation)}"))


def meeting_generation(booking: Mapping[str, Any]) -> int:
    """How many times the booking's meeting was replaced under another organizer (0: never)."""
    value = booking.get("meeting_generation")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


# ------------------------------------------------------------------------------ connections
@dataclass(frozen=True)
class ConnectionView:
    """What planning needs from a connection row (``connections`` table)."""

    status: str
    account_oid: str = ""
    account_tid: str = ""
    linked_calendar_id: str = ""
    allows_teams: bool = True
    """False when the linked calendar's ``allowedOnlineMeetingProviders`` lacks ``teamsForBusiness`` (rule 26)."""

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | None) -> ConnectionView | None:
        """``None`` for an absent row."""
        if not row:
            return None
        return cls(
            status=str(row.get("status") or ""),
            account_oid=str(row.get("account_oid") or ""),
            account_tid=str(row.get("account_tid") or ""),
            linked_calendar_id=str(row.get("linked_calendar_id") or ""),
            allows_teams=linked_calendar.allows_teams(row),
        )

    @property
    def connected(self) -> bool:
        """True when the connection can be used."""
        return self.status == ConnectionStatus.CONNECTED.value

    def same_account(self, other: ConnectionView | None) -> bool:
        """True when both are the same Microsoft account (oid + tid, both known)."""
        return bool(
            other is not None and self.account_oid and self.account_tid
            and self.account_oid == other.account_oid and self.account_tid == other.account_tid
        )


# ------------------------------------------------------------------------------ the plan
class LinkSource(str, Enum):
    """Where a booking's link comes from in this run."""

    NONE = "none"                        # no link wanted (location none/not applicable) or already stored
    EVENT_WITH_TEAMS = "event_with_teams"  # ONE call: event with isOnlineMeeting (same account, rule 8)
    ONLINE_MEETING = "online_meeting"    # createOrGet on the Teams account
    STATIC = "static"                    # the custom URL typed by the admin
    NO_CONNECTION = "no_connection"      # Teams wanted, no connected teams connection


@dataclass(frozen=True)
class CreatePlan:
    """What a ``create`` must do for a booking."""

    link_source: LinkSource
    write_event: bool          # an event must be created in the linked Microsoft calendar
    update_event_link: bool    # an event exists without the link the booking now has
    calendar_id: str = ""      # linked calendar id ('' = the primary calendar, ``/me/events``)

    @property
    def nothing_to_do(self) -> bool:
        """True when no Graph call is needed."""
        return (self.link_source in (LinkSource.NONE, LinkSource.STATIC)
                and not self.write_event and not self.update_event_link)


def wants_dynamic_link(booking: Mapping[str, Any]) -> bool:
    """True when the booking should get a Teams link and has none yet (rules 1-4)."""
    if booking.get("meeting_url"):
        return False
    if str(booking.get("location") or "") != MeetingLocation.TEAMS.value:
        return False
    try:
        if CalendarType(str(booking.get("calendar_type") or "")) not in DYNAMIC_LINK_CALENDAR_TYPES:
            return False
    except ValueError:
        return False
    try:
        state = LinkState(str(booking.get("link_state") or ""))
    except ValueError:
        return False
    return state in LINK_WANTED_STATES


def wants_meet_link(booking: Mapping[str, Any]) -> bool:
    """True when the booking should get a Google Meet link and has none yet (rule 28: the same rules as Teams)."""
    if booking.get("meeting_url") or str(booking.get("location") or "") != MeetingLocation.GOOGLE_MEET.value:
        return False
    try:
        dynamic = CalendarType(str(booking.get("calendar_type") or "")) in DYNAMIC_LINK_CALENDAR_TYPES
        return dynamic and LinkState(str(booking.get("link_state") or "")) in LINK_WANTED_STATES
    except ValueError:
        return False


def wants_link(booking: Mapping[str, Any]) -> bool:
    """True when the booking still wants its dynamic link (Teams or Google Meet)."""
    return wants_dynamic_link(booking) or wants_meet_link(booking)


def plan_create(
    booking: Mapping[str, Any],
    teams: ConnectionView | None,
    calendar: ConnectionView | None,
) -> CreatePlan:
    """Decide the Graph calls of a ``create`` for a confirmed, upcoming booking.

    ``calendar`` is the host's ``microsoft_calendar`` connection (pass ``None`` when it must not
    be used). The one-call path needs a connected calendar that allows Teams, of the same account as a connected
    Teams connection and no event written yet; otherwise the meeting is a separate online meeting
    and the event (if any) carries its link.
    """
    cal = calendar if calendar is not None and calendar.connected else None
    has_event = bool(booking.get("graph_event_id"))
    calendar_id = cal.linked_calendar_id if cal else ""
    if wants_dynamic_link(booking):
        if teams is None or not teams.connected:
            return CreatePlan(LinkSource.NO_CONNECTION, write_event=bool(cal) and not has_event,
                              update_event_link=False, calendar_id=calendar_id)
        # Outlook invites the attendee itself only while no confirmation (with our .ics) went out:
        # a backfilled booking already has our invitation, so a second one would duplicate it.
        first_invitation = str(booking.get("link_state") or "") == LinkState.PENDING.value
        # A calendar without teamsForBusiness would take the event but give it no Teams meeting while Outlook
        # invites the attendee ("Create or set an event as an online meeting in an Outlook calendar"): such a
        # calendar takes the Teams-only path (createOrGet, then the event carrying the link).
        if cal is not None and not has_event and cal.same_account(teams) and first_invitation and cal.allows_teams:
            return CreatePlan(LinkSource.EVENT_WITH_TEAMS, write_event=False, update_event_link=False,
                              calendar_id=calendar_id)
        return CreatePlan(LinkSource.ONLINE_MEETING, write_event=bool(cal) and not has_event,
                          update_event_link=bool(cal) and has_event, calendar_id=calendar_id)
    custom = static_url(booking)
    if custom and not booking.get("meeting_url"):
        return CreatePlan(LinkSource.STATIC, write_event=bool(cal) and not has_event,
                          update_event_link=bool(cal) and has_event and not booking.get("event_carries_link"),
                          calendar_id=calendar_id)
    link = str(booking.get("meeting_url") or "")
    return CreatePlan(LinkSource.NONE, write_event=bool(cal) and not has_event,
                      update_event_link=bool(cal and has_event and link and not booking.get("event_carries_link")),
                      calendar_id=calendar_id)


def static_url(booking: Mapping[str, Any]) -> str:
    """The custom URL of a booking whose location is ``custom`` ('' otherwise)."""
    if str(booking.get("location") or "") != MeetingLocation.CUSTOM.value:
        return ""
    return str(booking.get("custom_url") or "")


# ------------------------------------------------------------------------------ bodies
def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("instant without offset")
    return parsed.astimezone(UTC)


def _zone_name(booking: Mapping[str, Any]) -> str:
    return str(booking.get("calendar_timezone") or "UTC")


def date_time_time_zone(instant_utc: str, zone: str) -> dict[str, str]:
    """A Graph ``dateTimeTimeZone``: the Windows name of ``zone`` (IANA) and its wall-clock time, else UTC."""
    return graph_time.date_time_time_zone(_instant(instant_utc), zone)


def utc_offset_string(instant_utc: str) -> str:
    """An ``Edm.DateTimeOffset`` in UTC (``2026-11-24T09:00:00Z``)."""
    return _instant(instant_utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def meeting_subject(booking: Mapping[str, Any], calendar_name: str = "") -> str:
    """``Intro call with Ada Lovelace`` (calendar name, else 'Meeting')."""
    title = one_line(calendar_name or "") or "Meeting"
    invitee = one_line(str(booking.get("invitee_name") or ""))
    return f"{title} with {invitee}" if invitee else title


def _body_text(booking: Mapping[str, Any], link: str, *, for_host_only: bool) -> str:
    lines: list[str] = []
    if link:
        lines += [f"Join the meeting: {link}", ""]
    if for_host_only:
        # The event is in the host's calendar only (the invitee's invitation is the .ics of the
        # confirmation): say who booked, since there is no attendee on the event.
        name = str(booking.get("invitee_name") or "").strip()
        email = str(booking.get("invitee_email") or "").strip()
        who = " ".join(p for p in (name, f"<{email}>" if email else "") if p)
        if who:
            lines.append(f"Booked by {who}.")
    notes = str(booking.get("notes") or "").strip()
    if notes:
        lines += ["", "Notes from the invitee:", notes]
    lines += ["", "Booked with bookbridge. The invitee can reschedule or cancel with the \"Manage your booking\" "
                  "link in their confirmation email."]
    return "\n".join(lines).strip()


def event_with_teams_body(booking: Mapping[str, Any], calendar_name: str = "") -> dict[str, Any]:
    """Rule 8, same account: ONE event with the invitee as attendee and a Teams meeting."""
    zone = _zone_name(booking)
    attendee: dict[str, Any] = {
        "emailAddress": {"address": str(booking.get("invitee_email") or "")},
        "type": "required",
    }
    if one_line(str(booking.get("invitee_name") or "")):
        attendee["emailAddress"]["name"] = one_line(str(booking["invitee_name"]))
    return {
        "subject": meeting_subject(booking, calendar_name),
        "body": {"contentType": "text", "content": _body_text(booking, "", for_host_only=False)},
        "start": date_time_time_zone(str(booking["start_utc"]), zone),
        "end": date_time_time_zone(str(booking["end_utc"]), zone),
        "attendees": [attendee],
        "allowNewTimeProposals": False,
        "isOnlineMeeting": True,
        "onlineMeetingProvider": "teamsForBusiness",
        "transactionId": transaction_id(str(booking["workspace"]), str(booking["id"]),
                                        meeting_generation(booking)),
    }


def _link_location(link: str, *, teams: bool) -> dict[str, Any]:
    return {"displayName": TEAMS_LOCATION_NAME if teams else link, "locationUri": link}


def calendar_event_body(booking: Mapping[str, Any], link: str, *, teams_link: bool,
                        calendar_name: str = "") -> dict[str, Any]:
    """An event in the host's linked calendar carrying ``link`` (or none), without attendees.

    Used when the invitation goes out as the confirmation's .ics (rule 8, "otherwise") and for
    bookings without an online meeting (rule 9): no attendee, so Outlook sends no second invitation.
    """
    zone = _zone_name(booking)
    body: dict[str, Any] = {
        "subject": meeting_subject(booking, calendar_name),
        "body": {"contentType": "text", "content": _body_text(booking, link, for_host_only=True)},
        "start": date_time_time_zone(str(booking["start_utc"]), zone),
        "end": date_time_time_zone(str(booking["end_utc"]), zone),
        "showAs": "busy",
        "transactionId": transaction_id(str(booking["workspace"]), str(booking["id"]),
                                        meeting_generation(booking)),
    }
    if link:
        body["location"] = _link_location(link, teams=teams_link)
    return body


def event_link_patch(booking: Mapping[str, Any], link: str, *, teams_link: bool) -> dict[str, Any]:
    """PATCH body adding a link (created later: backfill, retry) to an event written without one.

    Rule 24: the event Outlook sent as the invitation (``invitation_channel`` ``outlook``, written with
    ``isOnlineMeeting``) is a Teams event: replacing its ``body`` strips the Teams block from the invitation
    (microsoft-graph-docs-contrib#1895), so it only gets the ``location``.
    """
    patch: dict[str, Any] = {"location": _link_location(link, teams=teams_link)}
    if not is_teams_event(booking):
        patch["body"] = {"contentType": "text", "content": _body_text(booking, link, for_host_only=True)}
    return patch


def is_teams_event(booking: Mapping[str, Any]) -> bool:
    """True when the booking's event was written with ``isOnlineMeeting`` (the same-account path, rule 8)."""
    return str(booking.get("invitation_channel") or "") == "outlook"


def meeting_times_differ(booking: Mapping[str, Any], meeting: Mapping[str, Any]) -> bool:
    """True when an online meeting (e.g. createOrGet's 200 for an existing one) is not at the booking's times."""
    if not meeting.get("startDateTime") or not meeting.get("endDateTime"):
        return False
    try:
        return (_instant(str(meeting["startDateTime"])) != _instant(str(booking["start_utc"]))
                or _instant(str(meeting["endDateTime"])) != _instant(str(booking["end_utc"])))
    except (KeyError, ValueError):
        return False


def online_meeting_body(booking: Mapping[str, Any], calendar_name: str = "") -> dict[str, Any]:
    """Parameters of ``POST /me/onlineMeetings/createOrGet`` (externalId makes it idempotent)."""
    return {
        "externalId": external_id(str(booking["workspace"]), str(booking["id"]), meeting_generation(booking)),
        "subject": meeting_subject(booking, calendar_name),
        "startDateTime": utc_offset_string(str(booking["start_utc"])),
        "endDateTime": utc_offset_string(str(booking["end_utc"])),
    }


def event_times_patch(booking: Mapping[str, Any]) -> dict[str, Any]:
    """PATCH body moving an event to the booking's current times (the link is untouched)."""
    zone = _zone_name(booking)
    return {
        "start": date_time_time_zone(str(booking["start_utc"]), zone),
        "end": date_time_time_zone(str(booking["end_utc"]), zone),
    }


def online_meeting_times_patch(booking: Mapping[str, Any]) -> dict[str, Any]:
    """PATCH body moving an online meeting to the booking's current times (joinWebUrl is kept)."""
    return {
        "startDateTime": utc_offset_string(str(booking["start_utc"])),
        "endDateTime": utc_offset_string(str(booking["end_utc"])),
    }


def cancel_body(comment: str = CANCEL_COMMENT) -> dict[str, str]:
    """Parameters of ``POST /me/events/{id}/cancel``."""
    return {"comment": comment}


# ------------------------------------------------------------------------------ responses
def join_url_of_event(event: Mapping[str, Any] | None) -> str:
    """``onlineMeeting.joinUrl`` of an event ('' when absent)."""
    info = (event or {}).get("onlineMeeting") or {}
    return str(info.get("joinUrl") or "") if isinstance(info, Mapping) else ""


def join_url_of_online_meeting(meeting: Mapping[str, Any] | None) -> str:
    """``joinWebUrl`` of an online meeting ('' when absent)."""
    return str((meeting or {}).get("joinWebUrl") or "")
