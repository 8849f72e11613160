"""A collective co-host without any calendar connection gets the booking by e-mail (rule 20's last fallback,
issue 15 point 5), through the local host, Azurite, the SMTP sink and the Microsoft stand-in.

Alice organizes (Teams and her Outlook calendar); Bob, a co-host, connected nothing (his member entry reads no
calendar: only bookbridge bookings block him). The booking's invitation
reaches Bob's e-mail (``users`` row) as an .ics REQUEST carrying the booking's Teams link, with Bob as attendee,
once; the invitee's cancel sends him one CANCEL of the same UID. The admin view shows Bob ``emailed``.
"""
from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from typing import Any

from icalendar import Calendar

from devhost.smoke import Client, Mail, wait_for

from .conftest import Workspace, around_the_clock_calendar
from .conftest import admin_booking as admin

ALICE = "alice@contoso.example"


def invitation(mail: Mail) -> tuple[str, Any]:
    """The METHOD and the VEVENT of the mail's .ics attachment."""
    msg = email.message_from_bytes(mail.path.read_bytes(), policy=email.policy.default)
    [part] = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    cal = Calendar.from_ical(part.get_payload(decode=True))
    [event] = cal.walk("VEVENT")
    return str(cal["METHOD"]), event


def test_a_cohost_without_a_calendar_gets_the_invitation_ics_with_the_teams_link_and_the_cancel(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    ws = new_workspace("cohostics")
    ws.user("alice")
    ws.user("bob")
    bob_email = f"bob@{ws.id}.example"
    body = around_the_clock_calendar("alice", provider="microsoft")
    body["type"] = "collective"
    body["members"].append({"user": "bob", "meeting_location": "teams", "calendar_provider": "none"})
    slug = ws.calendar("team", body)
    client.connect_ok(ws.id, "alice", "teams", ALICE)
    client.connect_ok(ws.id, "alice", "microsoft_calendar", ALICE)

    starts = client.slots(slug, days=3)
    booked = client.book_ok(slug, starts[60], "Ina", "ina@invitee.example")
    linked = client.wait_link_status(booked)
    link = linked["meeting_url"]  # the stand-in's Teams joinWebUrl
    assert linked["link_status"] == "created" and link
    mail = client.wait_mail(bob_email, "cohost_invite")
    method, event = invitation(mail)
    assert method == "REQUEST" and str(event["URL"]) == link and link in mail.text
    assert str(event["ATTENDEE"]).lower() == f"mailto:{bob_email}" and int(event["SEQUENCE"]) == 1
    view = wait_for(lambda: (lambda v: v if any(p["event"] == "emailed" for p in v["participants"]) else None)(
        admin(client, ws.id, booked["id"])), what="bob shown emailed")
    assert {p["user"]: (p["role"], p["event"]) for p in view["participants"]} == {
        "alice": ("organizer", "written"), "bob": ("co_host", "emailed")}

    cancelled = client.http.post(f"{client.base}/api/bookings/{booked['id']}/cancel",
                                 params={"token": booked["manage_token"]}, json={}, timeout=60)
    assert cancelled.status_code == 200, cancelled.text
    cancel = client.wait_mail(bob_email, "cohost_cancel")
    method, gone = invitation(cancel)
    assert method == "CANCEL" and gone["UID"] == event["UID"]
    wait_for(lambda: (lambda v: v if {p["event"] for p in v["participants"]} == {"cancelled"} else None)(
        admin(client, ws.id, booked["id"])), what="both participants cancelled")
    assert len(client.mails(bob_email, "cohost_invite")) == 1 and len(client.mails(bob_email, "cohost_cancel")) == 1
