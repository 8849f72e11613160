"""A manual repair (``POST /api/workspaces/{ws}/bookings/{id}/repair``): reconcile one booking now.

The booking is found by id (``shared.usecases.booking_admin.find_booking``), then reconciled in-process
exactly as the meeting worker would (``runner.reconcile``), including a ``failed`` booking (a person asked:
its permanent cause may be fixed). A transient failure on the way leaves it ``retrying`` / its sync error
with the next attempt (``runner.record_failure``), never an error answer: the answer is the booking view.
"""
from __future__ import annotations

import logging
from typing import Any

from shared.errors import TransientError
from shared.ports import EntityStore
from shared.repositories.bookings import booking_from_entity, booking_to_entity
from shared.usecases.booking_admin import admin_view, find_booking
from shared.usecases.meetings.deps import Job, MeetingDeps
from shared.usecases.meetings.messages import MeetingMessage
from shared.usecases.meetings.writes import flush_outbox, is_cancelled, revision_of
from shared.usecases.reconcile.runner import reconcile, record_failure

log = logging.getLogger("bookbridge.reconcile")

REASON_REPAIR_TRANSIENT = "Microsoft 365 or storage did not answer during a repair; tried again automatically."


def repair_booking(deps: MeetingDeps, store: EntityStore, workspace: str, booking_id: str) -> dict[str, Any]:
    """Reconcile the booking now; answers its admin view afterwards."""
    from shared.domain.meeting_plan import wants_link

    found = booking_from_entity(find_booking(store, workspace, booking_id))
    msg = MeetingMessage(op="reconcile", workspace=workspace, host=found.host, booking_id=booking_id,
                         revision=revision_of(found))
    job = Job(deps, msg)
    booking = flush_outbox(job, found)
    try:
        reconcile(job, booking, retry_failed=True)
    except TransientError as exc:
        current = job.load() or booking
        link = not is_cancelled(current) and wants_link(current.as_row())
        record_failure(job, current, REASON_REPAIR_TRANSIENT, link=link)
        log.warning("repair: transient failure (%s) ws=%s booking=%s", exc.code, workspace, booking_id)
    log.info("repair: done ws=%s booking=%s", workspace, booking_id)
    return admin_view(booking_to_entity(job.load() or booking))


__all__ = ["repair_booking"]
