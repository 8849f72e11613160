"""What the meeting worker reads from and writes to the booking entity.

Every write is ETag-conditional (:func:`apply`). Messages for the communications queue are written to
the booking first (``pending_notices``, an outbox in the same write as the state they announce), then
sent and cleared (:func:`flush_outbox`).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from shared.domain.model import BookingStatus, LinkState
from shared.errors import NotFound
from shared.ports import Entity, iso_utc, parse_iso_utc
from shared.repositories import bookings as bookings_repo
from shared.repositories.optimistic import optimistic_update, starting_with
from shared.usecases import booking_events
from shared.usecases.meetings.deps import Job
from shared.usecases.queue_messages import is_json_int

log = logging.getLogger("bookbridge.meetings")


# ------------------------------------------------------------------ reading the entity
def revision_of(booking: Mapping[str, Any]) -> int:
    """The booking's ``revision`` (0 when unreadable)."""
    try:
        return int(booking.get("revision") or 0)
    except (TypeError, ValueError):
        return 0


def synced_revision(booking: Mapping[str, Any]) -> int:
    """The revision Graph has (``-1`` when never synced)."""
    value = booking.get("graph_synced_revision")
    return int(value) if is_json_int(value) else -1


def has_graph_objects(booking: Mapping[str, Any]) -> bool:
    """True when an event or an online meeting exists in Graph for the booking."""
    return bool(booking.get("graph_event_id") or booking.get("online_meeting_id"))


def own_backfill_rk(booking: Mapping[str, Any], booking_id: str) -> str | None:
    """The booking's ``backfillindex`` RowKey (as :func:`bookings_repo.backfill_entity` writes it); ``None``
    when its start is unreadable."""
    try:
        start = parse_iso_utc(str(booking.get("start_utc") or ""))
    except ValueError:
        return None
    return bookings_repo.backfill_rk(start, booking_id)


def is_cancelled(booking: Mapping[str, Any]) -> bool:
    """True for a cancelled booking."""
    return str(booking.get("status") or "") == BookingStatus.CANCELLED.value


def kinds_of(value: Any) -> list[str]:
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


def confirmation_due(booking: Mapping[str, Any]) -> bool:
    """True when the invitee's confirmation has not gone out yet.

    Intake sends the confirmation itself for every state but ``pending`` (``LinkState.is_final_for_now``);
    a ``pending`` booking's confirmation waits for this worker.
    """
    return (str(booking.get("link_state") or "") == LinkState.PENDING.value
            and booking.get("confirmation_enqueued_revision") is None
            and "confirmation" not in kinds_of(booking.get("pending_notices")))


#: States whose booking went out without its link: a link made later is announced with ``link_update``.
_WAITED_STATES = (LinkState.AWAITING_CONNECTION.value, LinkState.RETRYING.value, LinkState.FAILED.value)


def notices_for(current: Mapping[str, Any], new_state: str) -> list[str]:
    """The communications messages a link-state change announces (from ``current``, as stored now)."""
    prior = str(current.get("link_state") or "")
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
def apply(job: Job, booking: Entity, compute: Callable[[Entity], dict[str, Any] | None]) -> Entity:
    """Write ``compute(current)`` onto the booking, ETag-conditional, re-reading after a lost race."""
    bookings = job.deps.bookings
    assert bookings is not None

    def read() -> Entity:
        fresh = job.load()
        if fresh is None:
            raise NotFound("the booking was deleted")
        return fresh

    def write(current: Entity) -> Entity:
        changes = compute(current)
        if not changes:
            return current
        updated = {**current, **changes, "updated_at": iso_utc(job.deps.clock.now())}
        updated["_etag"] = bookings.save(updated)
        return updated

    return optimistic_update(starting_with(booking, read), write, what="the booking (meeting worker)")


def flush_outbox(job: Job, booking: Entity) -> Entity:
    """Send the communications messages recorded on the booking, then clear them."""
    kinds = kinds_of(booking.get("pending_notices"))
    if not kinds:
        return booking
    revision = revision_of(booking)
    for kind in kinds:
        booking_events.send_communication(job.deps.queue, kind, job.ws, job.host, job.booking_id, revision)
    log.info("meetings: notices %s queued ws=%s booking=%s rev=%s", ",".join(kinds), job.ws,
             job.booking_id, revision)

    def clear(current: Entity) -> dict[str, Any] | None:
        left = [k for k in kinds_of(current.get("pending_notices")) if k not in kinds]
        changes: dict[str, Any] = {"pending_notices": ",".join(left) or None}
        rev = revision  # the revision the messages carried
        for kind in kinds:
            if kind == "confirmation":
                changes["confirmation_enqueued_revision"] = rev
            if kind == "host_notice":
                changes["host_notice_revision"] = rev
            if kind == "link_update" or (kind == "confirmation" and current.get("meeting_url")):
                changes["link_ready_notified_kind"] = kind
                changes["link_ready_notified_revision"] = rev
        return changes

    return apply(job, booking, clear)


def note_sync_error(job: Job, booking: Entity, reason: str) -> Entity:
    """Record why Graph could not be brought in line (visible to admins)."""
    log.warning("meetings: graph sync problem ws=%s booking=%s", job.ws, job.booking_id)
    return apply(job, booking, lambda cur: None if cur.get("graph_sync_error") == reason
                 else {"graph_sync_error": reason})


def index_awaiting(job: Job, booking: Mapping[str, Any]) -> None:
    """Upsert the ``backfillindex`` row the sweep reads (idempotent; shape of the bookings repository)."""
    bookings_repo.index_awaiting(job.deps.store, bookings_repo.booking_from_entity(booking))


def unindex_awaiting(job: Job, booking: Mapping[str, Any]) -> None:
    """Remove the ``backfillindex`` row of a booking that got its link (absent is fine)."""
    row = bookings_repo.backfill_entity(bookings_repo.booking_from_entity(booking))
    job.deps.store.delete(bookings_repo.BACKFILL, row["PartitionKey"], row["RowKey"])


def drop_backfill_rows(job: Job, booking: Mapping[str, Any] | None) -> None:
    """Delete, in this host's ``backfillindex`` partition only, the row a backfill ``create`` came from
    and the booking's own row (repository keys; absent is fine)."""
    pk = bookings_repo.schedule_pk(job.ws, job.host)
    keys = {job.msg.backfill_row} if job.msg.backfill_row else set()
    own = own_backfill_rk(booking, job.booking_id) if booking is not None else None
    if own:
        keys.add(own)
    for rk in sorted(keys):
        job.deps.store.delete(bookings_repo.BACKFILL, pk, rk)


def store_link_result(job: Job, booking: Entity, result: dict[str, Any], snapshot_rev: int) -> Entity:
    """Store the link (or why there is none) with its outbox, ETag-conditional."""
    if not result:
        return booking
    new_state = result.get("link_state")
    if new_state == LinkState.AWAITING_CONNECTION.value:
        index_awaiting(job, booking)
    created_ids = any(result.get(k) for k in ("graph_event_id", "online_meeting_id"))

    def compute(current: Entity) -> dict[str, Any] | None:
        changes: dict[str, Any] = {}
        # Graph ids are kept whatever happened meanwhile: a cancel must find them.
        for key in ("graph_event_id", "online_meeting_id", "invitation_channel", "event_carries_link",
                    "organizer_oid", "organizer_tid"):
            if key in result and result[key] is not None and not current.get(key):
                changes[key] = result[key]
        if created_ids:
            prev = synced_revision(current)
            changes["graph_synced_revision"] = snapshot_rev if prev < 0 else min(prev, snapshot_rev)
        if current.get("meeting_url"):
            pass  # another delivery stored the link first: keep it
        elif new_state is not None and (new_state != current.get("link_state")
                                        or result.get("link_reason") != current.get("link_reason")
                                        or result.get("meeting_url")):
            changes["link_state"] = new_state
            changes["link_reason"] = result.get("link_reason")
            if result.get("meeting_url"):
                changes["meeting_url"] = result["meeting_url"]
            notices = notices_for(current, new_state)
            if notices:
                changes["pending_notices"] = merge_kinds(kinds_of(current.get("pending_notices")), notices)
        return changes or None

    prior_state = str(booking.get("link_state") or "")
    stored = apply(job, booking, compute)
    if (prior_state in (LinkState.AWAITING_CONNECTION.value, LinkState.FAILED.value)
            and stored.get("link_state") == LinkState.CREATED.value):
        unindex_awaiting(job, stored)
    log.info("meetings: link state %s ws=%s booking=%s", stored.get("link_state"), job.ws, job.booking_id)
    return stored
