"""Giving up on a message: throttling re-queues a copy (never a sleep) until ``max_attempts``; then, and
for a poison message, the booking is explained (``failed`` or ``graph_sync_error``)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.domain.meeting_plan import wants_dynamic_link
from shared.domain.model import LinkState
from shared.errors import Throttled
from shared.ports import Entity
from shared.usecases import queue_messages
from shared.usecases.meetings.deps import MAX_DELAY_SECONDS, MEETINGS_QUEUE, Job
from shared.usecases.meetings.messages import Outcome
from shared.usecases.meetings.reasons import reason_poison, reason_throttled
from shared.usecases.meetings.writes import (
    apply,
    flush_outbox,
    is_cancelled,
    kinds_of,
    merge_kinds,
    note_sync_error,
    notices_for,
)

log = logging.getLogger("bookbridge.meetings")


def give_up(job: Job, reason_for: Callable[[Entity], str]) -> Outcome:
    """Explain a booking whose message will not be retried: ``failed`` (create) or ``graph_sync_error``."""
    booking = job.load()
    if booking is None:
        return Outcome("skipped", "booking not found")
    booking = flush_outbox(job, booking)
    if job.msg.op == "create" and not is_cancelled(booking) and wants_dynamic_link(booking):
        reason = reason_for(booking)

        def fail(current: Entity) -> dict[str, Any] | None:
            if current.get("meeting_url") or not wants_dynamic_link(current):
                return None
            changes: dict[str, Any] = {"link_state": LinkState.FAILED.value, "link_reason": reason}
            notices = notices_for(current, LinkState.FAILED.value)
            if notices:
                changes["pending_notices"] = merge_kinds(kinds_of(current.get("pending_notices")), notices)
            return changes

        booking = flush_outbox(job, apply(job, booking, fail))
        log.warning("meetings: gave up, booking failed ws=%s booking=%s", job.ws, job.booking_id)
        return Outcome("failed", "given up", booking.get("link_state"))
    booking = note_sync_error(job, booking, reason_for(booking))
    return Outcome("sync_error", "given up", booking.get("link_state"))


def requeue(job: Job, exc: Throttled) -> Outcome:
    """Put a copy back with ``attempt+1``, invisible for the Retry-After delay (no sleep)."""
    msg = job.msg
    attempt = msg.attempt
    if attempt >= job.deps.max_attempts:
        return give_up(job, lambda b: reason_throttled(attempt) if msg.op == "create"
                       else reason_poison(msg.op, attempt, event_only=bool(b.get("meeting_url"))))
    # Retry-After alone on the first attempt; later ones back off exponentially (with jitter) beyond it.
    backoff = job.deps.backoff(attempt) if attempt > 1 or exc.retry_after is None else 0.0
    seconds = queue_messages.retry_delay(exc.retry_after, backoff, cap=MAX_DELAY_SECONDS)
    queue_messages.requeue(job.deps.queue, MEETINGS_QUEUE, msg, seconds)
    log.info("meetings: throttled, re-queued attempt %s in %ss ws=%s booking=%s", attempt + 1, seconds,
             job.ws, job.booking_id)
    return Outcome("requeued", "throttled", requeue_delay=seconds)
