"""The entry points of the meeting worker: one ``meetings`` message, one ``meetings-poison`` message."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from shared.errors import StorageUnavailable, Throttled, TransientError
from shared.usecases import queue_messages
from shared.usecases.meetings.create import create
from shared.usecases.meetings.deps import HOST_MAX_DEQUEUE_COUNT, MEETINGS_QUEUE, Job, MeetingDeps
from shared.usecases.meetings.failure import give_up, requeue
from shared.usecases.meetings.messages import MeetingMessage, Outcome
from shared.usecases.meetings.reasons import reason_poison
from shared.usecases.meetings.writes import drop_backfill_rows, flush_outbox, revision_of
from shared.usecases.queue_messages import parse_or_drop
from shared.usecases.reconcile.runner import reconcile

log = logging.getLogger("bookbridge.meetings")

#: Intake puts a booking's ``create`` BEFORE its transaction (the message is the reconciler's intent): a
#: worker may see it first. It is put back after each of these delays, then dropped (the commit failed or
#: was refused). Table storage ends an insert/update/delete within 30 s at most (Microsoft's "Setting
#: timeouts for Table service operations"; request paths give up sooner), so a commit can no longer land
#: once they have passed. The first is immediate: the commit is usually milliseconds behind.
COMMIT_WAIT_SECONDS = (0, 1, 4, 10, 30, 60)


def waits_for_commit(msg: MeetingMessage) -> bool:
    """True for intake's ``create`` (not a sweep's) whose booking may still be committing."""
    return (msg.op == "create" and msg.backfill_row is None and msg.due_row is None
            and msg.attempt <= len(COMMIT_WAIT_SECONDS))


def requeue_or_leave_intent(deps: MeetingDeps, msg: MeetingMessage, delay: int) -> None:
    """Put the create back for ``delay`` s; when the queue does not take it, first write the booking's due row
    (an intent the sweep finds, dropped by the sweep if the booking never lands), then let the host retry: the
    message itself would otherwise wait out its processing visibility while the booking sits unseen."""
    try:
        queue_messages.requeue(deps.queue, MEETINGS_QUEUE, msg, delay)
    except StorageUnavailable:
        from shared.domain.reconcile import DUE_TABLE, due_entity

        at = deps.clock.now() + timedelta(seconds=COMMIT_WAIT_SECONDS[-1])
        deps.store.upsert(DUE_TABLE, due_entity(at, msg.workspace, msg.host, msg.booking_id, msg.revision))
        log.warning("meetings: queue down before the commit was seen; due row left ws=%s booking=%s",
                    msg.workspace, msg.booking_id)
        raise


def handle_meeting_message(deps: MeetingDeps, message: Any, *, dequeue_count: int = 1) -> Outcome:
    """Process one ``meetings`` message. Returns normally = acknowledge; raises = let the host retry."""
    msg = parse_or_drop(MeetingMessage.parse, message, "meetings", log)
    if isinstance(msg, str):
        return Outcome("invalid", msg)
    job = Job(deps, msg)
    booking = job.load()
    if booking is None:
        if waits_for_commit(msg):
            delay = COMMIT_WAIT_SECONDS[msg.attempt - 1]
            requeue_or_leave_intent(deps, msg, delay)
            log.info("meetings: booking not stored yet, re-queued in %ss ws=%s booking=%s", delay, msg.workspace,
                     msg.booking_id)
            return Outcome("requeued", "booking not stored yet", requeue_delay=delay)
        log.warning("meetings: booking not found ws=%s booking=%s", msg.workspace, msg.booking_id)
        if msg.backfill_row is not None:
            drop_backfill_rows(job, None)
        if msg.due_row is not None:
            from shared.usecases.reconcile import due

            due.drop(deps.store, [msg.due_row])
        return Outcome("skipped", "booking not found")
    if msg.revision > revision_of(booking):
        raise TransientError("the booking's revision is older than the message's: not visible yet")
    log.info("meetings: %s ws=%s booking=%s rev=%s attempt=%s dequeue=%s", msg.op, msg.workspace, msg.booking_id,
             msg.revision, msg.attempt, dequeue_count)
    try:
        booking = flush_outbox(job, booking)
        # every trigger goes through the reconciler (rule 17): desired state from the booking vs recorded
        outcome = create(job, booking) if msg.op == "create" else reconcile(job, booking)
    except Throttled as exc:
        outcome = requeue(job, exc)
    log.info("meetings: %s -> %s ws=%s booking=%s", msg.op, outcome.action, msg.workspace, msg.booking_id)
    return outcome


def handle_poison_message(deps: MeetingDeps, message: Any, *,
                          max_dequeue_count: int = HOST_MAX_DEQUEUE_COUNT) -> Outcome:
    """A ``meetings`` message that failed ``max_dequeue_count`` times: explain the booking, never retry."""
    msg = parse_or_drop(MeetingMessage.parse, message, "meetings-poison", log)
    if isinstance(msg, str):
        return Outcome("invalid", msg)
    return give_up(Job(deps, msg),
                   lambda b: reason_poison(msg.op, max_dequeue_count, event_only=bool(b.meeting_url)))
