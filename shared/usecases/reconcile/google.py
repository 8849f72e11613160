"""The reconciler's Google step (rule 28): the booking's event in the Google member's calendar, and its Google
Meet link. Runs inside ``runner.reconcile`` after the Microsoft actions (so a Teams link made in the same run is
carried), whenever ``shared.domain.google_events.needs_work`` says the Google side lags the booking.

* no event yet: ``events.insert`` with the booking's id-derived event id, the invitee as attendee (Google sends
  the invitation), the link; for ``google_meet`` a ``conferenceData.createRequest`` keyed by the booking id whose
  Meet link becomes the booking's link (``created``, the confirmation then goes out with it);
* a link made later (Teams backfill): the event gets it; new times: the event moves (its conference is kept);
* cancelled: the event is deleted (Google tells the attendee), once (410 is done).

A host without a connected ``google_calendar``: a Meet booking is ``awaiting_connection`` (backfilled when the
host connects: the reconnect's host repair comes back here); other failures are ``google_sync_error``. Throttling
and 5xx (``GoogleThrottled``) propagate: the worker re-queues the message; past its attempts the booking keeps a
``google_sync_error`` (a Meet booking without its link: ``retrying``) with the next attempt in the due index.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from shared.domain import google_events
from shared.domain.meeting_plan import ConnectionView
from shared.domain.model import ConnectionKind, LinkState
from shared.errors import GoogleRejected, GoogleThrottled, GoogleUnauthorized, NotConnected, NotFound, ReauthRequired
from shared.repositories.bookings import Booking
from shared.usecases.meetings.deps import Job
from shared.usecases.meetings.writes import (
    LinkResult,
    apply,
    flush_outbox,
    is_cancelled,
    revision_of,
    store_link_result,
)

log = logging.getLogger("bookbridge.reconcile")
KIND = ConnectionKind.GOOGLE_CALENDAR.value
REASON_NOT_CONNECTED = ("The host's Google Calendar is not connected: the Google Meet link will be added when the "
                        "host connects Google Calendar again.")
REASON_EVENT_NOT_CONNECTED = ("The host's Google Calendar is not connected: the booking's Google event is written "
                              "when the host connects Google Calendar again.")
MEET_RETRY_SECONDS = 10.0
REASON_NO_MEET = "Google made no Meet conference for this event (is Google Meet turned on for the account?)."


def call_google(job: Job, fn: Any, user: str = "") -> Any:
    """``fn(calendar, token)`` with the Google token of ``user`` (default: the host); a refused token is renewed
    once."""
    calendar = job.deps.google_calendar
    if calendar is None:
        raise NotConnected("Google Calendar is not configured on this server")
    whose = user or job.host
    try:
        return fn(calendar, job.deps.access_token(job.ws, whose, KIND))
    except GoogleUnauthorized:
        return fn(calendar, job.deps.access_token(job.ws, whose, KIND, force_refresh=True))


def _extra(booking: Booking, **values: Any) -> Booking:
    """``booking`` with Google's fields changed (they ride in ``extra``)."""
    return replace(booking, extra={**booking.extra, **values})


def sync_google(job: Job, booking: Booking) -> Booking:
    """Bring the Google event (and a Meet link) in line with the booking; never raises a permanent error."""
    row = booking.as_row()
    if not google_events.needs_work(row, job.deps.clock.now()):
        return booking
    connection = ConnectionView.from_row(job.deps.connection(job.ws, job.host, KIND))
    try:
        if is_cancelled(booking):
            return _cancel(job, booking)
        if connection is None or not connection.connected:
            raise NotConnected("no connected google_calendar")
        if not booking.extra.get("google_event_id"):
            return _insert(job, booking)
        return _update(job, booking)
    except (ReauthRequired, NotConnected) as exc:
        reason = REASON_NOT_CONNECTED if google_events.is_meet(row) else REASON_EVENT_NOT_CONNECTED
        return _failed(job, booking, reason, awaiting=True, cause=type(exc).__name__)
    except NotFound:
        return _failed(job, booking, "The Google Calendar event of this booking was deleted in Google.")
    except GoogleRejected as exc:
        return _failed(job, booking, f"Google Calendar refused the event ({exc.status} {exc.reason}).")


def _failed(job: Job, booking: Booking, reason: str, *, awaiting: bool = False, cause: str = "") -> Booking:
    """A Meet booking without its link: ``awaiting_connection`` (or ``failed``); otherwise a sync error."""
    log.info("reconcile: google step not done (%s) ws=%s booking=%s", cause or "refused", job.ws, job.booking_id)
    if google_events.is_meet(booking.as_row()) and not booking.meeting_url and not is_cancelled(booking):
        state = LinkState.AWAITING_CONNECTION if awaiting else LinkState.FAILED
        stored = store_link_result(job, booking, LinkResult(link_state=state.value, link_reason=reason),
                                   revision_of(booking))
        return flush_outbox(job, stored)
    return apply(job, booking, lambda cur: None if cur.extra.get("google_sync_error") == reason
                 else _extra(cur, google_sync_error=reason))


def _insert(job: Job, booking: Booking) -> Booking:
    """``events.insert`` (a retried one reads the event the first made); a Meet link becomes the booking's."""
    row = booking.as_row()
    body = google_events.event_body(row, job.calendar_name(booking))
    meet = "conferenceData" in body
    event = call_google(job, lambda cal, token: cal.insert_event(token, body, conference=meet))
    rev, link = revision_of(booking), str(body.get("location") or "")
    if meet:
        link = google_events.meet_link(event)
        if link:
            booking = flush_outbox(job, store_link_result(
                job, booking, LinkResult(link_state=LinkState.CREATED.value, meeting_url=link), rev))
        elif google_events.meet_pending(event):
            # Google makes the conference asynchronously ("Create events": check createRequest.status): ask again
            # through the queue; the repeated insert answers 409 and reads the event, conference and all
            raise GoogleThrottled("Google is still making the Meet conference", retry_after=MEET_RETRY_SECONDS)
        else:
            booking = _failed(job, booking, REASON_NO_MEET)
    event_id = str(event.get("id") or body["id"])
    log.info("reconcile: google event made (meet=%s) ws=%s booking=%s", meet, job.ws, job.booking_id)
    return apply(job, booking, lambda cur: _extra(cur, google_event_id=event_id, google_synced_revision=rev,
                                                  google_event_link=link, google_sync_error=None))


def _update(job: Job, booking: Booking) -> Booking:
    """A link the event does not carry yet, then the booking's current times."""
    row, event_id = booking.as_row(), str(booking.extra["google_event_id"])
    link = google_events.link_of(row)
    if link and link != str(booking.extra.get("google_event_link") or ""):
        call_google(job, lambda cal, token: cal.patch_event(token, event_id, google_events.link_patch(row, link)))
        booking = apply(job, booking, lambda cur: _extra(cur, google_event_link=link, google_sync_error=None))
    rev = revision_of(booking)
    synced = booking.extra.get("google_synced_revision")
    if not isinstance(synced, int) or synced < rev:
        call_google(job, lambda cal, token: cal.patch_event(token, event_id, google_events.times_patch(row)))
        booking = apply(job, booking, lambda cur: _extra(cur, google_synced_revision=rev, google_sync_error=None))
        log.info("reconcile: google event moved ws=%s booking=%s", job.ws, job.booking_id)
    return booking


def _cancel(job: Job, booking: Booking) -> Booking:
    """Delete the event of a cancelled booking (Google tells the attendee); already deleted is done."""
    event_id = str(booking.extra["google_event_id"])
    try:
        call_google(job, lambda cal, token: cal.delete_event(token, event_id))
    except NotFound:
        pass  # gone already
    log.info("reconcile: google event cancelled ws=%s booking=%s", job.ws, job.booking_id)
    return apply(job, booking, lambda cur: None if cur.extra.get("google_cancelled")
                 else _extra(cur, google_cancelled=True, google_sync_error=None))
