"""Rule 25: the calendar's meeting options applied to the booking's Teams meeting right after it exists.

Pages "lobbyBypassSettings resource type" and "onlineMeeting: createOrGet": a meeting made through Graph
lets only the organisation bypass the lobby. When the calendar's ``meeting_options`` ask for anything but
``tenant_default``, the meeting is found (``online_meeting_id``; on the event path by
``GET /me/onlineMeetings?$filter=JoinWebUrl eq '...'``), PATCHed with the Teams token, and the answer read
back: options the tenant's policy kept are recorded on the booking (``meeting_options_override``).
Done once per meeting (``meeting_options_state``); a failure is recorded, the link stands.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from shared.domain.meeting_options import MeetingOptions
from shared.domain.model import LinkState
from shared.errors import GraphRejected, NotConnected, NotFound, ReauthRequired, TeamsUnavailable
from shared.repositories import calendars as calendar_repo
from shared.repositories.bookings import Booking
from shared.usecases.meetings.deps import CALENDARS_TABLE, TEAMS, Job
from shared.usecases.meetings.writes import apply

log = logging.getLogger("bookbridge.meetings")


def calendar_meeting_options(job: Job, booking: Booking) -> MeetingOptions:
    """The options of the booking's calendar (one point read); the defaults when none are set or readable."""
    row = job.deps.store.get(CALENDARS_TABLE, job.ws, booking.calendar) if booking.calendar else None
    if not row:
        return MeetingOptions()
    try:
        return calendar_repo.record_from_calendar_entity(row).config.meeting_options
    except (KeyError, TypeError, ValueError):
        return MeetingOptions()


def apply_meeting_options(job: Job, booking: Booking) -> Booking:
    """PATCH the options onto the booking's new Teams meeting and record what the tenant kept."""
    if booking.link_state != LinkState.CREATED.value or booking.meeting_options_state:
        return booking
    options = calendar_meeting_options(job, booking)
    if options.is_default:
        return booking
    link = booking.meeting_url or ""
    try:
        meeting_id = booking.online_meeting_id or ""
        if not meeting_id:
            found = job.call(TEAMS, lambda t: job.deps.graph.find_online_meeting_by_join_url(t, link))
            meeting_id = str((found or {}).get("id") or "")
        if not meeting_id:
            return _record(job, booking, "not_found", "the Teams meeting of the link was not found to apply "
                                                      "the calendar's meeting options")
        patch = options.graph_patch()
        meeting = job.call(TEAMS, lambda t: job.deps.graph.update_online_meeting(t, meeting_id, patch))
    except (ReauthRequired, NotConnected, TeamsUnavailable, NotFound, GraphRejected) as exc:
        log.info("meetings: meeting options not applied (%s) ws=%s booking=%s", exc.code, job.ws, job.booking_id)
        return _record(job, booking, "failed", f"the meeting options could not be applied ({exc.code})")
    kept = options.overridden_by(meeting or {})
    if kept:
        log.info("meetings: tenant policy kept %d meeting option(s) ws=%s booking=%s", len(kept), job.ws,
                 job.booking_id)
        return _record(job, booking, "overridden", "; ".join(kept))
    return _record(job, booking, "applied", None)


def _record(job: Job, booking: Booking, state: str, override: str | None) -> Booking:
    return apply(job, booking, lambda cur: None if cur.meeting_options_state else
                 replace(cur, meeting_options_state=state, meeting_options_override=override))
