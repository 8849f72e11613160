"""Sent-records (table ``commsent``): one row per message, claimed before the send, marked after it.

PK ``{ws}|{booking_id}``, RK ``{kind}|{revision}[|{suffix}]`` (the suffix is the offset of a reminder
and the link state of a host notice). See the package doc for the claim protocol.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.errors import ConcurrencyConflict, NotFound
from shared.ports import Entity, EntityExists, iso_utc, parse_iso_utc
from shared.repositories import bookings as bookings_repo
from shared.repositories.optimistic import optimistic_update, starting_with
from shared.usecases.communications.deps import COMMSENT, CommsDeps, Job

log = logging.getLogger("bookbridge.communications")

SENDING, SENT, FAILED, SCHEDULED = "sending", "sent", "failed", "scheduled"


# ------------------------------------------------------------------ keys
def sent_rk(kind: str, revision: int, suffix: str | int | None = None) -> str:
    """Row key of a sent-record: ``{kind}|{revision}[|{suffix}]``."""
    return f"{kind}|{int(revision)}" + (f"|{suffix}" if suffix not in (None, "") else "")


#: The ONE confirmation of a booking (whatever revision it goes out with, and whichever message sends it:
#: a confirmation, a reschedule or link update that finds none sent): a second one cannot be claimed.
CONFIRMATION_RK = sent_rk("confirmation", 1)


def reminders_rk(revision: int) -> str:
    """Row key of the marker saying a revision's reminders were queued."""
    return f"reminders|{int(revision)}"


def idempotency_key(workspace: str, booking_id: str, row_key: str) -> str:
    """The idempotency key of one message (its Message-ID and ACS Operation-Id derive from it)."""
    return f"{workspace}|{booking_id}|{row_key}"


def link_fingerprint(url: str | None) -> str:
    """A short hash of a link (what a sent-record keeps to know the invitee has this link)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:24] if url else ""


def rows_of(rows: Iterable[Entity], kind: str, state: str | None = SENT) -> list[Entity]:
    """The sent-records of ``kind`` (in ``state``; any state for ``None``)."""
    return [r for r in rows if str(r.get("RowKey", "")).startswith(f"{kind}|")
            and (state is None or r.get("state") == state)]


def claim_age(claim: Mapping[str, Any], now: datetime) -> timedelta:
    """How old a ``sending`` claim is (``timedelta.max`` when unreadable)."""
    try:
        return now - parse_iso_utc(str(claim.get("claimed_at") or ""))
    except ValueError:
        return timedelta.max


def safe_code(code: str | None) -> str:
    """An error code fit for storage and logs."""
    cleaned = "".join(ch for ch in str(code or "") if ch.isalnum() or ch in "._-")[:64]
    return cleaned or "delivery_rejected"


# ------------------------------------------------------------------ claims
@dataclass(frozen=True)
class Claim:
    """``claimed`` (``row`` is ours, ``etag`` its ETag), ``done`` (``row`` is sent or failed) or ``busy``
    (another delivery holds a fresh claim: try again in ``wait`` seconds)."""

    status: str
    row: Entity
    etag: str = ""
    wait: int = 0


def claim(job: Job, kind: str, row_key: str) -> Claim:
    """Claim the sent-record ``row_key`` (see the package doc)."""
    deps = job.deps
    now = deps.clock.now()
    row: Entity = {"PartitionKey": job.pk, "RowKey": row_key, "state": SENDING, "kind": kind,
                   "revision": job.msg.revision, "claimed_at": iso_utc(now),
                   "claim_id": uuid.uuid4().hex, "attempt": job.msg.attempt}

    def take(existing: Entity | None) -> Claim:
        if existing is None:  # first try, or released in between: claim it
            return Claim("claimed", row, etag=deps.store.insert(COMMSENT, row))
        if existing.get("state") in (SENT, FAILED):
            return Claim("done", existing)
        age = claim_age(existing, now)
        if age < deps.stale_claim:
            return Claim("busy", existing, wait=int((deps.stale_claim - age).total_seconds()) + 5)
        takeover = {**row, "takeovers": int(existing.get("takeovers") or 0) + 1}
        etag = deps.store.update(COMMSENT, takeover, existing.get("_etag"))
        log.warning("communications: stale claim taken over (resend with the same Message-ID) %s", job.ids())
        return Claim("claimed", takeover, etag=etag)

    try:
        return optimistic_update(starting_with(None, lambda: deps.store.get(COMMSENT, job.pk, row_key)), take,
                                 what="the sent-record", races=(EntityExists, ConcurrencyConflict, NotFound))
    except ConcurrencyConflict:
        return Claim("busy", row, wait=30)


def mark(job: Job, row: Entity, state: str, **fields: Any) -> None:
    """Record the outcome of a claim (unconditional merge: the send happened either way)."""
    entity = {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], "state": state, **fields}
    try:
        job.deps.store.update(COMMSENT, entity, merge=True)
    except NotFound:
        job.deps.store.upsert(COMMSENT, {**row, **entity})


def release(job: Job, row: Entity, etag: str) -> None:
    """Give a claim back after a transient failure (only if it is still ours)."""
    try:
        job.deps.store.delete(COMMSENT, row["PartitionKey"], row["RowKey"], etag)
    except ConcurrencyConflict:
        pass


# ------------------------------------------------------------------ delivery errors
def record_delivery_error(deps: CommsDeps, workspace: str, host: str, booking_id: str, kind: str,
                          code: str) -> bool:
    """Write ``delivery_error = "{kind}:{code}"`` (and ``delivery_error_at``) on the booking, ETag-guarded.

    Returns False when the booking does not exist.
    """
    pk, rk = bookings_repo.schedule_pk(workspace, host), bookings_repo.booking_rk(booking_id)
    value = f"{kind}:{safe_code(code)}"

    def write(current: Entity | None) -> bool:
        if current is None:
            return False
        if current.get("delivery_error") != value:
            patch = {"PartitionKey": pk, "RowKey": rk, "delivery_error": value,
                     "delivery_error_at": iso_utc(deps.clock.now())}
            deps.store.update(bookings_repo.SCHEDULE, patch, current.get("_etag"), merge=True)
            log.warning("communications: delivery_error %s recorded ws=%s booking=%s", value, workspace, booking_id)
        return True

    try:
        return optimistic_update(lambda: deps.store.get(bookings_repo.SCHEDULE, pk, rk), write,
                                 what="the booking (delivery_error)")
    except NotFound:
        return False


def job_delivery_error(job: Job, kind: str, code: str) -> bool:
    """:func:`record_delivery_error` for the booking of ``job``."""
    msg = job.msg
    return record_delivery_error(job.deps, msg.workspace, msg.host, msg.booking_id, kind, code)
