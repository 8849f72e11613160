"""End-to-end fixtures: the whole local stack (``devhost.stack.Stack``) in-process, on free ports.

A test module gets ONE stack (module scope: Azurite, the SMTP sink, the Microsoft stand-in and the
Functions host running ``function_app.app``), configured by the module's optional ``STACK_OVERRIDES``
(fields of ``devhost.stack.StackConfig``, e.g. ``standin_latency_ms``; ``host_json_overrides`` are merged
over fast queue polling). Only one stack runs per process at a time: the functions read ``os.environ``
and the process-wide composition root, which the stack sets and restores.

Tests talk to it the way people and the embedding product do, over HTTP, through
``devhost.smoke.Client`` (``client`` fixture): management API, the scripted sign-in, the public
booking API, the stand-in's ``/_sandbox/`` API and the SMTP sink's outbox. Each test seeds its own
workspace (``new_workspace``) so tests never share bookings or connections.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from devhost.smoke import FAST_HOST_JSON, Client, StepFailed, smoke_stack_config


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The running stack of this test module."""
    from devhost.stack import Stack

    overrides = dict(getattr(request.module, "STACK_OVERRIDES", {}))
    values = overrides.pop("values", None)
    host_json = json.loads(json.dumps(FAST_HOST_JSON))
    for key, value in (overrides.pop("host_json_overrides", None) or {}).items():
        host_json.setdefault(key, {}).update(value)
    folder = tmp_path_factory.mktemp("e2e-stack")
    config = smoke_stack_config(folder, host_json_overrides=host_json, **overrides)
    config.values.update(values or {})  # a module's settings over the test stack's
    with Stack(config) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack: Any) -> Client:
    """HTTP helper bound to the module's stack."""
    return Client(stack.describe())


@dataclass
class Workspace:
    """A workspace seeded for one test."""

    client: Client
    id: str
    calendars: dict[str, str] = field(default_factory=dict)

    def user(self, user: str, name: str | None = None) -> str:
        """Create a user (e-mail ``{user}@{workspace}.example``) and return its id."""
        self.client.put_user(self.id, user, name or user.title(), f"{user}@{self.id}.example")
        return user

    def calendar(self, calendar: str, body: dict[str, Any]) -> str:
        """Create a calendar (slug ``{workspace}-{calendar}``) and return its slug."""
        slug = f"{self.id}-{calendar}"
        self.client.put_calendar(self.id, calendar, {"slug": slug, **body})
        self.calendars[calendar] = slug
        return slug


@pytest.fixture
def new_workspace(client: Client) -> Callable[[str], Workspace]:
    """Make an empty workspace with a fresh id (``{prefix}-{random}``)."""

    def make(prefix: str = "e2e") -> Workspace:
        ws = f"{prefix}-{secrets.token_hex(4)}"
        resp = client.mgmt("PUT", f"/workspaces/{ws}", json={"name": f"e2e {ws}"})
        assert resp.status_code in (200, 201), resp.text
        return Workspace(client, ws)

    return make


def admin_booking(client: Client, ws: str, booking_id: str) -> dict[str, Any]:
    """``GET /api/workspaces/{ws}/bookings/{id}``: the admin view of a booking (checked 200)."""
    resp = client.mgmt("GET", f"/workspaces/{ws}/bookings/{booking_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def around_the_clock_calendar(user: str, *, duration: int = 15, provider: str = "none",
                              reminders: list[int] | None = None) -> dict[str, Any]:
    """A calendar body bookable all day every day in UTC (many slots for bursts), Teams as location."""
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    return {"name": "E2E calendar", "type": "personal", "timezone": "UTC", "duration_minutes": duration,
            "slot_interval_minutes": duration, "weekly_hours": {d: [{"start": "00:00", "end": "24:00"}] for d in days},
            "minimum_notice_minutes": 60, "max_days_ahead": 30, "reminder_offsets_minutes": reminders or [],
            "members": [{"user": user, "meeting_location": "teams", "calendar_provider": provider}]}


def book_many(client: Client, slug: str, starts: list[str], prefix: str, workers: int = 10) -> list[dict[str, Any]]:
    """Book every start at once (``workers`` concurrent requests); the 201 bodies, in ``starts`` order."""

    def one(i_start: tuple[int, str]) -> dict[str, Any]:
        i, start = i_start
        return client.book_ok(slug, start, f"Invitee {i}", f"{prefix}-{i}@invitee.example", "UTC")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, enumerate(starts)))


def wait_all(client: Client, bookings: list[dict[str, Any]], states: tuple[str, ...], timeout: float) -> list[dict]:
    """Poll until every booking's ``link_status`` is in ``states``; the final views (fails on timeout)."""
    import time

    deadline = time.monotonic() + timeout
    final: dict[str, dict[str, Any]] = {}
    while True:
        for b in bookings:
            if b["id"] not in final:
                view = client.booking(b["id"], b["manage_token"])
                if view["link_status"] in states:
                    final[b["id"]] = view
        if len(final) == len(bookings):
            return [final[b["id"]] for b in bookings]
        if time.monotonic() >= deadline:
            pending = [client.booking(b["id"], b["manage_token"]) for b in bookings if b["id"] not in final]
            summary = {}
            for v in pending:
                summary[v["link_status"]] = summary.get(v["link_status"], 0) + 1
            raise StepFailed(f"{len(pending)} of {len(bookings)} bookings not in {states} after {timeout:.0f} s: "
                             f"{summary}; e.g. {pending[0].get('link_reason')}")
        time.sleep(0.5)
