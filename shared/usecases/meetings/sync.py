"""The reconciler's steps for a booking that changed: its new times (``sync_times``) and its cancel (``cancel_graph``).

Both act only as the meeting's organizer (rule 18): never with another account's token."""
from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial

from shared.domain.meeting_plan import CANCEL_COMMENT, event_times_patch, online_meeting_times_patch
from shared.errors import BookbridgeError, GraphRejected, NotConnected, NotFound, ReauthRequired, TeamsUnavailable
from shared.repositories.bookings import Booking
from shared.usecases.meetings.deps import CALENDAR, TEAMS, Job
from shared.usecases.meetings.messages import Outcome
from shared.usecases.meetings.writes import (
    apply,
    is_cancelled,
    note_sync_error,
    revision_of,
    synced_revision,
)

log = logging.getLogger("bookbridge.meetings")


def sync_times(job: Job, booking: Booking) -> Outcome:
    """PATCH the event / online meeting to the booking's current times (the link is unchanged)."""
    for _ in range(3):
        target = revision_of(booking)
        event_id = booking.graph_event_id or ""
        meeting_id = booking.online_meeting_id or ""
        if meeting_id and not _organizer_connected(job, booking):
            return _not_the_organizer(job, booking)
        row = booking.as_row()
        try:
            if event_id:
                patch = event_times_patch(row)
                job.call(CALENDAR, partial(job.deps.graph.update_event, event_id=event_id, patch=patch))
            if meeting_id:
                mpatch = online_meeting_times_patch(row)
                job.call(TEAMS, partial(job.deps.graph.update_online_meeting, meeting_id=meeting_id, patch=mpatch))
        except (ReauthRequired, NotConnected, NotFound, GraphRejected, TeamsUnavailable) as exc:
            return _sync_failed(job, booking, exc, "move")
        booking = apply(job, booking, partial(_synced_to, target))
        log.info("meetings: times synced ws=%s booking=%s rev=%s", job.ws, job.booking_id, target)
        if revision_of(booking) <= target or is_cancelled(booking):
            break
    if is_cancelled(booking) and not booking.graph_cancelled:
        return cancel_graph(job, booking)
    return Outcome("rescheduled", "times synced", booking.link_state)


def _synced_to(revision: int, current: Booking) -> Booking | None:
    """``current`` recording that Graph has ``revision`` (``None`` when it already has it or a later one)."""
    if synced_revision(current) >= revision:
        return None
    return replace(current, graph_synced_revision=revision, graph_sync_error=None)


def _organizer_connected(job: Job, booking: Booking) -> bool:
    """True unless the booking's meeting belongs to an account other than the host's Teams connection (a
    call with the new account would answer 404, which is not success: rule 18)."""
    from shared.domain.meeting_plan import ConnectionView

    oid, tid = booking.organizer_oid, booking.organizer_tid
    if not oid or not tid:
        return True
    teams = ConnectionView.from_row(job.deps.connection(job.ws, job.host, TEAMS))
    return teams is None or not teams.account_oid or (teams.account_oid, teams.account_tid) == (oid, tid)


def _not_the_organizer(job: Job, booking: Booking) -> Outcome:
    """The meeting belongs to an account the host's Teams connection no longer holds: nothing is sent as
    another account (it would answer 404, which is not success); the reconciler moves the meeting (rule 18)."""
    booking = note_sync_error(job, booking, REASON_ORGANIZER_GONE)
    return Outcome("sync_error", "organizer not connected", booking.link_state)


def _orphan_meeting(job: Job, booking: Booking) -> Booking:
    """Move the online meeting of a previous organizer to ``orphans_json`` (organizer, join URL)."""
    from shared.domain import reconcile as rules
    from shared.ports import iso_utc

    orphan = {"organizer_oid": booking.organizer_oid, "organizer_tid": booking.organizer_tid,
              "join_url": booking.meeting_url, "online_meeting_id": booking.online_meeting_id,
              "left_at": iso_utc(job.deps.clock.now())}
    log.warning("meetings: meeting of a previous organizer left as an orphan ws=%s booking=%s", job.ws,
                job.booking_id)
    return apply(job, booking, lambda cur: None if not cur.online_meeting_id else replace(
        cur, online_meeting_id=None, orphans_json=rules.orphans_with(cur.orphans_json, orphan)))


def cancel_graph(job: Job, booking: Booking) -> Outcome:
    """Cancel the event (Outlook notifies attendees) or delete it; delete the online meeting. 404 = done."""
    event_id = booking.graph_event_id or ""
    meeting_id = booking.online_meeting_id or ""
    if meeting_id and not _organizer_connected(job, booking):
        booking = _orphan_meeting(job, booking)  # its organizer's token is gone: never deleted as another user
        meeting_id = ""
    try:
        if event_id:
            if booking.invitation_channel == "outlook":
                job.call(CALENDAR, lambda t: job.deps.graph.cancel_event(t, event_id, CANCEL_COMMENT))
            else:
                job.call(CALENDAR, lambda t: job.deps.graph.delete_event(t, event_id))
        if meeting_id:
            job.call(TEAMS, lambda t: job.deps.graph.delete_online_meeting(t, meeting_id))
    except (ReauthRequired, NotConnected, GraphRejected, TeamsUnavailable) as exc:
        return _sync_failed(job, booking, exc, "cancel")
    rev = revision_of(booking)
    booking = apply(job, booking, lambda cur: None if cur.graph_cancelled else replace(
        cur, graph_cancelled=True, graph_synced_revision=rev, graph_sync_error=None))
    log.info("meetings: cancelled in Graph ws=%s booking=%s", job.ws, job.booking_id)
    return Outcome("cancelled", "cancelled in Graph", booking.link_state)


REASON_ORGANIZER_GONE = ("The Teams meeting belongs to a Microsoft account that is no longer connected: it is "
                         "moved to the connected account (a new link) instead of being changed as another user.")
_NOT_DONE = {"move": "still has the old time", "cancel": "was not cancelled"}


def _sync_failed(job: Job, booking: Booking, exc: BookbridgeError, doing: str) -> Outcome:
    """Record why Graph could not ``doing`` (``move`` or ``cancel``) the meeting; the outcome says so."""
    if isinstance(exc, (ReauthRequired, NotConnected)):
        detail = "connection"
        reason = f"The Microsoft connection must be renewed: the calendar event or Teams meeting {_NOT_DONE[doing]}."
    elif isinstance(exc, NotFound):
        detail = "gone"
        reason = "The calendar event or Teams meeting of this booking was deleted in Microsoft 365."
    else:
        detail = "rejected"
        reason = f"Microsoft Graph refused to {doing} the meeting ({getattr(exc, 'graph_code', '') or exc.code})."
    booking = note_sync_error(job, booking, reason)
    return Outcome("sync_error", detail, booking.link_state)
