"""What the meeting worker reads from and writes to the booking (``shared.repositories.bookings.Booking``).

Every write is ETag-conditional (:func:`apply`). Messages for the communications queue are written to
the booking first (``pending_notices``, an outbox in the same write as the state they announce), then
sent and cleared (:func:`flush_outbox`).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import timedelta

from shared.domain.model import BookingStatus, LinkState
from shared.errors import BookbridgeError, NotFound, StorageUnavailable
from shared.ports import iso_utc
from shared.repositories import bookings as bookings_repo
from shared.repositories.bookings import Booking
from shared.repositories.optimistic import optimistic_update, starting_with
from shared.usecases import booking_events
from shared.usecases.meetings.deps import Job
from shared.usecases.queue_messages import is_json_int
from shared.usecases.webhooks import emit as webhook_events

log = logging.getLogger("bookbridge.meetings")

#: A change of the booking as read now: the booking to write, or ``None`` when nothing changes.
Change = Callable[[Booking], Booking | None]


# ------------------------------------------------------------------ reading the booking
def revision_of(booking: Booking) -> int:
    """The booking's ``revision`` (0 when unreadable)."""
    try:
        return int(booking.revision or 0)
    except (TypeError, ValueError):
        return 0


def synced_revision(booking: Booking) -> int:
    """The revision Graph has (``-1`` when never synced)."""
    value = booking.graph_synced_revision
    return value if value is not None and is_json_int(value) else -1


def has_graph_objects(booking: Booking) -> bool:
    """True when an event or an online meeting exists in Graph for the booking."""
    return bool(booking.graph_event_id or booking.online_meeting_id)


def own_backfill_rk(booking: Booking) -> str:
    """The booking's ``backfillindex`` RowKey (as :func:`bookings_repo.backfill_entity` writes it)."""
    return bookings_repo.backfill_rk(booking.start_utc, booking.id)


def is_cancelled(booking: Booking) -> bool:
    """True for a cancelled booking."""
    return booking.status == BookingStatus.CANCELLED.value


def kinds_of(value: str | None) -> list[str]:
    """The kinds of a comma-separated ``pending_notices`` value."""
    return [k for k in str(value or "").split(",") if k]


def merge_kinds(*groups: list[str]) -> str | None:
    """The kinds of all groups, each once, comma-separated (``None`` when there are none)."""
    seen: list[str] = []
    for group in groups:
        for kind in group:
            if kind not in seen:
                seen.append(kind)
    return ",".join(seen) or None


def with_notices(booking: Booking, kinds: list[str]) -> str | None:
    """The booking's ``pending_notices`` with ``kinds`` added."""
    return merge_kinds(kinds_of(booking.pending_notices), kinds)


def confirmation_due(booking: Booking) -> bool:
    """True when the invitee's confirmation has not gone out yet.

    Intake sends the confirmation itself for every state but ``pending`` (``LinkState.is_final_for_now``);
    a ``pending`` booking's confirmation waits for this worker.
    """
    return (booking.link_state == LinkState.PENDING.value
            and booking.confirmation_enqueued_revision is None
            and "confirmation" not in kinds_of(booking.pending_notices))


#: States whose booking went out without its link: a link made later is announced with ``link_update``.
_WAITED_STATES = (LinkState.AWAITING_CONNECTION.value, LinkState.RETRYING.value, LinkState.FAILED.value)


def notices_for(current: Booking, new_state: str) -> list[str]:
    """The communications messages a link-state change announces (from ``current``, as stored now)."""
    prior = current.link_state
    due = confirmation_due(current)
    if new_state in (LinkState.CREATED.value, LinkState.STATIC.value):
        if due:
            return ["confirmation"]
        if prior in _WAITED_STATES and new_state == LinkState.CREATED.value:
            return ["link_update"]
        return []
    if new_state in (LinkState.AWAITING_CONNECTION.value, LinkState.FAILED.value):
        kinds = ["confirmation"] if due else []
        if prior != new_state:  # the host is told once per state, not once per attempt
            kinds.append("host_notice")
        return kinds
    return ["confirmation"] if due else []


# ------------------------------------------------------------------ writing it
def apply(job: Job, booking: Booking, change: Change) -> Booking:
    """Write ``change(current)`` (the booking as read now), ETag-conditional, re-reading after a lost race."""
    bookings = job.deps.bookings
    assert bookings is not None

    def read() -> Booking:
        fresh = job.load()
        if fresh is None:
            raise NotFound("the booking was deleted")
        return fresh

    def write(current: Booking) -> Booking:
        changed = change(current)
        if changed is None:
            return current
        updated = replace(changed, updated_at=iso_utc(job.deps.clock.now()), etag=current.etag)
        updated.etag = bookings.save(updated)
        webhook_events.link_event(job.deps.queue, current, updated, store=job.deps.store)
        return updated

    return optimistic_update(starting_with(booking, read), write, what="the booking (meeting worker)")


def _sent(kinds: list[str], revision: int, current: Booking) -> Booking:
    """``current`` once the messages of ``kinds`` (carrying ``revision``) went out."""
    left = [k for k in kinds_of(current.pending_notices) if k not in kinds]
    updated = replace(current, pending_notices=",".join(left) or None)
    for kind in kinds:
        if kind == "confirmation":
            updated.confirmation_enqueued_revision = revision
        if kind == "host_notice":
            updated.host_notice_revision = revision
        if kind == "link_update" or (kind == "confirmation" and current.meeting_url):
            updated.link_ready_notified_kind = kind
            updated.link_ready_notified_revision = revision
    return updated


def flush_outbox(job: Job, booking: Booking) -> Booking:
    """Send the communications messages recorded on the booking, then clear them. When the queue does not take
    them, the booking gets a next attempt in the due index first (:func:`outbox_retry`), then the error goes on."""
    kinds = kinds_of(booking.pending_notices)
    if not kinds:
        return booking
    revision = revision_of(booking)
    try:
        for kind in kinds:
            booking_events.send_communication(job.deps.queue, kind, job.ws, job.host, job.booking_id, revision)
    except StorageUnavailable:
        outbox_retry(job, booking)
        raise
    log.info("meetings: notices %s queued ws=%s booking=%s rev=%s", ",".join(kinds), job.ws,
             job.booking_id, revision)
    return apply(job, booking, lambda cur: _sent(kinds, revision, cur))


#: When the sweep flushes an outbox the queue did not take (the message that wrote it may stay invisible for long).
OUTBOX_RETRY = timedelta(minutes=1)


def outbox_retry(job: Job, booking: Booking) -> None:
    """The queue service did not take the booking's messages: a due row (and ``next_attempt_at``) lets the
    sweep flush the outbox without waiting for this message's redelivery (``still_retrying`` keeps it while
    ``pending_notices`` waits). Best effort: storage may be down too, and the redelivery remains."""
    from shared.usecases.reconcile import due

    if booking.next_attempt_at:
        return  # a next attempt is already due: it flushes the outbox first
    due_at = iso_utc(job.deps.clock.now() + OUTBOX_RETRY)
    try:
        due.schedule(job.deps.store, booking, due_at)
        apply(job, booking, lambda cur: None if cur.next_attempt_at else replace(cur, next_attempt_at=due_at))
    except BookbridgeError as exc:
        log.warning("meetings: outbox retry not scheduled (%s) ws=%s booking=%s", exc.code, job.ws, job.booking_id)


def note_sync_error(job: Job, booking: Booking, reason: str) -> Booking:
    """Record why Graph could not be brought in line (visible to admins)."""
    log.warning("meetings: graph sync problem ws=%s booking=%s", job.ws, job.booking_id)
    return apply(job, booking, lambda cur: None if cur.graph_sync_error == reason
                 else replace(cur, graph_sync_error=reason))


def unindex_awaiting(job: Job, booking: Booking) -> None:
    """Remove the ``backfillindex`` row of a booking that got its link (absent is fine)."""
    row = bookings_repo.backfill_entity(booking)
    job.deps.store.delete(bookings_repo.BACKFILL, row["PartitionKey"], row["RowKey"])


def drop_backfill_rows(job: Job, booking: Booking | None) -> None:
    """Delete, in this host's ``backfillindex`` partition only, the row a backfill ``create`` came from
    and the booking's own row (repository keys; absent is fine)."""
    pk = bookings_repo.schedule_pk(job.ws, job.host)
    keys = {job.msg.backfill_row} if job.msg.backfill_row else set()
    if booking is not None:
        keys.add(own_backfill_rk(booking))
    for rk in sorted(keys):
        job.deps.store.delete(bookings_repo.BACKFILL, pk, rk)


# ------------------------------------------------------------------ the link's result
@dataclass
class LinkResult:
    """What making the link gave: its state (``None``: unchanged) and the Graph objects made."""

    link_state: str | None = None
    link_reason: str | None = None
    meeting_url: str | None = None
    graph_event_id: str | None = None
    online_meeting_id: str | None = None
    invitation_channel: str | None = None
    event_carries_link: bool | None = None
    organizer_oid: str | None = None
    organizer_tid: str | None = None

    @property
    def empty(self) -> bool:
        """True when nothing was made or decided."""
        return all(getattr(self, f.name) is None for f in fields(self))


#: Graph ids (and how they were made) are kept whatever happened meanwhile: a cancel must find them.
_KEPT = ("graph_event_id", "online_meeting_id", "invitation_channel", "event_carries_link", "organizer_oid",
         "organizer_tid")


def _with_link(result: LinkResult, snapshot_rev: int, current: Booking) -> Booking | None:
    """``current`` with the link result stored (``None`` when it changes nothing)."""
    updated = replace(current)
    for key in _KEPT:
        value = getattr(result, key)
        if value is not None and not getattr(current, key):
            setattr(updated, key, value)
    if result.graph_event_id or result.online_meeting_id:
        prev = synced_revision(current)
        updated.graph_synced_revision = snapshot_rev if prev < 0 else min(prev, snapshot_rev)
    new_state = result.link_state
    if current.meeting_url:
        pass  # another delivery stored the link first: keep it
    elif new_state is not None and (new_state != current.link_state or result.link_reason != current.link_reason
                                    or result.meeting_url):
        updated.link_state = new_state
        updated.link_reason = result.link_reason
        if result.meeting_url:
            updated.meeting_url = result.meeting_url
        notices = notices_for(current, new_state)
        if notices:
            updated.pending_notices = with_notices(current, notices)
    return None if updated == current else updated


def store_link_result(job: Job, booking: Booking, result: LinkResult, snapshot_rev: int) -> Booking:
    """Store the link (or why there is none) with its outbox, ETag-conditional."""
    if result.empty:
        return booking
    if result.link_state == LinkState.AWAITING_CONNECTION.value:
        bookings_repo.index_awaiting(job.deps.store, booking)  # the row the backfill sweep reads (idempotent)
    prior_state = booking.link_state
    stored = apply(job, booking, lambda cur: _with_link(result, snapshot_rev, cur))
    if (prior_state in (LinkState.AWAITING_CONNECTION.value, LinkState.FAILED.value)
            and stored.link_state == LinkState.CREATED.value):
        unindex_awaiting(job, stored)
    log.info("meetings: link state %s ws=%s booking=%s", stored.link_state, job.ws, job.booking_id)
    return stored
