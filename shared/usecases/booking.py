"""Public booking: intake, status, cancel and reschedule, without double booking (rule 13).

Double booking is impossible by construction: a booking row and one ``lock|{cell}`` row per
5-minute cell of its time are created in ONE entity-group transaction in the host's partition of
``schedule`` (``{ws}|{host}``); a second booking of the same host and time hits an existing lock
and the whole transaction fails. Collective bookings lock every member: first the other members'
partitions (sorted by user id, locks only), last the primary host's partition (booking + locks),
which is the commit point; if any step fails the locks already taken are removed again. A lock
older than two minutes whose booking is missing, cancelled or no longer covers the cell (a crash
between partitions) is stale: it is deleted with its ETag and the lock retried.

Storage per intake (personal calendar, no buffers, no Idempotency-Key): slug row (1 read), the
host's ``teams`` connection row when the location is Teams (1 read), ONE transaction, and the
queue messages of ``booking_events``. Round robin adds the stats row read + its ETag update;
buffers add one lock-range query per checked member; Microsoft free/busy adds the member's
connection row, token and one Graph call; an Idempotency-Key adds a claim insert + update.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Iterable, Protocol

from shared.domain.availability import Interval, candidate_slots, member_is_free
from shared.domain.link_rules import initial_link_state
from shared.domain.model import (
    DYNAMIC_LINK_CALENDAR_TYPES,
    BookingStatus,
    CalendarType,
    ConnectionKind,
    LinkState,
    MeetingLocation,
)
from shared.domain.assignment import choose_round_robin_member
from shared.domain.slot_locks import GRID, lock_cells
from shared.errors import (
    BookbridgeError,
    ConcurrencyConflict,
    Conflict,
    NotFound,
    ValidationError,
)
from shared.ports import Clock, EntityExists, EntityStore, MessageQueue, iso_utc, parse_iso_utc
from shared.repositories import bookings as repo
from shared.repositories import calendars as calendar_repo
from shared.repositories.bookings import Booking, MemberStats
from shared.repositories.connection_reads import get_connection_row, status_of
from shared.usecases import booking_events
from shared.usecases.availability import AvailabilityDeps, cell_start, find_calendar, gather

log = logging.getLogger("bookbridge.booking")

MANAGE_PURPOSE = "manage"
STALE_LOCK_AGE = timedelta(minutes=2)
STALE_CLAIM_AGE = timedelta(minutes=2)
LOCK_ATTEMPTS = 3
_BOOKING_ID = re.compile(r"^[0-9a-f]{32}$")
AWAITING = LinkState.AWAITING_CONNECTION.value


class TokenSigner(Protocol):
    """``shared.adapters.signing.Signer``."""

    def sign(self, purpose: str, payload: dict[str, Any]) -> str: ...

    def verify(self, purpose: str, token: str) -> dict[str, Any] | None: ...


@dataclass
class BookingDeps:
    """Ports of the booking use cases."""

    store: EntityStore
    queue: MessageQueue
    clock: Clock
    signer: TokenSigner
    availability: AvailabilityDeps


@dataclass(frozen=True)
class BookingRequest:
    """A validated intake request."""

    start: datetime
    name: str
    email: str
    timezone: str
    notes: str | None = None

    def fingerprint(self) -> str:
        """SHA-256 of the request's content (an Idempotency-Key is bound to one request)."""
        data = {"start": iso_utc(self.start), "name": self.name, "email": self.email,
                "timezone": self.timezone, "notes": self.notes or ""}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class BookingResult:
    """The 201 body of an intake; ``replayed`` when an Idempotency-Key returned an earlier booking."""

    body: dict[str, Any]
    replayed: bool = False


class SlotTaken(Exception):
    """A lock transaction found the time taken (internal; becomes a 409)."""


# ------------------------------------------------------------------ views and tokens
def manage_token(signer: TokenSigner, b: Booking) -> str:
    """The invitee's manage token: signed ``{ws, host, id}`` so GET/cancel/reschedule are point reads."""
    return signer.sign(MANAGE_PURPOSE, {"ws": b.workspace, "host": b.host, "id": b.id})


def _summary(b: Booking) -> dict[str, Any]:
    """The fields every booking body starts with: which booking, its status and its time."""
    return {
        "id": b.id,
        "status": b.status,
        "start": iso_utc(b.start_utc),
        "end": iso_utc(b.end_utc),
        "timezone": b.calendar_timezone,
    }


def booking_view(b: Booking) -> dict[str, Any]:
    """What the manage-token holder sees."""
    shows_link = b.link_state in (LinkState.CREATED.value, LinkState.STATIC.value)
    return {
        **_summary(b),
        "calendar": {"slug": b.calendar_slug, "name": b.calendar_name, "type": b.calendar_type},
        "hosts": b.hosts,
        "invitee": {"name": b.invitee_name, "email": b.invitee_email, "timezone": b.invitee_timezone},
        "notes": b.notes,
        "link_status": b.link_state,
        "link_reason": b.link_reason,
        "meeting_url": b.meeting_url if shows_link else None,
        "revision": b.revision,
        "delivery_error": b.extra.get("delivery_error"),
        "created_at": b.created_at,
        "updated_at": b.updated_at,
    }


def _created_body(deps: BookingDeps, b: Booking) -> dict[str, Any]:
    """The 201 body of an intake (the manage token is handed out only here)."""
    return {
        **_summary(b),
        "calendar": {"slug": b.calendar_slug, "name": b.calendar_name},
        "hosts": b.hosts,
        "link_status": b.link_state,
        "meeting_url": b.meeting_url if b.link_state == LinkState.STATIC.value else None,
        "manage_token": manage_token(deps.signer, b),
    }


def _load(deps: BookingDeps, booking_id: str, token: str | None) -> Booking:
    """The booking a manage token points to; ``NotFound`` for any mismatch (never a hint)."""
    payload = deps.signer.verify(MANAGE_PURPOSE, token or "") if token else None
    if (
        not payload
        or not isinstance(booking_id, str)
        or not _BOOKING_ID.match(booking_id)
        or payload.get("id") != booking_id
        or not isinstance(payload.get("ws"), str)
        or not isinstance(payload.get("host"), str)
    ):
        raise NotFound("no such booking")
    b = repo.get_booking(deps.store, payload["ws"], payload["host"], booking_id)
    if b is None:
        raise NotFound("no such booking")
    return b


# ------------------------------------------------------------------ slot checks
def check_start(config: Any, start: datetime, now: datetime) -> Interval:
    """The slot starting at ``start`` if it is one of the calendar's bookable slots; 422 otherwise."""
    if start < now:
        raise ValidationError("start", "is in the past")
    if start < now + timedelta(minutes=config.minimum_notice_minutes):
        raise ValidationError("start", f"must be at least {config.minimum_notice_minutes} minutes from now "
                                       "(the calendar's minimum notice)")
    if start >= now + timedelta(days=config.max_days_ahead):
        raise ValidationError("start", f"is more than {config.max_days_ahead} days ahead")
    slot = Interval(start, start + timedelta(minutes=config.duration_minutes))
    if slot not in candidate_slots(config, Interval(start, start + timedelta(minutes=1)), now):
        raise ValidationError("start", "is not the start of one of this calendar's slots")
    return slot


def _member_free(deps: BookingDeps, record: calendar_repo.CalendarRecord, users: list[str], slot: Interval,
                 *, exclude: str | None = None, ignore: Interval | None = None) -> list[str]:
    """Which of ``users`` may take ``slot`` right now (Outlook re-read; bookings when buffers apply).

    Without buffers the lock transaction itself decides about bookbridge bookings.
    """
    config = record.config
    buffers = bool(config.buffer_before_minutes or config.buffer_after_minutes)
    availability, booked = gather(deps.availability, record.workspace, record, users, slot,
                                  bookings=buffers, exclude_booking=exclude, ignore=ignore)
    return [u for u in users if config.member(u) is not None
            and member_is_free(config, u, slot, availability.get(u), booked.get(u, []))]


# ------------------------------------------------------------------ locks
def _lock_rows(store: EntityStore, ws: str, user: str, cells: list[str]) -> list[dict[str, Any]]:
    wanted = set(cells)
    rows = store.query(repo.SCHEDULE, repo.schedule_pk(ws, user), row_key_from=cells[0],
                       row_key_to=cells[-1] + "~", select=["booking_id", "booking_host", "created_at", "lock_op"])
    return [r for r in rows if r["RowKey"] in wanted]


def _lock_is_stale(store: EntityStore, ws: str, row: dict[str, Any], now: datetime,
                   seen: dict[tuple[str, str], Booking | None]) -> bool:
    created = row.get("created_at")
    if created and now - parse_iso_utc(created) < STALE_LOCK_AGE:
        return False
    bid, host = row.get("booking_id"), row.get("booking_host")
    if not bid or not host:
        return True
    if (host, bid) not in seen:
        seen[(host, bid)] = repo.get_booking(store, ws, host, bid)
    b = seen[(host, bid)]
    if b is None or b.status != BookingStatus.CONFIRMED.value:
        return True
    start = cell_start(row["RowKey"])
    return not (b.start_utc < start + GRID and start < b.end_utc)


def _clear_stale(store: EntityStore, ws: str, user: str, cells: list[str], now: datetime) -> bool:
    """After a failed lock: remove stale locks in ``cells``; True when a retry may succeed.

    Rows of the same booking are judged like any other (a concurrent reschedule of it holds fresh ones).
    """
    seen: dict[tuple[str, str], Booking | None] = {}
    pk = repo.schedule_pk(ws, user)
    for row in _lock_rows(store, ws, user, cells):
        if not _lock_is_stale(store, ws, row, now, seen):
            return False
        try:
            store.delete(repo.SCHEDULE, pk, row["RowKey"], row.get("_etag"))
            log.warning("removed stale lock in %s for booking %s", pk, row.get("booking_id"))
        except ConcurrencyConflict:
            return False
    return True


def _transact_locks(store: EntityStore, ws: str, user: str, ops: list[Any], cells: list[str],
                    now: datetime) -> None:
    for attempt in range(LOCK_ATTEMPTS):
        try:
            store.transact(repo.SCHEDULE, ops)
            return
        except EntityExists:
            if attempt == LOCK_ATTEMPTS - 1 or not cells or not _clear_stale(store, ws, user, cells, now):
                raise SlotTaken() from None
    raise SlotTaken()


def release_locks(store: EntityStore, ws: str, user: str, cells: list[str], booking_id: str,
                  op: str | None = None) -> None:
    """Delete ``booking_id``'s lock rows among ``cells`` in ``user``'s partition (others are left alone);
    with ``op``, only the rows that request took."""
    if not cells:
        return
    pk = repo.schedule_pk(ws, user)
    rows = [r for r in _lock_rows(store, ws, user, cells)
            if r.get("booking_id") == booking_id and (op is None or r.get("lock_op") == op)]
    if not rows:
        return
    ops = [("delete", {"PartitionKey": pk, "RowKey": r["RowKey"], "_etag": r.get("_etag")}) for r in rows]
    try:
        store.transact(repo.SCHEDULE, ops)
    except (NotFound, ConcurrencyConflict):
        for r in rows:
            try:
                store.delete(repo.SCHEDULE, pk, r["RowKey"], r.get("_etag"))
            except ConcurrencyConflict:
                pass


def _rollback(store: EntityStore, ws: str, users: Iterable[str], cells: list[str], booking_id: str,
              op: str | None = None) -> None:
    for user in users:
        try:
            release_locks(store, ws, user, cells, booking_id, op)
        except Exception as exc:  # noqa: BLE001 - leftovers become stale after two minutes
            log.warning("rollback of locks for booking %s in %s|%s failed: %s", booking_id, ws, user,
                        type(exc).__name__)


def _commit_new(store: EntityStore, booking: Booking, now: datetime) -> None:
    """Lock every host and write the booking (see the module doc); ``SlotTaken`` when the time is taken."""
    ws = booking.workspace
    cells = lock_cells(booking.start_utc, booking.end_utc)
    secondaries = sorted(u for u in booking.host_ids if u != booking.host)
    op = uuid.uuid4().hex
    taken: list[str] = []
    try:
        for user in secondaries:
            ops = [("create", repo.lock_entity(ws, user, c, booking, now, op)) for c in cells]
            _transact_locks(store, ws, user, ops, cells, now)
            taken.append(user)
    except BaseException:
        _rollback(store, ws, taken, cells, booking.id, op)
        raise
    ops = [("create", repo.booking_to_entity(booking))]
    ops += [("create", repo.lock_entity(ws, booking.host, c, booking, now, op)) for c in cells]
    try:
        _transact_locks(store, ws, booking.host, ops, cells, now)
    except SlotTaken:
        _rollback(store, ws, taken, cells, booking.id, op)
        raise
    except BaseException as exc:
        # The commit may have happened before the error reached us: never roll back a booking.
        try:
            committed = repo.get_booking(store, ws, booking.host, booking.id) is not None
        except Exception:  # noqa: BLE001 - unknown: keep the locks (they turn stale if unused)
            raise exc from None
        if committed:
            return
        _rollback(store, ws, taken, cells, booking.id, op)
        raise exc


# ------------------------------------------------------------------ intake
def _link_state(deps: BookingDeps, record: calendar_repo.CalendarRecord, host: str) -> tuple[LinkState, str | None]:
    config = record.config
    member = config.member(host)
    location = member.meeting_location if member else MeetingLocation.NONE
    teams_status = None
    if location is MeetingLocation.TEAMS and config.type in DYNAMIC_LINK_CALENDAR_TYPES:
        teams_status = status_of(get_connection_row(deps.store, record.workspace, host, ConnectionKind.TEAMS.value))
    state = initial_link_state(config.type, location, teams_status)
    reason = None
    if state is LinkState.AWAITING_CONNECTION:
        reason = (f"The host's Microsoft Teams connection is {teams_status.value if teams_status else 'missing'}; "
                  "the Teams link will be added when the host connects Teams again.")
    return state, reason


def _new_booking(deps: BookingDeps, record: calendar_repo.CalendarRecord, host: str, hosts: list[str],
                 slot: Interval, req: BookingRequest, booking_id: str, now: datetime) -> Booking:
    config = record.config
    member = config.member(host)
    location = member.meeting_location if member else MeetingLocation.NONE
    state, reason = _link_state(deps, record, host)
    custom_url = member.custom_url if member and location is MeetingLocation.CUSTOM else None
    stamp = iso_utc(now)
    return Booking(
        id=booking_id,
        workspace=record.workspace,
        calendar=record.calendar,
        calendar_slug=config.slug,
        calendar_name=config.name,
        calendar_type=config.type.value,
        calendar_timezone=config.timezone,
        host=host,
        hosts=[{"user": u, "name": record.profile(u).get("name") or u} for u in hosts],
        invitee_name=req.name,
        invitee_email=req.email,
        invitee_timezone=req.timezone,
        notes=req.notes or None,
        start_utc=slot.start,
        end_utc=slot.end,
        status=BookingStatus.CONFIRMED.value,
        location=location.value,
        custom_url=custom_url,
        link_state=state.value,
        link_reason=reason,
        meeting_url=custom_url if state is LinkState.STATIC else None,
        revision=1,
        created_at=stamp,
        updated_at=stamp,
        reminder_offsets=list(config.reminder_offsets_minutes),
    )


def _place(deps: BookingDeps, record: calendar_repo.CalendarRecord, slot: Interval, req: BookingRequest,
           booking_id: str, now: datetime) -> tuple[Booking, MemberStats | None]:
    """Choose the host(s), re-check them and commit; 409 when nobody can take the slot."""
    config = record.config
    users = list(config.users)
    if config.type is CalendarType.COLLECTIVE:
        free = _member_free(deps, record, users, slot)
        if len(free) != len(users):
            raise Conflict("the slot is no longer free: a host of this collective calendar is busy")
        booking = _new_booking(deps, record, users[0], users, slot, req, booking_id, now)
        try:
            _commit_new(deps.store, booking, now)
        except SlotTaken:
            raise Conflict("the slot is no longer free: it was just booked") from None
        return booking, None

    stats = repo.get_stats(deps.store, record.workspace, record.calendar) if len(users) > 1 else None
    weights = {m.user: m.weight for m in config.members}
    remaining = users[:]
    while remaining:
        user = choose_round_robin_member(remaining, stats.last_booked_at if stats else {}, weights,
                                         stats.counts if stats else {})
        remaining.remove(user)
        if not _member_free(deps, record, [user], slot):
            continue
        booking = _new_booking(deps, record, user, [user], slot, req, booking_id, now)
        try:
            _commit_new(deps.store, booking, now)
        except SlotTaken:
            continue
        return booking, stats
    raise Conflict("the slot is no longer free: it was just booked or the host is busy")


def _after_commit(deps: BookingDeps, record: calendar_repo.CalendarRecord, booking: Booking,
                  stats: MemberStats | None, now: datetime) -> None:
    if booking.link_state == LinkState.AWAITING_CONNECTION.value:
        repo.index_awaiting(deps.store, booking)
    if stats is not None:
        try:
            repo.record_assignment(deps.store, record.workspace, record.calendar, booking.host, now, stats)
        except BookbridgeError as exc:  # advisory: the booking stands
            log.warning("round-robin stats of %s/%s not updated: %s", record.workspace, record.calendar, exc.code)
    booking_events.booking_confirmed(deps.queue, booking.workspace, booking.host, booking.id, booking.revision,
                                     booking.link_state)


def _find_booking(store: EntityStore, ws: str, users: Iterable[str], booking_id: str) -> Booking | None:
    for user in users:
        found = repo.get_booking(store, ws, user, booking_id)
        if found is not None:
            return found
    return None


def _claim(deps: BookingDeps, record: calendar_repo.CalendarRecord, key: str, req: BookingRequest,
           booking_id: str, now: datetime) -> tuple[dict[str, Any] | None, BookingResult | None]:
    """Claim an Idempotency-Key: ``(claim, None)`` to go on, or ``(None, replay)`` for an earlier booking."""
    store = deps.store
    pk, rk = record.config.slug, repo.idempotency_rk(key)
    fingerprint = req.fingerprint()
    entity = {"PartitionKey": pk, "RowKey": rk, "state": "pending", "booking_id": booking_id,
              "ws": record.workspace, "calendar": record.calendar, "fingerprint": fingerprint,
              "created_at": iso_utc(now)}
    for _ in range(4):
        try:
            return {**entity, "_etag": store.insert(repo.IDEMPOTENCY, entity)}, None
        except EntityExists:
            pass
        current = store.get(repo.IDEMPOTENCY, pk, rk)
        if current is None:
            continue
        if current.get("fingerprint") != fingerprint or current.get("ws") != record.workspace:
            raise ValidationError("Idempotency-Key", "was already used for a different booking request")
        state = current.get("state")
        if state in ("done", "booked"):
            b = repo.get_booking(store, current["ws"], current.get("host", ""), current["booking_id"])
        elif now - parse_iso_utc(current["created_at"]) < STALE_CLAIM_AGE:
            raise Conflict("a request with this Idempotency-Key is still being processed; retry shortly")
        else:  # abandoned mid-way: did its booking commit?
            b = _find_booking(store, record.workspace, record.config.users, current["booking_id"])
            if b is None:
                taking = {**entity, "booking_id": current["booking_id"]}
                try:
                    return {**taking, "_etag": store.update(repo.IDEMPOTENCY, taking, current["_etag"])}, None
                except (ConcurrencyConflict, NotFound):
                    continue
        if b is None:
            raise Conflict("the booking made with this Idempotency-Key no longer exists")
        if state != "done":  # its messages may not have gone out
            booking_events.booking_confirmed(deps.queue, b.workspace, b.host, b.id, b.revision, b.link_state)
            _mark_claim(store, {**current}, b, "done")
        return None, BookingResult(_created_body(deps, b), replayed=True)
    raise ConcurrencyConflict("the Idempotency-Key record kept changing; retry")


def _mark_claim(store: EntityStore, claim: dict[str, Any], b: Booking, state: str) -> None:
    try:
        store.update(repo.IDEMPOTENCY, {"PartitionKey": claim["PartitionKey"], "RowKey": claim["RowKey"],
                                        "state": state, "host": b.host, "booking_id": b.id},
                     claim.get("_etag"), merge=True)
    except BookbridgeError as exc:
        log.warning("idempotency record of booking %s not updated: %s", b.id, exc.code)


def _drop_claim(store: EntityStore, claim: dict[str, Any]) -> None:
    try:
        store.delete(repo.IDEMPOTENCY, claim["PartitionKey"], claim["RowKey"], claim.get("_etag"))
    except BookbridgeError as exc:
        log.warning("idempotency claim not released: %s", exc.code)


def create_booking(deps: BookingDeps, slug: str, req: BookingRequest,
                   idempotency_key: str | None = None) -> BookingResult:
    """Book ``req.start`` on the calendar ``slug``: 201 body, 409 ``Conflict`` when taken, 422 when not a slot."""
    record = find_calendar(deps.store, slug)
    now = deps.clock.now()
    slot = check_start(record.config, req.start, now)
    booking_id = uuid.uuid4().hex
    claim = None
    if idempotency_key is not None:
        claim, replay = _claim(deps, record, idempotency_key, req, booking_id, now)
        if replay is not None:
            log.info("idempotent replay of booking %s", replay.body["id"])
            return replay
        assert claim is not None
        booking_id = claim["booking_id"]
    try:
        booking, stats = _place(deps, record, slot, req, booking_id, now)
    except BaseException:
        if claim is not None:
            _drop_claim(deps.store, claim)
        raise
    try:
        _after_commit(deps, record, booking, stats, now)
    except BaseException:
        if claim is not None:
            _mark_claim(deps.store, claim, booking, "booked")
        raise
    if claim is not None:
        _mark_claim(deps.store, claim, booking, "done")
    log.info("booking %s confirmed on %s/%s host %s link %s", booking.id, booking.workspace, booking.calendar,
             booking.host, booking.link_state)
    return BookingResult(_created_body(deps, booking))


# ------------------------------------------------------------------ manage
def get_booking(deps: BookingDeps, booking_id: str, token: str | None) -> dict[str, Any]:
    """The booking (one point read); 404 for a wrong token or id."""
    return booking_view(_load(deps, booking_id, token))


def cancel_booking(deps: BookingDeps, booking_id: str, token: str | None) -> dict[str, Any]:
    """Cancel: booking update + its locks deleted in ONE transaction in the primary partition, then the
    other hosts' locks; idempotent for an already cancelled booking."""
    b = _load(deps, booking_id, token)
    if b.status == BookingStatus.CANCELLED.value:
        return booking_view(b)
    now = deps.clock.now()
    if b.start_utc <= now:
        raise Conflict("the booking has already started and can no longer be cancelled")
    store = deps.store
    cells = lock_cells(b.start_utc, b.end_utc)
    for _ in range(4):
        updated = replace(b, status=BookingStatus.CANCELLED.value, revision=b.revision + 1, updated_at=iso_utc(now))
        own = [r for r in _lock_rows(store, b.workspace, b.host, cells) if r.get("booking_id") == b.id]
        ops: list[Any] = [("update", {**repo.booking_to_entity(updated), "_etag": b.etag})]
        ops += [("delete", {"PartitionKey": b.partition, "RowKey": r["RowKey"], "_etag": r.get("_etag")})
                for r in own]
        try:
            store.transact(repo.SCHEDULE, ops)
            break
        except (ConcurrencyConflict, NotFound):
            fresh = repo.get_booking(store, b.workspace, b.host, b.id)
            if fresh is None:
                raise NotFound("no such booking") from None
            if fresh.status == BookingStatus.CANCELLED.value:
                return booking_view(fresh)
            b = fresh
            cells = lock_cells(b.start_utc, b.end_utc)
    else:
        raise ConcurrencyConflict("the booking kept changing; retry")
    _rollback(store, b.workspace, [u for u in b.host_ids if u != b.host], cells, b.id)
    if b.link_state == LinkState.AWAITING_CONNECTION.value:
        entity = repo.backfill_entity(b)
        store.delete(repo.BACKFILL, entity["PartitionKey"], entity["RowKey"])
    booking_events.booking_cancelled(deps.queue, b.workspace, b.host, b.id, updated.revision)
    log.info("booking %s cancelled (revision %d)", b.id, updated.revision)
    return booking_view(updated)


def reschedule_booking(deps: BookingDeps, booking_id: str, token: str | None, start: datetime) -> dict[str, Any]:
    """Move a booking to ``start`` (same rules as a new booking, same hosts, same id, revision + 1).

    The new cells are locked first (other hosts, then the primary together with the booking update),
    then the old cells are released. The booking's own old time does not block the new one.
    """
    b = _load(deps, booking_id, token)
    if b.status != BookingStatus.CONFIRMED.value:
        raise Conflict("the booking is cancelled and cannot be rescheduled")
    now = deps.clock.now()
    if b.start_utc <= now:
        raise Conflict("the booking has already started and can no longer be rescheduled")
    store = deps.store
    record = calendar_repo.get_calendar(store, b.workspace, b.calendar)
    if record is None:
        raise Conflict("the booking's calendar no longer exists")
    slot = check_start(record.config, start, now)
    if slot.start == b.start_utc and slot.end == b.end_utc:
        return {**booking_view(b), "manage_token": manage_token(deps.signer, b)}
    old = Interval(b.start_utc, b.end_utc)
    hosts = b.host_ids
    free = _member_free(deps, record, hosts, slot, exclude=b.id, ignore=old)
    if len(free) != len(hosts):
        raise Conflict("the new time is not free for the host")

    def moved(current: Booking) -> Booking:
        return replace(current, start_utc=slot.start, end_utc=slot.end, revision=current.revision + 1,
                       updated_at=iso_utc(now))

    updated = moved(b)
    old_cells = lock_cells(old.start, old.end)
    new_cells = lock_cells(slot.start, slot.end)
    add = [c for c in new_cells if c not in set(old_cells)]
    drop = [c for c in old_cells if c not in set(new_cells)]
    ws = b.workspace
    op = uuid.uuid4().hex
    taken: list[str] = []
    try:
        for user in sorted(u for u in hosts if u != b.host):
            if add:
                ops = [("create", repo.lock_entity(ws, user, c, updated, now, op)) for c in add]
                _transact_locks(store, ws, user, ops, add, now)
            taken.append(user)
        current = b
        for attempt in range(4):
            updated = moved(current)
            ops = [("update", {**repo.booking_to_entity(updated), "_etag": current.etag})]
            ops += [("create", repo.lock_entity(ws, b.host, c, updated, now, op)) for c in add]
            try:
                _transact_locks(store, ws, b.host, ops, add, now)
                break
            except ConcurrencyConflict:
                # A worker wrote its own fields (link, Graph ids) meanwhile: go on from its version,
                # unless the booking itself was moved or cancelled.
                fresh = repo.get_booking(store, ws, b.host, b.id)
                if (attempt == 3 or fresh is None or fresh.status != b.status or fresh.revision != b.revision
                        or fresh.start_utc != b.start_utc):
                    raise
                current = fresh
    except SlotTaken:
        _rollback(store, ws, taken, add, b.id, op)
        raise Conflict("the new time is no longer free: it was just booked") from None
    except (ConcurrencyConflict, NotFound):
        _rollback(store, ws, taken, add, b.id, op)
        raise Conflict("the booking was changed at the same time; reload it and try again") from None
    except BaseException as exc:
        # The primary transaction may have committed before the error reached us: never undo that.
        try:
            committed = repo.get_booking(store, ws, b.host, b.id)
        except Exception:  # noqa: BLE001 - unknown: keep the locks (they turn stale if unused)
            raise exc from None
        if committed is None or committed.revision != updated.revision:
            _rollback(store, ws, taken, add, b.id, op)
            raise exc
        updated = committed
    _rollback(store, ws, hosts, drop, b.id)
    if AWAITING in (b.link_state, updated.link_state):
        before = repo.backfill_entity(b)
        if updated.link_state == AWAITING:
            repo.index_awaiting(store, updated)
        store.delete(repo.BACKFILL, before["PartitionKey"], before["RowKey"])
    booking_events.booking_rescheduled(deps.queue, ws, b.host, b.id, updated.revision, updated.link_state)
    log.info("booking %s rescheduled (revision %d)", b.id, updated.revision)
    return {**booking_view(updated), "manage_token": manage_token(deps.signer, updated)}
