"""Bookings converge (issue 15, rules 16-18) through the local host, Azurite, the SMTP sink and the Microsoft stand-in.

* A Graph outage longer than the queue's retries: the booking is ``retrying`` (not ``failed``), and the timer
  sweep makes its link once Graph answers again (the stand-in's injected 500s, ``/_sandbox/failures``).
* Reconnecting Teams as another account moves the upcoming meetings to it: a new link each, one update e-mail each,
  the old meeting kept as an orphan for a person (its account's token is no longer the host's).
* A calendar reconnect repairs a missed event: the calendar's token was revoked when the booking was made (a sync
  error, shown), and reconnecting the calendar writes the event carrying the link.
* Book, then reschedule twice at once: one confirmation, never a reschedule notice sent as a second one.
* A calendar changed through the management API is booked as it is now, although intake keeps a copy of the
  calendar for a few seconds (``CALENDAR_CACHE_SECONDS``): another host, a slug given up.

The sweep runs through the host's admin API (``POST /admin/functions/{name}``), as ``make smoke`` starts it; a
retry is due one minute after the failure (rule 16), so the outage test waits for it by polling, never asserting
a duration.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from devhost.smoke import Client, run_sweep, wait_for

from .conftest import Workspace, around_the_clock_calendar
from .conftest import admin_booking as admin

ALICE, BOB, CAROL = "alice@contoso.example", "bob@contoso.example", "carol@fabrikam.example"
CREATE_OR_GET = r"^/v1\.0/me/onlineMeetings/createOrGet$"


def host_calendar(client: Client, new_workspace: Callable[[str], Workspace], prefix: str,
                  provider: str = "none") -> tuple[Workspace, str]:
    ws = new_workspace(prefix)
    ws.user("host")
    return ws, ws.calendar("intro", around_the_clock_calendar("host", provider=provider))


def test_a_graph_outage_longer_than_the_queue_retries_ends_created_after_retrying(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    ws, slug = host_calendar(client, new_workspace, "outage")
    client.connect_ok(ws.id, "host", "teams", ALICE)
    client.sandbox("POST", "/_sandbox/failures", {"path_regex": CREATE_OR_GET, "method": "POST", "status": 500,
                                                  "count": 1000, "code": "ServiceUnavailable"})
    try:
        booked = client.book_ok(slug, client.slots(slug, days=3)[50], "Ona", "ona@invitee.example")
        retrying = client.wait_link_status(booked, ("retrying",), timeout=120)
        assert retrying["link_status"] == "retrying"
        view = admin(client, ws.id, booked["id"])
        assert view["next_attempt_at"] and view["link_reason"]
        client.wait_mail("ona@invitee.example", "confirmation")  # the invitee is not kept waiting for the link
    finally:
        client.sandbox("DELETE", "/_sandbox/failures")

    def swept() -> dict[str, Any] | None:  # the retry is due a minute after the failure: run the sweep until then
        current = client.booking(booked["id"], booked["manage_token"])
        if current["link_status"] == "created":
            return current
        run_sweep(client)
        return None

    created = wait_for(swept, timeout=240, interval=5, what="the sweep's retry")
    assert created["meeting_url"]
    update = client.wait_mail("ona@invitee.example", "link_update")
    assert created["meeting_url"] in update.text
    states = [h["state"] for h in admin(client, ws.id, booked["id"])["history"]]
    assert "retrying" in states and states[-1].startswith("created")


def test_reconnecting_teams_as_another_account_moves_each_meeting_with_one_update(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    ws, slug = host_calendar(client, new_workspace, "switch")
    client.connect_ok(ws.id, "host", "teams", ALICE)
    starts = client.slots(slug, days=3)
    invitees = ["sam@invitee.example", "tia@invitee.example"]
    first = [client.book_ok(slug, starts[40 + 4 * i], f"Guest {i}", who) for i, who in enumerate(invitees)]
    linked = [client.wait_link_status(b) for b in first]
    client.connect_ok(ws.id, "host", "teams", BOB)  # another Microsoft account: its reconnect repairs at once

    def moved(b: dict[str, Any], old: str) -> dict[str, Any] | None:
        view = client.booking(b["id"], b["manage_token"])
        return view if view["link_status"] == "created" and view["meeting_url"] not in (None, old) else None

    for booking, before in zip(first, linked, strict=True):
        after = wait_for(lambda b=booking, o=before["meeting_url"]: moved(b, o), what="the meeting moved")
        bobs = client.sandbox("GET", f"/_sandbox/meetings?upn={BOB}")["value"]
        assert after["meeting_url"] in {m["joinWebUrl"] for m in bobs}  # organized by the new account
        view = admin(client, ws.id, booking["id"])
        assert view["organizer"]["oid"] and [o["join_url"] for o in view["orphans"]] == [before["meeting_url"]]
    for who, booking in zip(invitees, first, strict=True):
        link = client.booking(booking["id"], booking["manage_token"])["meeting_url"]
        update = client.wait_mail(who, "link_update")
        assert link in update.text
        assert len(client.mails(who, "link_update")) == 1 and len(client.mails(who, "confirmation")) == 1


def test_a_calendar_reconnect_repairs_a_missed_event(client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    ws, slug = host_calendar(client, new_workspace, "calfix", provider="none")
    client.connect_ok(ws.id, "host", "teams", ALICE)
    client.connect_ok(ws.id, "host", "microsoft_calendar", CAROL)  # another account: Teams-only + an event
    client.sandbox("POST", f"/_sandbox/accounts/{CAROL}/revoke", {"reason": "revoked"})
    booked = client.book_ok(slug, client.slots(slug, days=3)[30], "Uma", "uma@invitee.example")
    linked = client.wait_link_status(booked)
    view = wait_for(lambda: (lambda v: v if v["graph_sync_error"] else None)(admin(client, ws.id, booked["id"])),
                    what="the missed event shown as a sync error")
    assert "reconnect" in view["graph_sync_error"].lower()
    assert client.connection(ws.id, "host", "microsoft_calendar")["status"] == "needs_reauth"

    client.connect_ok(ws.id, "host", "microsoft_calendar", CAROL)  # the reconnect repairs at once
    event = wait_for(lambda: next((e["event"] for e in client.sandbox("GET", f"/_sandbox/events?upn={CAROL}")["value"]
                                   if (e["event"].get("location") or {}).get("locationUri") == linked["meeting_url"]),
                                  None), what="the event written after the reconnect")
    assert event["subject"]
    wait_for(lambda: admin(client, ws.id, booked["id"])["graph_sync_error"] is None, what="the sync error cleared")


def test_book_then_reschedule_twice_at_once_sends_one_confirmation(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    ws, slug = host_calendar(client, new_workspace, "twice")
    client.connect_ok(ws.id, "host", "teams", ALICE)
    starts = client.slots(slug, days=3)
    who = "vic@invitee.example"
    booked = client.book_ok(slug, starts[20], "Vic", who)

    def reschedule(start: str) -> int:
        resp = client.http.post(f"{client.base}/api/bookings/{booked['id']}/reschedule",
                                params={"token": booked["manage_token"]}, json={"start": start}, timeout=60)
        return resp.status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(reschedule, [starts[24], starts[28]]))
    assert 200 in statuses and set(statuses) <= {200, 409}, statuses
    final = client.wait_link_status(booked)
    # the invitee hears of the last time: a reschedule notice of the final revision (or the confirmation itself)
    wait_for(lambda: any(final["start"][11:16] in m.text for m in client.mails(who)
                         if m.kind in ("reschedule", "confirmation")), what="the final time announced")
    confirmations = client.mails(who, "confirmation")
    assert len(confirmations) == 1, [m.path.name for m in confirmations]
    assert all(m.kind != "cancellation" for m in client.mails(who))


def test_a_changed_calendar_is_booked_as_it_is_now_through_the_same_host(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    ws = new_workspace("copy")
    ws.user("ann")
    ws.user("ben")
    body = around_the_clock_calendar("ann")
    body["members"][0]["meeting_location"] = "none"
    slug = ws.calendar("intro", body)
    starts = client.slots(slug, days=2)
    first = client.book_ok(slug, starts[4], "Ida", "ida@invitee.example")  # the host keeps a copy now
    assert admin(client, ws.id, first["id"])["host"] == "ann"
    body["members"][0]["user"] = "ben"
    client.put_calendar(ws.id, "intro", {"slug": slug, **body})
    second = client.book_ok(slug, starts[8], "Ivo", "ivo@invitee.example")
    assert admin(client, ws.id, second["id"])["host"] == "ben"
    client.put_calendar(ws.id, "intro", {"slug": f"{slug}-new", **body})
    gone = client.book(slug, starts[12], "Ada", "ada@invitee.example")
    assert gone.status_code == 404, gone.text
    assert client.book(f"{slug}-new", starts[12], "Ada", "ada@invitee.example").status_code == 201
