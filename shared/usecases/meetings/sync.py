"""Keeping Graph in line with a booking that changed: new times (``reschedule``) and ``cancel``."""
from __future__ import annotations

import logging
from functools import partial
from typing import Any

from shared.domain.meeting_plan import CANCEL_COMMENT, event_times_patch, online_meeting_times_patch
from shared.errors import BookbridgeError, GraphRejected, NotConnected, NotFound, ReauthRequired, TeamsUnavailable
from shared.ports import Entity
from shared.usecases.meetings.deps import CALENDAR, TEAMS, Job
from shared.usecases.meetings.messages import Outcome
from shared.usecases.meetings.writes import (
    apply,
    has_graph_objects,
    is_cancelled,
    note_sync_error,
    revision_of,
    synced_revision,
)

log = logging.getLogger("bookbridge.meetings")


def reschedule(job: Job, booking: Entity) -> Outcome:
    """A ``reschedule`` message: move Graph to the booking's current times when it is behind."""
    if is_cancelled(booking):
        if has_graph_objects(booking) and not booking.get("graph_cancelled"):
            return cancel_graph(job, booking)
        return Outcome("skipped", "booking is cancelled", booking.get("link_state"))
    if not has_graph_objects(booking):
        return Outcome("skipped", "no meeting yet: create uses the current times", booking.get("link_state"))
    if synced_revision(booking) >= revision_of(booking):
        return Outcome("stale", "Graph already has the current times", booking.get("link_state"))
    return sync_times(job, booking)


def sync_times(job: Job, booking: Entity) -> Outcome:
    """PATCH the event / online meeting to the booking's current times (the link is unchanged)."""
    for _ in range(3):
        target = revision_of(booking)
        event_id = str(booking.get("graph_event_id") or "")
        meeting_id = str(booking.get("online_meeting_id") or "")
        try:
            if event_id:
                patch = event_times_patch(booking)
                job.call(CALENDAR, partial(job.deps.graph.update_event, event_id=event_id, patch=patch))
            if meeting_id:
                mpatch = online_meeting_times_patch(booking)
                job.call(TEAMS, partial(job.deps.graph.update_online_meeting, meeting_id=meeting_id, patch=mpatch))
        except (ReauthRequired, NotConnected, NotFound, GraphRejected, TeamsUnavailable) as exc:
            return _sync_failed(job, booking, exc, "move")
        booking = apply(job, booking, partial(_synced_to, target))
        log.info("meetings: times synced ws=%s booking=%s rev=%s", job.ws, job.booking_id, target)
        if revision_of(booking) <= target or is_cancelled(booking):
            break
    if is_cancelled(booking) and not booking.get("graph_cancelled"):
        return cancel_graph(job, booking)
    return Outcome("rescheduled", "times synced", booking.get("link_state"))


def _synced_to(revision: int, current: Entity) -> dict[str, Any] | None:
    """The change recording that Graph has ``revision`` (none when it already has it or a later one)."""
    if synced_revision(current) >= revision:
        return None
    return {"graph_synced_revision": revision, "graph_sync_error": None}


def cancel(job: Job, booking: Entity) -> Outcome:
    """A ``cancel`` message: cancel the Graph objects of a cancelled booking once."""
    if not is_cancelled(booking):
        return Outcome("stale", "booking is not cancelled", booking.get("link_state"))
    if booking.get("graph_cancelled"):
        return Outcome("stale", "already cancelled in Graph", booking.get("link_state"))
    if not has_graph_objects(booking):
        return Outcome("skipped", "nothing to cancel", booking.get("link_state"))
    return cancel_graph(job, booking)


def _organizer_connected(job: Job, booking: Entity) -> bool:
    """True unless the booking's meeting belongs to an account other than the host's Teams connection (a
    call with the new account would answer 404, which is not success: rule 18)."""
    from shared.domain.meeting_plan import ConnectionView

    oid, tid = booking.get("organizer_oid"), booking.get("organizer_tid")
    if not oid or not tid:
        return True
    teams = ConnectionView.from_row(job.deps.connection(job.ws, job.host, TEAMS))
    return teams is None or not teams.account_oid or (teams.account_oid, teams.account_tid) == (oid, tid)


def _orphan_meeting(job: Job, booking: Entity) -> Entity:
    """Move the online meeting of a previous organizer to ``orphans_json`` (organizer, join URL)."""
    from shared.domain import reconcile as rules
    from shared.ports import iso_utc

    orphan = {"organizer_oid": booking.get("organizer_oid"), "organizer_tid": booking.get("organizer_tid"),
              "join_url": booking.get("meeting_url"), "online_meeting_id": booking.get("online_meeting_id"),
              "left_at": iso_utc(job.deps.clock.now())}
    log.warning("meetings: meeting of a previous organizer left as an orphan ws=%s booking=%s", job.ws,
                job.booking_id)
    return apply(job, booking, lambda cur: None if not cur.get("online_meeting_id") else {
        "online_meeting_id": None, "orphans_json": rules.orphans_with(cur.get("orphans_json"), orphan)})


def cancel_graph(job: Job, booking: Entity) -> Outcome:
    """Cancel the event (Outlook notifies attendees) or delete it; delete the online meeting. 404 = done."""
    event_id = str(booking.get("graph_event_id") or "")
    meeting_id = str(booking.get("online_meeting_id") or "")
    if meeting_id and not _organizer_connected(job, booking):
        booking = _orphan_meeting(job, booking)  # its organizer's token is gone: never deleted as another user
        meeting_id = ""
    try:
        if event_id:
            if booking.get("invitation_channel") == "outlook":
                job.call(CALENDAR, lambda t: job.deps.graph.cancel_event(t, event_id, CANCEL_COMMENT))
            else:
                job.call(CALENDAR, lambda t: job.deps.graph.delete_event(t, event_id))
        if meeting_id:
            job.call(TEAMS, lambda t: job.deps.graph.delete_online_meeting(t, meeting_id))
    except (ReauthRequired, NotConnected, GraphRejected, TeamsUnavailable) as exc:
        return _sync_failed(job, booking, exc, "cancel")
    rev = revision_of(booking)
    booking = apply(job, booking, lambda cur: None if cur.get("graph_cancelled")
                    else {"graph_cancelled": True, "graph_synced_revision": rev, "graph_sync_error": None})
    log.info("meetings: cancelled in Graph ws=%s booking=%s", job.ws, job.booking_id)
    return Outcome("cancelled", "cancelled in Graph", booking.get("link_state"))


_NOT_DONE = {"move": "still has the old time", "cancel": "was not cancelled"}


def _sync_failed(job: Job, booking: Entity, exc: BookbridgeError, doing: str) -> Outcome:
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
    return Outcome("sync_error", detail, booking.get("link_state"))
