"""Seed the demo workspace of ``make run`` through the management API (idempotent: PUTs only).

The demo workspace ``demo`` has two users and two calendars, both with Microsoft Teams as location:

* ``alex`` (the host; stand-in account ``alice@contoso.example``) on the personal calendar
  ``demo-intro`` and on the round robin ``demo-team``; Outlook free/busy (``calendar_provider:
  microsoft``) hides alex's busy slots once alex's Outlook calendar is connected (until then alex's
  free/busy cannot be read and alex counts as busy: rule 12, fail closed);
* ``sam`` (the round robin's second member; stand-in account ``bob@contoso.example``) with Teams as
  location and no free/busy provider: only bookbridge's own bookings block sam;
* ``gina`` (the round robin's third member, issue 20; Google stand-in account ``gina@example.com``) with
  Google Calendar as provider: her Google free/busy is read once her ``google_calendar`` is connected (busy
  until then: fail closed), and her bookings are written to her Google calendar with the invitee invited.

:func:`seed_workspace` is also what ``make smoke`` (``devhost.smoke``) uses to seed its own,
fresh workspace with the same calendars under other slugs.
"""
from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from typing import Any

import requests

from devhost.run_notes import calendar_notes, certificate_notes, connect_link_notes

log = logging.getLogger("devhost.demo")

WORKSPACE = "demo"
SLUG_PREFIX = "demo"
HOST_USER = "alex"
HOST_ACCOUNT = "alice@contoso.example"  # a stand-in work account with Teams and an Outlook calendar
SECOND_USER = "sam"
SECOND_ACCOUNT = "bob@contoso.example"
GOOGLE_USER = "gina"
GOOGLE_ACCOUNT = "gina@example.com"  # an account of the Google stand-in
TIMEZONE = "Europe/Berlin"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


class SeedError(RuntimeError):
    """The management API refused part of the seed."""


def demo_users() -> list[tuple[str, dict[str, Any]]]:
    """The demo's users: ``(user id, PUT body)``."""
    return [
        (HOST_USER, {"name": "Alex Host", "email": "alex@demo.example", "timezone": TIMEZONE}),
        (SECOND_USER, {"name": "Sam Colleague", "email": "sam@demo.example", "timezone": TIMEZONE}),
        (GOOGLE_USER, {"name": "Gina Google", "email": "gina@demo.example", "timezone": TIMEZONE}),
    ]


def demo_calendars(slug_prefix: str = SLUG_PREFIX) -> list[tuple[str, dict[str, Any]]]:
    """The demo's calendars ``(calendar id, PUT body)``: a personal one and a round robin, Teams as location."""
    hours = {day: [{"start": "09:00", "end": "17:00"}] for day in WEEKDAYS}
    common = {"timezone": TIMEZONE, "duration_minutes": 30, "slot_interval_minutes": 30,
              "weekly_hours": hours, "buffer_before_minutes": 0, "buffer_after_minutes": 0,
              "minimum_notice_minutes": 60, "max_days_ahead": 60, "reminder_offsets_minutes": [1440, 60]}
    host = {"user": HOST_USER, "meeting_location": "teams", "calendar_provider": "microsoft"}
    second = {"user": SECOND_USER, "meeting_location": "teams", "calendar_provider": "none"}
    google = {"user": GOOGLE_USER, "meeting_location": "none", "calendar_provider": "google"}
    return [
        ("intro", {"slug": f"{slug_prefix}-intro", "name": "Intro call", "type": "personal", **common,
                   "members": [host]}),
        ("team", {"slug": f"{slug_prefix}-team", "name": "Talk to the team", "type": "round_robin", **common,
                  "members": [host, second, google]}),
    ]


def _session(function_key: str) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # loopback: no proxy
    s.headers["x-functions-key"] = function_key
    return s


def seed_workspace(base_url: str, function_key: str, workspace: str = WORKSPACE,
                   slug_prefix: str = SLUG_PREFIX, *, name: str = "Demo workspace") -> dict[str, Any]:
    """PUT the workspace, its users and calendars; raise :class:`SeedError` naming every refusal.

    Returns ``{"workspace", "host", "second", "calendars": {calendar id: slug}}``.
    """
    s = _session(function_key)
    steps: list[tuple[str, dict[str, Any]]] = [(f"/api/workspaces/{workspace}", {"name": name})]
    steps += [(f"/api/workspaces/{workspace}/users/{user}", body) for user, body in demo_users()]
    calendars = demo_calendars(slug_prefix)
    steps += [(f"/api/workspaces/{workspace}/calendars/{cid}", body) for cid, body in calendars]
    problems: list[str] = []
    for path, body in steps:
        resp = s.put(base_url + path, json=body, timeout=30)
        if resp.status_code not in (200, 201):
            problems.append(f"PUT {path} -> {resp.status_code} {resp.text[:300]}")
    if problems:
        raise SeedError("; ".join(problems))
    return {"workspace": workspace, "host": HOST_USER, "second": SECOND_USER, "google": GOOGLE_USER,
            "calendars": {cid: body["slug"] for cid, body in calendars}}


def connect_link(base_url: str, function_key: str, workspace: str, user: str, kind: str) -> str:
    """A fresh one-time connect link (``kind``: ``teams`` or ``microsoft_calendar``)."""
    resp = _session(function_key).post(
        f"{base_url}/api/workspaces/{workspace}/users/{user}/connections/{kind}/connect-links", json={}, timeout=30)
    if resp.status_code != 201:
        raise SeedError(f"connect link for {workspace}/{user}/{kind} -> {resp.status_code} {resp.text[:300]}")
    return str(resp.json()["url"])


def connection_status(base_url: str, function_key: str, workspace: str, user: str) -> dict[str, str]:
    """``{kind: status}`` of a user's connections (empty when they cannot be read)."""
    try:
        resp = _session(function_key).get(f"{base_url}/api/workspaces/{workspace}/users/{user}/connections",
                                          timeout=30)
        return {c["kind"]: c["status"] for c in resp.json().get("connections", [])} if resp.ok else {}
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return {}


def _next_weekday(today: date) -> date:
    day = today + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def seed_demo(stack: Any) -> dict[str, Any]:
    """Seed the ``demo`` workspace on a running :class:`devhost.stack.Stack`; return what a person needs.

    Never raises for the API's answers: problems are listed under ``"problems"`` (and logged), so the
    stack still starts and says what went wrong.
    """
    base, key = stack.base_url, stack.function_key
    standin = getattr(stack, "standin", None) is not None
    problems: list[str] = []
    slugs = {cid: body["slug"] for cid, body in demo_calendars()}
    try:
        seed_workspace(base, key)
    except (SeedError, requests.RequestException) as exc:
        problems.append(str(exc))
    links: dict[str, str | None] = {}
    for label, user, kind in (("alex_teams", HOST_USER, "teams"), ("alex_calendar", HOST_USER, "microsoft_calendar"),
                              ("sam_teams", SECOND_USER, "teams"), ("gina_google", GOOGLE_USER, "google_calendar")):
        try:
            links[label] = connect_link(base, key, WORKSPACE, user, kind)
        except (SeedError, requests.RequestException) as exc:
            links[label] = None
            problems.append(str(exc))
    status = {user: connection_status(base, key, WORKSPACE, user) for user in (HOST_USER, SECOND_USER, GOOGLE_USER)}
    for p in problems:
        log.warning("demo seeding: %s", p)

    def state(user: str, kind: str) -> str:
        return status.get(user, {}).get(kind) or "unknown"

    def account(upn: str) -> str:
        return f"sign in as {upn}" if standin else "sign in with a Microsoft work or school account"

    intro, team = slugs["intro"], slugs["team"]
    day = _next_weekday(date.today()).isoformat()
    booking_body = json.dumps({"start": f"{day}T09:00:00Z", "name": "Ivy Invitee", "email": "ivy@example.com",
                               "timezone": TIMEZONE})
    instructions = [
        f"demo workspace '{WORKSPACE}': host '{HOST_USER}' on slug {intro} (personal) and {team} (round robin with "
        f"'{SECOND_USER}'), Teams as location",
        f"1. connect Teams for {HOST_USER} (now: {state(HOST_USER, 'teams')}; {account(HOST_ACCOUNT)}):",
        f"     {links['alex_teams']}",
        f"2. connect the Outlook calendar of {HOST_USER} for free/busy (now: {state(HOST_USER, 'microsoft_calendar')};"
        f" {account(HOST_ACCOUNT)}; until then {HOST_USER}'s slots stay hidden):",
        f"     {links['alex_calendar']}",
        f"   optional, the round robin's second member: connect Teams for {SECOND_USER} "
        f"({account(SECOND_ACCOUNT)}): {links['sam_teams']}",
        f"   the round robin's Google member: connect Google Calendar for {GOOGLE_USER} (now: "
        f"{state(GOOGLE_USER, 'google_calendar')}; "
        f"{'sign in as ' + GOOGLE_ACCOUNT if standin else 'sign in with a Google account'}): {links['gina_google']}",
        f"3. book on the booking page: {base}/api/book/{intro}   (round robin: {base}/api/book/{team})",
        f"   or with curl: curl '{base}/api/calendars/{intro}/slots?start={day}&end={day}&timezone={TIMEZONE}'",
        f"                 curl -X POST '{base}/api/calendars/{intro}/bookings' -H 'Content-Type: application/json'"
        f" -d '{booking_body}'",
        f"   then: curl '{base}/api/bookings/<id>?token=<manage_token>' (link_status, meeting_url); the invitee's "
        f"page: {base}/api/manage/<id>?token=<manage_token> (the emails' \"Manage your booking\" link)",
        f"4. received emails (.eml): {stack.outbox_dir}",
    ]
    google_standin = getattr(stack, "google_standin", None)
    if google_standin is not None:
        instructions.append(f"   the Google stand-in's sandbox: {google_standin.base_url}/_sandbox/accounts  "
                            f"(events: /_sandbox/events?email={GOOGLE_ACCOUNT})")
    if standin:
        instructions.append(f"   the Microsoft stand-in's sandbox: {stack.standin.base_url}/_sandbox/  "
                            f"(events: /_sandbox/events?upn={HOST_ACCOUNT})")
    calendars = [{"id": cid, "slug": body["slug"], "type": body["type"]} for cid, body in demo_calendars()]
    instructions += calendar_notes(WORKSPACE, calendars)
    instructions += connect_link_notes(base, key, WORKSPACE, HOST_USER)
    if standin:
        instructions += certificate_notes(stack.standin.base_url, stack.standin.ca_bundle_path)
    if problems:
        instructions.append("seeding problems (see the log): " + "; ".join(problems)[:500])
    return {"workspace": WORKSPACE, "host": HOST_USER, "host_account": HOST_ACCOUNT if standin else None,
            "connect_url": links["alex_teams"], "calendar_connect_url": links["alex_calendar"],
            "second_connect_url": links["sam_teams"], "google_user": GOOGLE_USER,
            "google_connect_url": links["gina_google"],
            "booking_page": f"{base}/api/book/{intro}", "calendars": calendars,
            "connections": status, "problems": problems, "instructions": instructions}
