"""Giving up on a message: throttling re-queues a copy (never a sleep) until ``max_attempts``; then, and
for a poison message, the booking is explained (``failed`` or ``graph_sync_error``)."""
from __future__ import annotations

import logging
from collections.abc import Callable

from shared.domain.meeting_plan import wants_link
from shared.errors import GoogleThrottled, Throttled
from shared.repositories.bookings import Booking
from shared.usecases import queue_messages
from shared.usecases.meetings.deps import MAX_DELAY_SECONDS, MEETINGS_QUEUE, Job
from shared.usecases.meetings.messages import Outcome
from shared.usecases.meetings.reasons import reason_google_throttled, reason_poison, reason_throttled
from shared.usecases.meetings.writes import (
    flush_outbox,
    is_cancelled,
)

log = logging.getLogger("bookbridge.meetings")


def give_up(job: Job, reason_for: Callable[[Booking], str], *, google: bool = False) -> Outcome:
    """A message the queue will not retry (poison, throttled to the last attempt): its cause was transient
    (permanent ones are handled where they happen), so the booking is ``retrying`` (it still wants its
    link) or keeps a ``graph_sync_error`` (``google``: a ``google_sync_error``), with the next attempt in the
    due index (rule 16)."""
    from shared.usecases.reconcile.runner import record_failure

    booking = job.load()
    if booking is None:
        return Outcome("skipped", "booking not found")
    booking = flush_outbox(job, booking)
    link = job.msg.op in ("create", "reconcile") and not is_cancelled(booking) and wants_link(booking.as_row())
    booking = record_failure(job, booking, reason_for(booking), link=link, google=google)
    if link:
        return Outcome(booking.link_state or "", "given up for now", booking.link_state)
    return Outcome("sync_error", "given up for now", booking.link_state)


def requeue(job: Job, exc: Throttled) -> Outcome:
    """Put a copy back with ``attempt+1``, invisible for the Retry-After delay (no sleep)."""
    msg = job.msg
    attempt = msg.attempt
    if attempt >= job.deps.max_attempts:
        if isinstance(exc, GoogleThrottled):
            return give_up(job, lambda b: reason_google_throttled(attempt), google=True)
        return give_up(job, lambda b: reason_throttled(attempt) if msg.op == "create"
                       else reason_poison(msg.op, attempt, event_only=bool(b.meeting_url)))
    # Retry-After alone on the first attempt; later ones back off exponentially (with jitter) beyond it.
    backoff = job.deps.backoff(attempt) if attempt > 1 or exc.retry_after is None else 0.0
    seconds = queue_messages.retry_delay(exc.retry_after, backoff, cap=MAX_DELAY_SECONDS)
    queue_messages.requeue(job.deps.queue, MEETINGS_QUEUE, msg, seconds)
    log.info("meetings: throttled, re-queued attempt %s in %ss ws=%s booking=%s", attempt + 1, seconds,
             job.ws, job.booking_id)
    return Outcome("requeued", "throttled", requeue_delay=seconds)
