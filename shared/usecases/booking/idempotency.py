"""The ``Idempotency-Key`` of an intake: a claim row per key, bound to one request's fingerprint."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shared.errors import (
    BookbridgeError,
    ConcurrencyConflict,
    Conflict,
    NotFound,
    ValidationError,
)
from shared.ports import EntityExists, EntityStore, iso_utc, parse_iso_utc
from shared.repositories import bookings as repo
from shared.repositories import calendars as calendar_repo
from shared.repositories.bookings import Booking
from shared.repositories.optimistic import optimistic_update, starting_with
from shared.usecases import booking_events
from shared.usecases.booking.deps import STALE_CLAIM_AGE, BookingDeps, BookingRequest, BookingResult
from shared.usecases.booking.views import created_body

log = logging.getLogger("bookbridge.booking")


def find_booking(store: EntityStore, ws: str, users: Iterable[str], booking_id: str) -> Booking | None:
    for user in users:
        found = repo.get_booking(store, ws, user, booking_id)
        if found is not None:
            return found
    return None


def claim_key(deps: BookingDeps, record: calendar_repo.CalendarRecord, key: str, req: BookingRequest,
              booking_id: str, now: datetime) -> tuple[dict[str, Any] | None, BookingResult | None]:
    """Claim an Idempotency-Key: ``(claim, None)`` to go on, or ``(None, replay)`` for an earlier booking."""
    store = deps.store
    pk, rk = record.config.slug, repo.idempotency_rk(key)
    fingerprint = req.fingerprint()
    entity = {"PartitionKey": pk, "RowKey": rk, "state": "pending", "booking_id": booking_id,
              "ws": record.workspace, "calendar": record.calendar, "fingerprint": fingerprint,
              "created_at": iso_utc(now)}

    def take(current: dict[str, Any] | None) -> tuple[dict[str, Any] | None, BookingResult | None]:
        if current is None:  # first try, or released in between
            return {**entity, "_etag": store.insert(repo.IDEMPOTENCY, entity)}, None
        if current.get("fingerprint") != fingerprint or current.get("ws") != record.workspace:
            raise ValidationError("Idempotency-Key", "was already used for a different booking request")
        state = current.get("state")
        if state in ("done", "booked"):
            b = repo.get_booking(store, current["ws"], current.get("host", ""), current["booking_id"])
        elif now - parse_iso_utc(current["created_at"]) < STALE_CLAIM_AGE:
            raise Conflict("a request with this Idempotency-Key is still being processed; retry shortly")
        else:  # abandoned mid-way: did its booking commit?
            b = find_booking(store, record.workspace, record.config.users, current["booking_id"])
            if b is None:
                taking = {**entity, "booking_id": current["booking_id"]}
                return {**taking, "_etag": store.update(repo.IDEMPOTENCY, taking, current["_etag"])}, None
        return None, _replay(deps, current, b)

    return optimistic_update(starting_with(None, lambda: store.get(repo.IDEMPOTENCY, pk, rk)), take,
                             what="the Idempotency-Key record", races=(EntityExists, ConcurrencyConflict, NotFound))


def _replay(deps: BookingDeps, claim: dict[str, Any], b: Booking | None) -> BookingResult:
    """The earlier booking of a claimed key (its messages sent again if they may not have gone out)."""
    if b is None:
        raise Conflict("the booking made with this Idempotency-Key no longer exists")
    if claim.get("state") != "done":  # its messages may not have gone out
        booking_events.booking_confirmed(deps.queue, b.workspace, b.host, b.id, b.revision)
        mark_claim(deps.store, {**claim}, b, "done")
    return BookingResult(created_body(deps, b), replayed=True)


def mark_claim(store: EntityStore, claim: dict[str, Any], b: Booking, state: str) -> None:
    try:
        store.update(repo.IDEMPOTENCY, {"PartitionKey": claim["PartitionKey"], "RowKey": claim["RowKey"],
                                        "state": state, "host": b.host, "booking_id": b.id},
                     claim.get("_etag"), merge=True)
    except BookbridgeError as exc:
        log.warning("idempotency record of booking %s not updated: %s", b.id, exc.code)


def drop_claim(store: EntityStore, claim: dict[str, Any]) -> None:
    try:
        store.delete(repo.IDEMPOTENCY, claim["PartitionKey"], claim["RowKey"], claim.get("_etag"))
    except BookbridgeError as exc:
        log.warning("idempotency claim not released: %s", exc.code)
