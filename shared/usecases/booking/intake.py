"""Intake: choose the host, place the booking with its locks; its one message is put first.

A booking on its main path costs: the calendar's point read (kept for a few seconds by
``deps.calendars``, so a burst on one calendar reads it once), the invitee's rate-limit counter (one
conditional write), the ``meetings/create`` message, and ONE transaction (booking, locks, the calendar's
counter). The link state is the reconciler's to decide (it reads the host's connections anyway), and so
are the invitee's confirmation, the host's notice and the ``booking.created`` event: the worker sends
them when it handles the message."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from shared.domain import participants
from shared.domain.assignment import choose_round_robin_member
from shared.domain.availability import Interval
from shared.domain.calendar_config import CalendarConfig
from shared.domain.link_rules import stored_link_state
from shared.domain.model import BookingStatus, CalendarProvider, CalendarType, LinkState, MeetingLocation
from shared.domain.slot_locks import tail_minutes
from shared.errors import BookbridgeError, ConcurrencyConflict, Conflict, SlotTaken
from shared.ports import PendingCount, iso_utc
from shared.repositories import bookings as repo
from shared.repositories import calendars as calendar_repo
from shared.repositories.bookings import Booking, MemberStats
from shared.usecases import booking_events
from shared.usecases.availability import find_calendar
from shared.usecases.booking import stranded
from shared.usecases.booking.deps import BookingDeps, BookingRequest, BookingResult
from shared.usecases.booking.idempotency import claim_key, drop_claim, mark_claim
from shared.usecases.booking.locks import commit_new
from shared.usecases.booking.slots import check_start, member_free
from shared.usecases.booking.views import created_body

log = logging.getLogger("bookbridge.booking")


def stored_link(record: calendar_repo.CalendarRecord, host: str) -> LinkState:
    """The link state intake stores, from the calendar alone: ``pending`` for a dynamic location (the
    reconciler decides from the host's connections whether the link can be made or waits), else final."""
    config = record.config
    member = config.member(host)
    return stored_link_state(config.type, member.meeting_location if member else MeetingLocation.NONE)


def provider_fields(config: CalendarConfig, host: str, hosts: list[str]) -> dict[str, Any]:
    """The Google side a booking records at intake: its host's ``calendar_provider`` (rule 28), and the co-hosts
    whose own event is written to Google (``participants_json``, rule 20)."""
    def google(user: str) -> bool:
        member = config.member(user)
        return member is not None and member.calendar_provider is CalendarProvider.GOOGLE

    fields: dict[str, Any] = {"calendar_provider": "google"} if google(host) else {}
    planned = participants.planned([u for u in hosts if u != host and google(u)])
    return {**fields, "participants_json": planned} if planned else fields


def new_booking(deps: BookingDeps, record: calendar_repo.CalendarRecord, host: str, hosts: list[str],
                 slot: Interval, req: BookingRequest, booking_id: str, now: datetime) -> Booking:
    config = record.config
    member = config.member(host)
    location = member.meeting_location if member else MeetingLocation.NONE
    state = stored_link(record, host)
    custom_url = member.custom_url if member and location is MeetingLocation.CUSTOM else None
    stamp = iso_utc(now)
    provider = provider_fields(config, host, hosts)
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
        link_reason=None,
        meeting_url=custom_url if state is LinkState.STATIC else None,
        revision=1,
        created_at=stamp,
        updated_at=stamp,
        reminder_offsets=list(config.reminder_offsets_minutes),
        lock_tail_minutes=tail_minutes(config.buffer_before_minutes, config.buffer_after_minutes) or None,
        extra={**({"invitee_time_format": req.time_format} if req.time_format else {}),
               "request_fingerprint": req.fingerprint(), **provider},
    )


def counts_in_transaction(record: calendar_repo.CalendarRecord) -> bool:
    """True when every booking of the calendar goes to one host's partition (one member; collective: the
    first member's), so the calendar's rate-limit counter can sit there, in the booking's transaction."""
    return record.config.type is CalendarType.COLLECTIVE or len(record.config.users) == 1


def calendar_count(deps: BookingDeps, record: calendar_repo.CalendarRecord, booking: Booking) -> PendingCount | None:
    if deps.limits is None or not counts_in_transaction(record):
        return None
    return deps.limits.calendar_count(record.calendar, record.config.bookings_per_hour, repo.SCHEDULE,
                                      repo.schedule_pk(booking.workspace, booking.host))


def commit_with_intent(deps: BookingDeps, record: calendar_repo.CalendarRecord, booking: Booking,
                       now: datetime) -> None:
    """The booking's ``meetings/create`` message first: it is the reconciler's intent (rule 16), so a stored
    booking always has one (a queue that does not answer is a 503 with nothing stored); the worker waits a
    while for a booking it does not find yet and then drops the message (a commit that failed). Then the
    booking, its locks and its calendar's rate-limit counter (when it counts there) in ONE transaction
    (``SlotTaken`` when the time is taken; the counter changed meanwhile: counted on its own, then the
    booking committed without it)."""
    count = calendar_count(deps, record, booking)  # RateLimited before anything is put
    booking_events.booking_confirmed(deps.queue, booking.workspace, booking.host, booking.id, booking.revision)
    try:
        etags = commit_new(deps.store, booking, now, [count.op] if count else None)
    except ConcurrencyConflict:
        if count is None:
            raise
        count.alone()  # another instance counted meanwhile: nothing was stored
        commit_new(deps.store, booking, now)
        return
    if count is not None:
        count.committed(etags[-1] if etags else None)


def place(deps: BookingDeps, record: calendar_repo.CalendarRecord, slot: Interval, req: BookingRequest,
           booking_id: str, now: datetime) -> tuple[Booking, MemberStats | None]:
    """Choose the host(s), re-check them and commit; 409 when nobody can take the slot."""
    config = record.config
    users = list(config.users)
    if config.type is CalendarType.COLLECTIVE:
        free = member_free(deps, record, users, slot)
        if len(free) != len(users):
            raise Conflict("the slot is no longer free: a host of this collective calendar is busy")
        booking = new_booking(deps, record, users[0], users, slot, req, booking_id, now)
        try:
            commit_with_intent(deps, record, booking, now)
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
        if not member_free(deps, record, [user], slot):
            continue
        booking = new_booking(deps, record, user, [user], slot, req, booking_id, now)
        try:
            commit_with_intent(deps, record, booking, now)
        except SlotTaken:
            continue
        return booking, stats
    raise Conflict("the slot is no longer free: it was just booked or the host is busy")


def after_commit(deps: BookingDeps, record: calendar_repo.CalendarRecord, booking: Booking,
                  stats: MemberStats | None, now: datetime) -> None:
    if stats is not None:
        try:
            repo.record_assignment(deps.store, record.workspace, record.calendar, booking.host, now, stats)
        except BookbridgeError as exc:  # advisory: the booking stands
            log.warning("round-robin stats of %s/%s not updated: %s", record.workspace, record.calendar, exc.code)


def create_booking(deps: BookingDeps, slug: str, req: BookingRequest,
                   idempotency_key: str | None = None) -> BookingResult:
    """Book ``req.start`` on the calendar ``slug``: 201 body, 409 ``Conflict`` when taken, 422 when not a slot."""
    record = find_calendar(deps.store, slug, deps.calendars)
    now = deps.clock.now()
    slot = check_start(record.config, req.start, now)
    booking_id = uuid.uuid4().hex
    claim = None
    if idempotency_key is not None:
        claim, replay = claim_key(deps, record, idempotency_key, req, booking_id, now)
        if replay is not None:
            log.info("idempotent replay of booking %s", replay.body["id"])
            return replay
        assert claim is not None
        booking_id = claim["booking_id"]
    try:
        if deps.limits is not None:
            deps.limits.intake(record.workspace, record.calendar, req.email, record.config.bookings_per_hour,
                               calendar_in_transaction=counts_in_transaction(record))
        booking, stats = place(deps, record, slot, req, booking_id, now)
    except Conflict as exc:
        if claim is not None:
            drop_claim(deps.store, claim)
            raise
        return stranded.replay_or_raise(deps, record, slot, req, now, exc)
    except BaseException:
        if claim is not None:
            drop_claim(deps.store, claim)
        raise
    try:
        after_commit(deps, record, booking, stats, now)
    except BaseException:
        if claim is not None:
            mark_claim(deps.store, claim, booking, "booked")
        raise
    if claim is not None:
        mark_claim(deps.store, claim, booking, "done")
    log.info("booking %s confirmed on %s/%s host %s link %s", booking.id, booking.workspace, booking.calendar,
             booking.host, booking.link_state)
    return BookingResult(created_body(deps, booking))
