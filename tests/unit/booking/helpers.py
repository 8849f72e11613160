"""Shared helpers of the booking tests: an in-process API client over the real handlers, calendar
bodies, connection rows and a getSchedule stand-in for ``responses``."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from shared.bootstrap import Container, install
from shared.settings import Settings

GRAPH = "https://graph.test/v1.0"
SIGNING_KEY = "booking-tests-signing-key-0123456789"
ORIGIN = "https://shop.example"
UTC = UTC
# The booking tests count storage requests and book one invitee many times: the rate-limit tests turn
# the limits they test on again (tests/unit/booking/test_rate_limits.py).
NO_RATE_LIMITS = {"RATE_LIMIT_BOOKINGS_PER_CLIENT": "0", "RATE_LIMIT_SLOTS_PER_CLIENT": "0",
                  "RATE_LIMIT_CONFIRMATIONS_PER_INVITEE": "0", "RATE_LIMIT_BOOKINGS_PER_CALENDAR": "0",
                  "MANAGE_MAX_RESCHEDULES": "0"}


def user_function(fn: Any) -> Callable[[func.HttpRequest], func.HttpResponse]:
    """The plain function behind a Blueprint-decorated handler (azure-functions returns a FunctionBuilder)."""
    return fn.build().get_user_function() if hasattr(fn, "build") else fn


@dataclass
class Resp:
    status: int
    body: Any
    headers: dict[str, str]


def request(fn: Any, method: str, route: dict[str, str] | None = None, *, body: Any = None, raw: bytes | None = None,
            params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Resp:
    """Call a handler in-process with a ``func.HttpRequest``."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    req = func.HttpRequest(method, "http://localhost/api/test", headers=headers or {}, params=params or {},
                           route_params=route or {}, body=data)
    resp = user_function(fn)(req)
    content = resp.get_body() or b""
    return Resp(resp.status_code, json.loads(content) if content else None, dict(resp.headers))


def calendar_body(slug: str, members: list[dict[str, Any]], *, type: str = "personal", **over: Any) -> dict[str, Any]:
    """A calendar: Mon-Fri 09:00-17:00 Europe/Berlin, 30-minute slots, no buffers or notice."""
    week = {d: [{"start": "09:00", "end": "17:00"}] for d in ("monday", "tuesday", "wednesday", "thursday", "friday")}
    body = {"slug": slug, "name": f"Calendar {slug}", "type": type, "timezone": "Europe/Berlin",
            "duration_minutes": 30, "slot_interval_minutes": 30, "weekly_hours": week,
            "buffer_before_minutes": 0, "buffer_after_minutes": 0, "minimum_notice_minutes": 0,
            "max_days_ahead": 60, "reminder_offsets_minutes": [1440, 60], "members": members}
    body.update(over)
    return body


def member(user: str, location: str = "none", provider: str = "none", **over: Any) -> dict[str, Any]:
    return {"user": user, "meeting_location": location, "calendar_provider": provider, **over}


class Api:
    """The public and management API of one installed container."""

    def __init__(self, store: Any, queue: Any, clock: Any, *, tokens: Any = None,
                 settings: dict[str, str] | None = None) -> None:
        env = {"LINK_SIGNING_KEY": SIGNING_KEY, "CORS_ALLOWED_ORIGINS": ORIGIN, "GRAPH_BASE_URL": GRAPH,
               **NO_RATE_LIMITS, **(settings or {})}
        overrides = {"token_provider": tokens} if tokens is not None else {}
        self.container = Container(settings=Settings(env), store=store, queue=queue, clock=clock, **overrides)
        self.store, self.queue, self.clock = store, queue, clock
        install(self.container)

    def work_meetings(self) -> list[Any]:
        """:func:`work_meetings` on this API's store and queue."""
        return work_meetings(self.store, self.queue, self.clock)

    # management
    def put_workspace(self, ws: str, name: str = "Acme") -> Resp:
        from functions import management

        return request(management.management_workspace, "PUT", {"workspace": ws}, body={"name": name})

    def put_user(self, ws: str, user: str, **over: Any) -> Resp:
        from functions import management

        body = {"name": user.title(), "email": f"{user}@acme.test", "timezone": "Europe/Berlin", **over}
        return request(management.management_user, "PUT", {"workspace": ws, "user": user}, body=body)

    def put_calendar(self, ws: str, cal: str, body: Any, *, raw: bytes | None = None) -> Resp:
        from functions import management

        return request(management.management_calendar, "PUT", {"workspace": ws, "calendar": cal}, body=body, raw=raw)

    def get_calendar(self, ws: str, cal: str) -> Resp:
        from functions import management

        return request(management.management_calendar, "GET", {"workspace": ws, "calendar": cal})

    def diagnostics(self, ws: str, cal: str) -> Resp:
        from functions import management

        return request(management.management_calendar_diagnostics, "GET", {"workspace": ws, "calendar": cal})

    def setup(self, ws: str, users: list[str], calendars: dict[str, dict[str, Any]]) -> None:
        assert self.put_workspace(ws).status in (200, 201)
        for u in users:
            assert self.put_user(ws, u).status in (200, 201)
        for cal, body in calendars.items():
            r = self.put_calendar(ws, cal, body)
            assert r.status in (200, 201), r.body

    # public
    def slots(self, slug: str, start: str, end: str, tz: str | None = None, **headers: str) -> Resp:
        from functions import public_booking

        params = {"start": start, "end": end, **({"timezone": tz} if tz else {})}
        return request(public_booking.public_slots, "GET", {"slug": slug}, params=params, headers=headers)

    def book(self, slug: str, start: str, *, key: str | None = None, raw: bytes | None = None,
             **over: Any) -> Resp:
        from functions import public_booking

        body = {"start": start, "name": "Ivy Invitee", "email": "ivy@example.test", "timezone": "Europe/Paris", **over}
        headers = {"Idempotency-Key": key} if key else {}
        return request(public_booking.public_create_booking, "POST", {"slug": slug}, body=body, raw=raw,
                       headers=headers)

    def get(self, booking_id: str, token: str) -> Resp:
        from functions import public_booking

        return request(public_booking.public_get_booking, "GET", {"id": booking_id}, params={"token": token})

    def cancel(self, booking_id: str, token: str) -> Resp:
        from functions import public_booking

        return request(public_booking.public_cancel_booking, "POST", {"id": booking_id}, params={"token": token})

    def reschedule(self, booking_id: str, token: str, start: str) -> Resp:
        from functions import public_booking

        return request(public_booking.public_reschedule_booking, "POST", {"id": booking_id},
                       params={"token": token}, body={"start": start})


def graphless_meeting_deps(store: Any, queue: Any, clock: Any) -> Any:
    """``MeetingDeps`` reading the host's connections from ``store``; a Graph call fails the test."""
    from shared.repositories.connection_reads import get_connection_row
    from shared.usecases.meetings import MeetingDeps

    def no_graph(*_: Any, **__: Any) -> Any:
        raise AssertionError("no Graph call expected here")

    return MeetingDeps(store=store, queue=queue, clock=clock, graph=no_graph, access_token=no_graph,
                       connection=lambda ws, user, kind: get_connection_row(store, ws, user, kind),
                       mark_teams_unavailable=no_graph)


def work_meetings(store: Any, queue: Any, clock: Any) -> list[Any]:
    """Hand every ``meetings`` message sent so far to the meeting worker, once each (no Graph). Intake
    stores a Teams booking ``pending``; the worker decides from the host's connection, and puts the
    confirmation, the host's notice and ``booking.created``."""
    from shared.usecases.meetings import handle_meeting_message

    deps = graphless_meeting_deps(store, queue, clock)
    done = getattr(queue, "_worked", 0)
    messages = queue.on("meetings")
    queue._worked = len(messages)
    return [handle_meeting_message(deps, m) for m in messages[done:]]


def nothing_stored(store: Any, queue: Any) -> bool:
    """No booking, lock, idempotency claim, backfill row or queue message was written."""
    return (store.all("schedule") == [] and store.all("idempotency") == [] and store.all("backfillindex") == []
            and queue.sent == [])


def connect(store: Any, ws: str, user: str, kind: str = "microsoft_calendar", status: str = "connected",
            upn: str | None = None, mailbox: str | None = None) -> None:
    """A connection row as the connections use case writes it (only the fields availability reads)."""
    store.upsert("connections", {"PartitionKey": f"{ws}|{user}", "RowKey": kind, "status": status,
                                 "upn": upn or f"{user}@contoso.test",
                                 "mailbox": f"{user}@contoso.test" if mailbox is None else mailbox})


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ScheduleStandIn:
    """``POST /me/calendar/getSchedule`` for ``responses``: busy items per mailbox, call log, optional barrier."""

    busy: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    barrier: threading.Barrier | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    tokens_seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, req: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(req.body)
        with self.lock:
            self.calls.append(body)
            self.tokens_seen.append(req.headers.get("Authorization", ""))
        if self.barrier is not None:
            self.barrier.wait()
        values = []
        for mailbox in body["schedules"]:
            if mailbox in self.errors:
                values.append({"scheduleId": mailbox, "error": {"message": self.errors[mailbox],
                                                                "responseCode": "ErrorMailboxNotFound"}})
                continue
            items = [{"status": status, "start": {"dateTime": s.rstrip("Z") + ".0000000", "timeZone": "UTC"},
                      "end": {"dateTime": e.rstrip("Z") + ".0000000", "timeZone": "UTC"}}
                     for s, e, status in self.busy.get(mailbox, [])]
            values.append({"scheduleId": mailbox, "availabilityView": "", "scheduleItems": items})
        return 200, {"Content-Type": "application/json"}, json.dumps({"value": values})

    def install(self, rsps: Any) -> None:
        rsps.add_callback("POST", f"{GRAPH}/me/calendar/getSchedule", callback=self)


def graph_path(url: str) -> str:
    return urlsplit(url).path


def day_slots(resp: Resp) -> list[str]:
    return [s["start"] for s in resp.body["slots"]]


def hours(start: str, n: int, step_minutes: int = 30) -> list[str]:
    base = utc(start)
    return [iso(base + timedelta(minutes=step_minutes * i)) for i in range(n)]
