"""Shared helpers of the communications tests: seeded bookings, a recording transport, a queue that
keeps visibility delays on a test clock, and a loop that plays the Functions host."""
from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.adapters.signing import Signer
from shared.domain.calendar_config import CalendarConfig, MemberConfig
from shared.domain.model import CalendarType, MeetingLocation
from shared.repositories import bookings as bookings_repo
from shared.repositories import calendars as calendars_repo
from shared.repositories import workspaces as workspaces_repo
from shared.repositories.bookings import Booking
from shared.usecases.communications import COMMUNICATIONS_QUEUE, CommsDeps, Outcome, handle_communication

SIGNING_KEY = "communications-tests-signing-key-0123456789"
UTC = UTC
TEAMS_URL = ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjQ5ZTQ2YjMtZWI4Yy00MzQ4%40thread.v2/0"
             "?context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%2c%22Oid%22%3a%22"
             "550fae72-d251-43ec-868c-373732c2704f%22%7d&anon=true")
HOST_EMAIL = "hana.host@contoso.example"
INVITEE_EMAIL = "ana.invitee@example.com"


# ------------------------------------------------------------------ transport
class RecordingTransport:
    """A ``MailTransport`` that keeps what it is given; ``failures`` are raised first, in order."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.failures: list[BaseException] = []
        self.attempts = 0
        self.before_send: Callable[[Any], None] | None = None
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        with self._lock:
            self.attempts += 1
            failure = self.failures.pop(0) if self.failures else None
        if self.before_send is not None:
            self.before_send(message)
        if failure is not None:
            raise failure
        with self._lock:
            self.sent.append(message)

    def kinds(self) -> list[str]:
        return [m.headers.get("X-Bookbridge-Kind", "") for m in self.sent]


# ------------------------------------------------------------------ queue with time
@dataclass
class Queued:
    queue: str
    message: dict[str, Any]
    visible_at: datetime
    visibility_timeout: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


class TimedQueue:
    """``MessageQueue`` on a test clock: a message becomes visible ``visibility_timeout`` seconds after
    it was sent (at most 7 days, like Storage queues, which refuse longer delays)."""

    MAX_VISIBILITY = 7 * 24 * 3600

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.items: list[Queued] = []
        self.log: list[Queued] = []
        self._lock = threading.Lock()

    def send(self, queue: str, message: dict[str, Any], *, visibility_timeout: int = 0) -> None:
        assert 0 <= visibility_timeout <= self.MAX_VISIBILITY, "storage queues allow at most 7 days"
        item = Queued(queue, copy.deepcopy(message), self.clock.now() + timedelta(seconds=visibility_timeout),
                      visibility_timeout)
        with self._lock:
            self.items.append(item)
            self.log.append(item)

    def on(self, queue: str) -> list[dict[str, Any]]:
        """Every message ever sent to ``queue`` (in order)."""
        return [i.message for i in self.log if i.queue == queue]

    def pending(self, queue: str = COMMUNICATIONS_QUEUE) -> list[Queued]:
        with self._lock:
            return [i for i in self.items if i.queue == queue]

    def take_visible(self, queue: str = COMMUNICATIONS_QUEUE) -> list[Queued]:
        """Remove and return the messages visible now, oldest visibility first."""
        now = self.clock.now()
        with self._lock:
            ready = sorted((i for i in self.items if i.queue == queue and i.visible_at <= now),
                           key=lambda i: i.visible_at)
            for item in ready:
                self.items.remove(item)
        return ready

    def next_visible_at(self, queue: str = COMMUNICATIONS_QUEUE) -> datetime | None:
        pending = self.pending(queue)
        return min((i.visible_at for i in pending), default=None)


def drain(deps: CommsDeps, queue: TimedQueue, *, limit: int = 200) -> list[tuple[dict[str, Any], Outcome]]:
    """Process every visible ``communications`` message (and what they queue that is visible at once)."""
    done: list[tuple[dict[str, Any], Outcome]] = []
    for _ in range(limit):
        ready = queue.take_visible()
        if not ready:
            return done
        for item in ready:
            done.append((item.message, handle_communication(deps, item.message)))
    raise AssertionError("the queue did not drain")


# ------------------------------------------------------------------ seeded data
def new_deps(store: Any, queue: Any, mail: Any, clock: Any, **over: Any) -> CommsDeps:
    return CommsDeps(store=store, queue=queue, mail=mail, clock=clock, signer=Signer(SIGNING_KEY),
                     public_base_url="https://book.example.test", mail_from="Bookings <bookings@bookbridge.test>",
                     **over)


def seed_calendar(store: Any, ws: str, calendar: str, host: str, *, offsets: tuple[int, ...] = (1440, 60),
                  name: str = "Intro call") -> None:
    config = CalendarConfig(
        slug=f"{calendar}-slug", name=name, type=CalendarType.PERSONAL, timezone="Europe/Berlin",
        duration_minutes=30, slot_interval_minutes=30, reminder_offsets_minutes=offsets,
        members=(MemberConfig(user=host, meeting_location=MeetingLocation.TEAMS),))
    record = calendars_repo.CalendarRecord(ws, calendar, config, {host: {"name": "Hana Host", "email": HOST_EMAIL}})
    store.upsert(calendars_repo.CALENDARS, calendars_repo.calendar_entity(record))


def seed_host(store: Any, ws: str, host: str, *, email: str = HOST_EMAIL, name: str = "Hana Host") -> None:
    workspaces_repo.put_user(store, ws, host, name, email, "Europe/Berlin", "2026-11-01T00:00:00Z")


def make_booking(ws: str, host: str, calendar: str, start: datetime, **over: Any) -> Booking:
    values: dict[str, Any] = dict(
        id=uuid.uuid4().hex, workspace=ws, calendar=calendar, calendar_slug=f"{calendar}-slug",
        calendar_name="Intro call", calendar_type="personal", calendar_timezone="Europe/Berlin", host=host,
        hosts=[{"user": host, "name": "Hana Host"}], invitee_name="Ana Invitee", invitee_email=INVITEE_EMAIL,
        invitee_timezone="America/New_York", start_utc=start, end_utc=start + timedelta(minutes=30),
        status="confirmed", location="teams", link_state="created", meeting_url=TEAMS_URL, revision=1,
        created_at="2026-11-01T00:00:00Z", updated_at="2026-11-01T00:00:00Z", reminder_offsets=[1440, 60],
        extra={"invitation_channel": "ics", "online_meeting_id": "om-1"},
    )
    extra = over.pop("extra", None)
    values.update(over)
    if extra is not None:
        values["extra"] = {**values["extra"], **extra}
    return Booking(**values)


def put_booking(store: Any, booking: Booking) -> Booking:
    store.upsert(bookings_repo.SCHEDULE, bookings_repo.booking_to_entity(booking))
    return bookings_repo.get_booking(store, booking.workspace, booking.host, booking.id)  # type: ignore[return-value]


def update_booking(store: Any, booking: Booking, **changes: Any) -> Booking:
    current = bookings_repo.get_booking(store, booking.workspace, booking.host, booking.id)
    assert current is not None
    extra = changes.pop("extra", None)
    for name, value in changes.items():
        setattr(current, name, value)
    if extra:
        current.extra.update(extra)
    return put_booking(store, current)


def stored_booking(store: Any, booking: Booking) -> dict[str, Any]:
    entity = store.get(bookings_repo.SCHEDULE, bookings_repo.schedule_pk(booking.workspace, booking.host),
                       bookings_repo.booking_rk(booking.id))
    assert entity is not None
    return entity


def message(kind: str, booking: Booking, revision: int | None = None, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "workspace": booking.workspace, "host": booking.host, "booking_id": booking.id,
            "revision": booking.revision if revision is None else revision, **extra}


def seed_world(store: Any, start: datetime, *, offsets: tuple[int, ...] = (1440, 60), **booking: Any) -> Booking:
    ws, host, calendar = f"ws{uuid.uuid4().hex[:8]}", f"u{uuid.uuid4().hex[:8]}", f"c{uuid.uuid4().hex[:8]}"
    seed_host(store, ws, host)
    seed_calendar(store, ws, calendar, host, offsets=offsets)
    return put_booking(store, make_booking(ws, host, calendar, start, **booking))


def text_of(msg: Any) -> str:
    return str(msg.text)


def ics_of(msg: Any) -> bytes | None:
    for att in msg.attachments:
        if att.content_type.startswith("text/calendar"):
            return bytes(att.content)
    return None
