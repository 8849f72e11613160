"""Reminders are scheduled without a sweep: after the confirmation / reschedule notice, one ``reminder``
message per calendar offset is queued, invisible until it is due (capped: see ``shared.domain.reminders``).
A marker row ``reminders|{revision}`` in ``commsent`` keeps a revision's reminders from being queued twice."""
from __future__ import annotations

import logging

from shared.domain import reminders as reminder_rules
from shared.ports import EntityExists, iso_utc
from shared.repositories import calendars as calendars_repo
from shared.repositories.bookings import Booking
from shared.usecases import booking_events
from shared.usecases.communications.decide import is_cancelled
from shared.usecases.communications.deps import COMMSENT, Job
from shared.usecases.communications.sent_records import SCHEDULED, reminders_rk

log = logging.getLogger("bookbridge.communications")


def ensure_reminders(job: Job, b: Booking) -> int:
    """Queue the reminders of the booking's current revision once; returns how many were queued."""
    if is_cancelled(b):
        return 0
    deps = job.deps
    marker = reminders_rk(b.revision)
    if any(r.get("RowKey") == marker for r in job.rows) or deps.store.get(COMMSENT, job.pk, marker) is not None:
        return 0
    now = deps.clock.now()
    record = calendars_repo.get_calendar(deps.store, b.workspace, b.calendar)
    offsets = list(record.config.reminder_offsets_minutes) if record is not None else list(b.reminder_offsets)
    planned = reminder_rules.plan_reminders(b.start_utc, offsets, now)
    for item in planned:
        booking_events.send_communication(deps.queue, "reminder", b.workspace, b.host, b.id, b.revision,
                                          offset_minutes=item.offset_minutes, due_at=iso_utc(item.due_at),
                                          visibility_timeout=item.delay_seconds)
    try:
        deps.store.insert(COMMSENT, {
            "PartitionKey": job.pk, "RowKey": marker, "state": SCHEDULED, "revision": b.revision,
            "offsets": ",".join(str(p.offset_minutes) for p in planned), "scheduled_at": iso_utc(now)})
    except EntityExists:
        pass
    log.info("communications: %d reminder(s) queued ws=%s booking=%s rev=%s", len(planned),
             b.workspace, b.id, b.revision)
    return len(planned)
