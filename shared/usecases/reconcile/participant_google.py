"""A Google co-host's own event (rule 20 with rule 28): one call of Calendar v3 with the co-host's own
``google_calendar`` connection towards what ``shared.domain.participants.steps`` named.

The event's id is derived from booking + user (``google_events.cohost_event_id``): a redelivered insert answers
409 ``duplicate`` and the adapter reads the event the first made ("Events: insert"), so a change is written once.
Every call is ``sendUpdates=none``: the event has no attendees, the invitee's invitation is the organizer's
("Events: insert", "Events: patch", "Events: delete"). Errors propagate to ``participants._converge_one``, which
records them on the co-host (``GoogleThrottled`` -> ``retrying``, ``ReauthRequired`` -> ``failed``).
"""
from __future__ import annotations

from dataclasses import replace

from shared.domain import google_events
from shared.domain import participants as rules
from shared.errors import NotFound
from shared.repositories.bookings import Booking
from shared.usecases.meetings.deps import Job
from shared.usecases.meetings.writes import revision_of
from shared.usecases.reconcile.google import call_google

#: Where the co-host's event is (Calendar v3's name of the account's own calendar).
PRIMARY = "primary"


def run_google(job: Job, booking: Booking, user: str, record: rules.Participant,
               step: rules.Step) -> rules.Participant:
    """One Calendar v3 call for ``user``'s event; the record after it."""
    row = booking.as_row()
    link = rules.current_link(row)
    if step is rules.Step.CREATE:
        body = google_events.cohost_event_body(row, user, link, job.calendar_name(booking))
        event = call_google(job, lambda cal, t: cal.insert_event(t, body, conference=False, notify=False), user)
        return replace(record, event=rules.WRITTEN, event_id=str(event.get("id") or body["id"]), calendar_id=PRIMARY,
                       revision=revision_of(booking), link=link, error="")
    if step is rules.Step.CANCEL:
        try:
            call_google(job, lambda cal, t: cal.delete_event(t, record.event_id, notify=False), user)
        except NotFound:
            pass  # gone already (410 is done in the adapter; 404: never there or purged)
        return replace(record, event=rules.CANCELLED, error="")
    if step is rules.Step.TIMES:
        patch = google_events.times_patch(row)
        call_google(job, lambda cal, t: cal.patch_event(t, record.event_id, patch, notify=False), user)
        return replace(record, event=rules.WRITTEN, revision=revision_of(booking), error="")
    patch = google_events.link_patch(row, link)
    call_google(job, lambda cal, t: cal.patch_event(t, record.event_id, patch, notify=False), user)
    return replace(record, event=rules.WRITTEN, link=link, error="")


__all__ = ["PRIMARY", "run_google"]
