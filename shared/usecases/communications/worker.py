"""The entry points of the communications worker: one ``communications`` / ``communications-poison``
message."""
from __future__ import annotations

import logging
from typing import Any

from shared.errors import DeliveryRejected, TransientError
from shared.ports import iso_utc
from shared.repositories.bookings import Booking
from shared.usecases import queue_messages
from shared.usecases.communications.cohosts import INVITE, cohost_sends, compose_cohost, invitee_rows
from shared.usecases.communications.compose import compose, message_id
from shared.usecases.communications.decide import INVITEE_UPDATES, Later, Send, Skip, decide, is_cancelled
from shared.usecases.communications.deps import COMMUNICATIONS_QUEUE, MAX_BACKOFF_SECONDS, CommsDeps, Job
from shared.usecases.communications.messages import CommsMessage, Outcome
from shared.usecases.communications.reminders import ensure_reminders
from shared.usecases.communications.sent_records import (
    FAILED,
    SENT,
    claim,
    job_delivery_error,
    mark,
    release,
    safe_code,
    sent_rk,
)
from shared.usecases.queue_messages import parse_or_drop

log = logging.getLogger("bookbridge.communications")


def run(job: Job) -> Outcome:
    """Decide what ``job``'s message sends, then send it (or skip, or come back later)."""
    b = job.load_booking()
    if b is None:
        log.warning("communications: booking not found %s", job.ids())
        return Outcome("skipped", "booking not found")
    if job.msg.revision > b.revision:
        raise TransientError("the booking's revision is older than the message's: not visible yet")
    now = job.deps.clock.now()
    job.load_rows()
    if job.msg.kind == INVITE:
        return send_each(job, cohost_sends(b, job.rows), b)
    job.rows = invitee_rows(job.rows)  # what a co-host was e-mailed says nothing of what the invitee has
    decision = decide(job.msg, b, job.rows, now, job.deps.stale_claim)
    if isinstance(decision, Skip):
        return Outcome(decision.action, decision.reason)
    if isinstance(decision, Later):
        if decision.count_attempt:
            return retry_later(job, decision.delay, decision.reason)
        queue_messages.requeue(job.deps.queue, COMMUNICATIONS_QUEUE, job.msg, decision.delay, count_attempt=False)
        return Outcome("requeued", decision.reason, requeue_delay=decision.delay)
    return send(job, decision, b)


def send(job: Job, decision: Send, b: Booking) -> Outcome:
    """Claim, send, then record it sent (see the package doc)."""
    deps = job.deps
    claimed = claim(job, decision.kind, decision.row_key)
    if claimed.status == "done":
        if claimed.row.get("state") == SENT and decision.kind in INVITEE_UPDATES:
            ensure_reminders(job, b)  # the attempt that sent it may have died before queuing them
        return Outcome("duplicate", f"already {claimed.row.get('state')}", decision.kind)
    if claimed.status == "busy":
        return retry_later(job, claimed.wait, "another delivery is sending it")
    row = claimed.row
    try:
        mail = compose_cohost(job, decision, b) if decision.cohost else compose(job, decision, b)
        deps.mail.send(mail.message)
    except DeliveryRejected as exc:
        code = safe_code(exc.code)
        mark(job, row, FAILED, error_code=code, failed_at=iso_utc(deps.clock.now()))
        job_delivery_error(job, decision.kind, code)
        log.warning("communications: delivery refused (%s) %s", code, job.ids())
        return Outcome("rejected", code, decision.kind)
    except TransientError as exc:
        release(job, row, claimed.etag)
        delay = queue_messages.retry_delay(exc.retry_after, deps.backoff(job.msg.attempt), cap=MAX_BACKOFF_SECONDS)
        return retry_later(job, delay, "transient send failure", kind=decision.kind)
    except Exception:
        release(job, row, claimed.etag)
        raise
    # Sent: record it first (a later failure must never resend), then queue the reminders (a
    # redelivery finds the record ``sent`` and queues them if the marker row is missing).
    mark(job, row, SENT, sent_at=iso_utc(deps.clock.now()), link_sha=mail.link_sha, ics=mail.ics_method,
         message_id=message_id(deps, mail.message.idempotency_key), booking_revision=b.revision)
    log.info("communications: sent %s %s", decision.kind, job.ids())
    if decision.kind in INVITEE_UPDATES:
        ensure_reminders(job, b)
    return Outcome("sent", "", decision.kind)


def send_each(job: Job, decisions: list[Send], b: Booking) -> Outcome:
    """Send each of ``decisions`` (the co-hosts' e-mails); a re-queued one stops the rest (the copy redoes them,
    and what was sent is a duplicate then)."""
    outcome = Outcome("skipped", "no co-host to e-mail")
    for decision in decisions:
        outcome = send(job, decision, b)
        if outcome.action in ("requeued", "gave_up"):
            return outcome
    return outcome


def retry_later(job: Job, delay: int, reason: str, *, kind: str | None = None) -> Outcome:
    """Re-queue with ``attempt+1``; after ``max_attempts`` give up and explain it on the booking."""
    msg = job.msg
    if msg.attempt >= job.deps.max_attempts:
        kind = kind or msg.kind
        job_delivery_error(job, kind, "retries_exhausted")
        log.warning("communications: gave up after %d attempts %s", msg.attempt, job.ids())
        return Outcome("gave_up", reason, kind)
    queue_messages.requeue(job.deps.queue, COMMUNICATIONS_QUEUE, msg, delay)
    log.info("communications: re-queued attempt %d in %ds (%s) %s", msg.attempt + 1, delay, reason, job.ids())
    return Outcome("requeued", reason, kind, requeue_delay=delay)


def handle_communication(deps: CommsDeps, message: Any) -> Outcome:
    """Process one ``communications`` message. Returns normally = acknowledge; raises = let the host retry."""
    msg = parse_or_drop(CommsMessage.parse, message, "communications", log)
    if isinstance(msg, str):
        return Outcome("invalid", msg)
    job = Job(deps, msg)
    outcome = run(job)
    log.info("communications: %s -> %s (%s) %s", msg.kind, outcome.action, outcome.detail, job.ids())
    return outcome


def handle_poison_message(deps: CommsDeps, message: Any) -> Outcome:
    """A message that failed ``maxDequeueCount`` times: record ``delivery_error`` on the booking (unless it
    was sent after all, or is a reminder that no longer applies)."""
    msg = parse_or_drop(CommsMessage.parse, message, "communications-poison", log)
    if isinstance(msg, str):
        return Outcome("invalid", msg)
    job = Job(deps, msg)
    prefix = sent_rk(msg.kind, msg.revision, msg.offset_minutes)
    if any(r.get("state") == SENT and (r["RowKey"] == prefix or r["RowKey"].startswith(prefix + "|"))
           for r in job.load_rows()):
        return Outcome("skipped", "sent after all", msg.kind)
    if msg.kind == "reminder":
        b = job.load_booking()
        if b is None or b.revision != msg.revision or is_cancelled(b):
            return Outcome("skipped", "reminder no longer relevant")
    # A ``sending`` claim the failed attempts may have left is taken over by the next message of
    # that key once stale; the claim is not closed here, so a later link update can still be sent.
    found = job_delivery_error(job, msg.kind, "retries_exhausted")
    log.warning("communications-poison: %s %s", "delivery_error recorded" if found else "booking gone", job.ids())
    return Outcome("failed", "poison", msg.kind)
