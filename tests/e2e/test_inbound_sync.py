"""Inbound sync (issue 19, rule 19) through the local host and the Microsoft stand-in.

The host connects Teams and the Outlook calendar (the stand-in validates the notification URL against the
local host when the subscription is made); a booking's event is then deleted or moved "in Outlook" (the
stand-in's ``/_sandbox/accounts/{upn}/events/{id}/delete|move``), Graph's change notification reaches
``POST /api/notifications/microsoft``, the ``inbound`` worker re-reads the event and the booking follows:
cancelled with one cancellation e-mail, or moved with the same link and one reschedule e-mail. A notification
with a wrong ``clientState`` changes nothing; the renewal timer asks Graph nothing for a subscription far from
its expiry. (The lapse and its recovery: ``test_inbound_lapse.py``.)
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import requests

from devhost.smoke import Client, wait_for

from .conftest import Workspace, around_the_clock_calendar

ALICE = "alice@contoso.example"


def subscription_ids(client: Client) -> set[str]:
    return {s["id"] for s in client.sandbox("GET", "/_sandbox/subscriptions")["value"]
            if s["upn"] == ALICE and not s["expired"]}


def connect_host(client: Client, new_workspace: Callable[[str], Workspace], prefix: str) -> tuple[Workspace, str, str]:
    """A host with Teams and the Outlook calendar of ALICE; returns the workspace, the slug and the new
    subscription's id (made by the inbound worker after the calendar connected)."""
    ws = new_workspace(prefix)
    ws.user("host")
    slug = ws.calendar("intro", around_the_clock_calendar("host"))
    before = subscription_ids(client)
    client.connect_ok(ws.id, "host", "teams", ALICE)
    client.connect_ok(ws.id, "host", "microsoft_calendar", ALICE)
    new = wait_for(lambda: subscription_ids(client) - before, what="the host's Graph subscription")
    [sub] = new
    return ws, slug, sub


def book_with_event(client: Client, slug: str, start: str, invitee: str) -> tuple[dict[str, Any], str]:
    """A booking with its Teams link and the id of its event in ALICE's calendar."""
    booking = client.book_ok(slug, start, "Ina Vitee", invitee)
    view = client.wait_link_status(booking)
    client.wait_mail(invitee, "confirmation")
    return {**booking, **view}, client.event_with_link(ALICE, view["meeting_url"])


def status_of(client: Client, booking: dict[str, Any]) -> dict[str, Any]:
    return client.booking(booking["id"], booking["manage_token"])


def settle(client: Client) -> None:
    """Let every queued notification be delivered and give the workers a moment for a wrong second mail."""
    wait_for(lambda: client.sandbox("GET", "/_sandbox/notifications")["pending"] == 0, what="deliveries")
    time.sleep(2.0)


def test_validation_request_is_answered_with_its_token_as_plain_text(client: Client) -> None:
    """Page "Receive change notifications through webhooks": 200, text/plain, the decoded token."""
    for route in ("/api/notifications/microsoft", "/api/notifications/microsoft/lifecycle"):
        resp = requests.post(client.base + route, params={"validationToken": "Validation: a <b>token</b> & more"},
                             headers={"Content-Type": "text/plain"}, timeout=10)
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/plain")
        assert resp.text == "Validation: a <b>token</b> & more"


def test_host_deletes_the_event_booking_cancelled_and_one_cancellation(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    ws, slug, _ = connect_host(client, new_workspace, "indel")
    invitee = f"ina-{ws.id}@invitee.example"
    booking, event_id = book_with_event(client, slug, client.slots(slug, days=3)[40], invitee)
    client.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events/{event_id}/delete")
    wait_for(lambda: status_of(client, booking)["status"] == "cancelled", what="the booking cancelled")
    client.wait_mail(invitee, "cancellation")
    settle(client)
    assert len(client.mails(invitee, "cancellation")) == 1
    assert status_of(client, booking)["status"] == "cancelled"


def test_host_moves_the_event_booking_moves_same_link_one_reschedule(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    ws, slug, _ = connect_host(client, new_workspace, "inmove")
    invitee = f"ola-{ws.id}@invitee.example"
    starts = client.slots(slug, days=3)
    booking, event_id = book_with_event(client, slug, starts[44], invitee)
    new_start = datetime.fromisoformat(booking["start"].replace("Z", "+00:00")) + timedelta(hours=3)
    new_end = new_start + timedelta(minutes=15)
    client.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events/{event_id}/move",
                   {"start": new_start.isoformat(), "end": new_end.isoformat()})

    def moved() -> dict[str, Any] | None:
        view = status_of(client, booking)
        return view if datetime.fromisoformat(view["start"].replace("Z", "+00:00")) == new_start else None

    view = wait_for(moved, what="the booking at the new time")
    assert view["status"] == "confirmed" and view["meeting_url"] == booking["meeting_url"]
    mail = client.wait_mail(invitee, "reschedule")
    assert booking["meeting_url"] in mail.text
    settle(client)
    assert len(client.mails(invitee, "reschedule")) == 1
    final = status_of(client, booking)  # our own write back to the event did not move it again
    assert datetime.fromisoformat(final["start"].replace("Z", "+00:00")) == new_start
    assert final["meeting_url"] == booking["meeting_url"]
    assert client.open_link(booking["meeting_url"]) == 200


def test_a_wrong_client_state_changes_nothing(client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    """Page "Receive change notifications through webhooks": a clientState mismatch is not a valid notification.
    The subscription lapses first (so Graph tells nothing), the event is deleted, and only a forged
    notification naming it arrives: it is dropped and the booking stays confirmed."""
    ws, slug, sub = connect_host(client, new_workspace, "inforge")
    invitee = f"uma-{ws.id}@invitee.example"
    booking, event_id = book_with_event(client, slug, client.slots(slug, days=3)[48], invitee)
    client.sandbox("POST", f"/_sandbox/subscriptions/{sub}/lapse")
    settle(client)  # the hints of the event's creation are handled first: a re-read after the delete would see it
    client.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events/{event_id}/delete")
    forged = {"value": [{"subscriptionId": sub, "clientState": "guessed", "changeType": "deleted",
                         "resource": f"Users/x/Events/{event_id}", "tenantId": "f20819f0-fd3e-4491-aad0-0479085b2e6f",
                         "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z"}]}
    resp = requests.post(client.base + "/api/notifications/microsoft", json=forged, timeout=10)
    assert resp.status_code == 202 and resp.json() == {"enqueued": 0, "dropped": 1}
    lifecycle = {**forged["value"][0], "lifecycleEvent": "missed"}
    resp = requests.post(client.base + "/api/notifications/microsoft/lifecycle", json={"value": [lifecycle]},
                         timeout=10)
    assert resp.status_code == 202 and resp.json()["dropped"] == 1
    bad = requests.post(client.base + "/api/notifications/microsoft", json={"value": [{"subscriptionId": "a/b"}]},
                        timeout=10)
    assert bad.status_code == 422
    settle(client)
    assert status_of(client, booking)["status"] == "confirmed"
    assert client.mails(invitee, "cancellation") == []


def test_renewal_timer_asks_graph_nothing_for_subscriptions_far_from_expiry(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    connect_host(client, new_workspace, "inrenew")
    client.sandbox("DELETE", "/_sandbox/requests")
    assert client.run_function("inbound_renewal_timer") in (200, 202)
    time.sleep(3.0)  # the run is asynchronous: give it time to (wrongly) call Graph
    assert client.recorded(path_regex="/subscriptions") == []


def test_external_delete_notify_host_keeps_the_booking_and_records_it(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    """The calendar setting ``external_delete``: ``notify_host`` keeps the booking (no cancellation) and tells the
    host once."""
    ws, slug, _ = connect_host(client, new_workspace, "innote")
    body = {**around_the_clock_calendar("host"), "slug": slug, "external_delete": "notify_host"}
    assert client.mgmt("PUT", f"/workspaces/{ws.id}/calendars/intro", json=body).status_code == 200
    bad = client.mgmt("PUT", f"/workspaces/{ws.id}/calendars/intro", json={**body, "external_delete": "shrug"})
    assert bad.status_code == 422 and "external_delete" in bad.text
    invitee = f"noa-{ws.id}@invitee.example"
    booking, event_id = book_with_event(client, slug, client.slots(slug, days=3)[56], invitee)
    client.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events/{event_id}/delete")

    def recorded() -> dict[str, Any] | None:
        view = client.mgmt("GET", f"/workspaces/{ws.id}/bookings/{booking['id']}").json()
        return view if any("outlook: event deleted by the host" in (h.get("cause") or "")
                           for h in view.get("history") or []) else None

    view = wait_for(recorded, what="the host's delete recorded on the booking")
    assert view["status"] == "confirmed"
    notice = client.wait_mail(f"host@{ws.id}.example", "host_notice")
    assert "removed from your Outlook calendar" in notice.subject
    settle(client)
    assert client.mails(invitee, "cancellation") == []
    assert len(client.mails(f"host@{ws.id}.example", "host_notice")) == 1


def test_a_move_onto_another_bookings_time_is_put_back_and_the_host_told(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    """Rule 19 with rule 13: the host drags a booking's event onto the time another booking holds. The booking
    cannot move there (the slot is taken), so nothing stays wrong: the event goes back to the booking's time
    (Outlook updates the invitee, who was told the moved time) and the host gets one notice saying why; the
    invitee gets no reschedule e-mail of ours and the booking keeps its time."""
    ws, slug, _ = connect_host(client, new_workspace, "inclash")
    starts = client.slots(slug, days=3)
    invitee = f"pia-{ws.id}@invitee.example"
    first, event_id = book_with_event(client, slug, starts[48], invitee)
    second, _ = book_with_event(client, slug, starts[52], f"quin-{ws.id}@invitee.example")
    taken = datetime.fromisoformat(second["start"].replace("Z", "+00:00"))
    client.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events/{event_id}/move",
                   {"start": taken.isoformat(), "end": (taken + timedelta(minutes=15)).isoformat()})
    notice = client.wait_mail(f"host@{ws.id}.example", "host_notice")
    assert "not moved" in notice.subject and "Outlook" in notice.text
    booked_at = datetime.fromisoformat(first["start"].replace("Z", "+00:00"))

    def event_start() -> datetime | None:
        for e in client.sandbox("GET", f"/_sandbox/events?upn={ALICE}")["value"]:
            if e["event"]["id"] == event_id:
                start = datetime.fromisoformat(e["event"]["start"]["dateTime"][:19] + "+00:00")
                return start if start == booked_at else None
        return None

    wait_for(event_start, what="the event back at the booking's time")
    settle(client)
    view = status_of(client, first)
    assert datetime.fromisoformat(view["start"].replace("Z", "+00:00")) == booked_at and view["status"] == "confirmed"
    assert client.mails(invitee, "reschedule") == []
    assert len(client.mails(f"host@{ws.id}.example", "host_notice")) == 1
    admin = client.mgmt("GET", f"/workspaces/{ws.id}/bookings/{first['id']}").json()
    assert any("onto another booking's time" in (h.get("cause") or "") for h in admin["history"])
