"""Intake: choose the host, place the booking with its locks, then tell the workers."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from shared.domain.assignment import choose_round_robin_member
from shared.domain.availability import Interval
from shared.domain.link_rules import initial_link_state
from shared.domain.model import (
    DYNAMIC_LINK_CALENDAR_TYPES,
    BookingStatus,
    CalendarType,
    ConnectionKind,
    LinkState,
    MeetingLocation,
)
from shared.errors import (
    BookbridgeError,
    Conflict,
    SlotTaken,
)
from shared.ports import iso_utc
from shared.repositories import bookings as repo
from shared.repositories import calendars as calendar_repo
from shared.repositories.bookings import Booking, MemberStats
from shared.repositories.connection_reads import get_connection_row, status_of
from shared.usecases import booking_events
from shared.usecases.availability import find_calendar
from shared.usecases.booking import stranded
from shared.usecases.booking.deps import BookingDeps, BookingRequest, BookingResult
from shared.usecases.booking.idempotency import claim_key, drop_claim, mark_claim
from shared.usecases.booking.locks import commit_new
from shared.usecases.booking.slots import check_start, member_free
from shared.usecases.booking.views import created_body
from shared.usecases.reconcile import due

#: When the sweep takes over a booking no worker handled (a lost message, a crash after the commit).
INTENT_DELAY = timedelta(minutes=2)

log = logging.getLogger("bookbridge.booking")


def initial_link(deps: BookingDeps, record: calendar_repo.CalendarRecord, host: str) -> tuple[LinkState, str | None]:
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


def new_booking(deps: BookingDeps, record: calendar_repo.CalendarRecord, host: str, hosts: list[str],
                 slot: Interval, req: BookingRequest, booking_id: str, now: datetime) -> Booking:
    config = record.config
    member = config.member(host)
    location = member.meeting_location if member else MeetingLocation.NONE
    state, reason = initial_link(deps, record, host)
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
        # the reconciler's intent (rule 16): if no worker handled the booking by then, the sweep does
        next_attempt_at=iso_utc(now + INTENT_DELAY),
        extra={**({"invitee_time_format": req.time_format} if req.time_format else {}),
               "request_fingerprint": req.fingerprint()},
    )


def commit_with_intent(deps: BookingDeps, booking: Booking, now: datetime) -> None:
    """The booking's due row first (``reconciledue``, the intent the sweep finds without scanning), then the
    booking and its locks in one transaction (``SlotTaken`` when the time is taken). A due row left by a
    failed commit wakes the reconciler once, which finds no booking and deletes it."""
    due.schedule(deps.store, booking, str(booking.next_attempt_at))
    commit_new(deps.store, booking, now)


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
            commit_with_intent(deps, booking, now)
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
            commit_with_intent(deps, booking, now)
        except SlotTaken:
            continue
        return booking, stats
    raise Conflict("the slot is no longer free: it was just booked or the host is busy")


def after_commit(deps: BookingDeps, record: calendar_repo.CalendarRecord, booking: Booking,
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


def create_booking(deps: BookingDeps, slug: str, req: BookingRequest,
                   idempotency_key: str | None = None) -> BookingResult:
    """Book ``req.start`` on the calendar ``slug``: 201 body, 409 ``Conflict`` when taken, 422 when not a slot."""
    record = find_calendar(deps.store, slug)
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
        if deps.intake_guard is not None:
            deps.intake_guard(record.workspace, record.calendar, req.email, record.config.bookings_per_hour)
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
