"""Collective co-hosts without a calendar (rule 20's last fallback, issue 15 point 5): a co-host with no connected
calendar of their provider gets the booking by e-mail, an .ics REQUEST (UID per booking and co-host, SEQUENCE =
the booking's revision, the booking's times and link, the co-host as attendee) when the booking has its link, an
updated one for each change and a CANCEL when it is cancelled, each once (the communications worker's
sent-records). The participant is recorded ``emailed`` (with revision and link); a calendar connected later takes
over (Graph writes the event, no more e-mail)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from icalendar import Calendar

from shared.ports import iso_utc, parse_iso_utc
from shared.repositories import workspaces as workspaces_repo
from shared.usecases.communications import Outcome, handle_communication
from tests.unit.communications.helpers import RecordingTransport, new_deps
from tests.unit.meetings.helpers import OID, Harness
from tests.unit.meetings.test_cohosts import BOB, BOB_OID, collective, participants, reconnected, records

BOB_EMAIL = "bob.cohost@contoso.example"


class Mailer:
    """The communications worker on the harness's store and queue, with a recording transport."""

    def __init__(self, h: Harness) -> None:
        self.h, self.mail, self.seen = h, RecordingTransport(), 0
        self.deps = new_deps(h.store, h.queue, self.mail, h.clock)
        workspaces_repo.put_user(h.store, h.ws, BOB, "Bob Cohost", BOB_EMAIL, "Europe/Berlin", iso_utc(h.clock.now()))

    def cohost_messages(self) -> list[dict[str, Any]]:
        """The ``cohost_invite`` messages queued since the last call."""
        sent = self.h.queue.on("communications")
        new, self.seen = sent[self.seen:], len(sent)
        return [m for m in new if m["kind"] == "cohost_invite"]

    def deliver(self, messages: list[dict[str, Any]]) -> list[Outcome]:
        return [handle_communication(self.deps, m) for m in messages]

    def to_bob(self) -> list[Any]:
        return [m for m in self.mail.sent if m.to == BOB_EMAIL]


def ics(message: Any) -> Any:
    [attachment] = message.attachments
    [event] = Calendar.from_ical(attachment.content).walk("VEVENT")
    return Calendar.from_ical(attachment.content)["METHOD"], event


def booked(h: Harness, mailer: Mailer) -> dict[str, Any]:
    h.connect("teams", oid=OID)
    b = collective(h, BOB)
    h.deliver(h.message(b))
    return h.booking(b["id"])


def test_a_cohost_without_a_calendar_is_emailed_one_request_ics_with_the_link(h: Harness) -> None:
    mailer = Mailer(h)
    stored = booked(h, mailer)
    assert stored["link_state"] == "created" and stored["meeting_url"]
    assert participants(stored)[BOB]["event"] == "emailed"
    assert records(stored)[BOB] == {"event": "emailed", "revision": 1, "link": stored["meeting_url"]}
    [message] = mailer.cohost_messages()
    assert [o.action for o in mailer.deliver([message])] == ["sent"]
    [mail] = mailer.to_bob()
    assert mail.headers["X-Bookbridge-Kind"] == "cohost_invite" and stored["meeting_url"] in mail.text
    method, event = ics(mail)
    assert method == "REQUEST" and int(event["SEQUENCE"]) == 1 and str(event["URL"]) == stored["meeting_url"]
    assert str(event["ATTENDEE"]) == f"mailto:{BOB_EMAIL}" and str(event["UID"]).startswith(stored["id"])
    assert event.decoded("DTSTART") == parse_iso_utc(stored["start_utc"])
    assert mail.to != "ada@example.com" and "ada@example.com" not in str(event.get("ATTENDEE"))

    assert [o.action for o in mailer.deliver([message])] == ["duplicate"]  # a redelivery sends nothing more
    h.deliver(h.message(stored, "reconcile"))  # converged: no new e-mail is asked for
    assert mailer.cohost_messages() == [] and len(mailer.to_bob()) == 1


def test_a_reschedule_sends_one_updated_ics_and_a_cancel_one_cancel(h: Harness) -> None:
    mailer = Mailer(h)
    stored = booked(h, mailer)
    mailer.deliver(mailer.cohost_messages())
    [first] = mailer.to_bob()
    start = parse_iso_utc(stored["start_utc"]) + timedelta(days=1)
    moved = h.change_booking(stored["id"], start_utc=iso_utc(start), end_utc=iso_utc(start + timedelta(minutes=30)))
    h.deliver(h.message(moved, "reschedule"))
    h.deliver(h.message(moved, "reschedule"))  # the meetings message redelivered
    messages = mailer.cohost_messages()
    assert [o.action for o in mailer.deliver(messages + messages)].count("sent") == 1
    [_, update] = mailer.to_bob()
    (_, old), (method, new) = ics(first), ics(update)
    assert method == "REQUEST" and new["UID"] == old["UID"] and int(new["SEQUENCE"]) == 2 > int(old["SEQUENCE"])
    assert new.decoded("DTSTART") == start and str(new["URL"]) == stored["meeting_url"]
    assert records(h.booking(stored["id"]))[BOB]["revision"] == 2

    cancelled = h.change_booking(stored["id"], status="cancelled")
    h.deliver(h.message(cancelled, "cancel"))
    messages = mailer.cohost_messages()
    assert [o.action for o in mailer.deliver(messages + messages)].count("sent") == 1
    [_, _, cancel] = mailer.to_bob()
    method, event = ics(cancel)
    assert method == "CANCEL" and event["UID"] == old["UID"] and cancel.headers["X-Bookbridge-Kind"] == "cohost_cancel"
    assert participants(h.booking(stored["id"]))[BOB]["event"] == "cancelled"
    h.deliver(h.message(cancelled, "reconcile"))
    assert mailer.deliver(mailer.cohost_messages()) == [] and len(mailer.to_bob()) == 3


def test_a_cohost_with_a_connected_calendar_gets_no_email(h: Harness) -> None:
    mailer = Mailer(h)
    h.connect("teams", oid=OID)
    h.connect("microsoft_calendar", oid=BOB_OID, linked_calendar_id="bob-cal", user=BOB)
    b = collective(h, BOB)
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert participants(stored)[BOB]["event"] == "written" and len(h.graph.mailbox_events(BOB)) == 1
    assert mailer.cohost_messages() == []
    forced = {"kind": "cohost_invite", "workspace": h.ws, "host": h.host, "booking_id": b["id"], "revision": 1}
    assert [o.action for o in mailer.deliver([forced])] == ["skipped"] and mailer.to_bob() == []


def test_a_calendar_connected_later_takes_over_from_the_email(h: Harness) -> None:
    mailer = Mailer(h)
    stored = booked(h, mailer)
    mailer.deliver(mailer.cohost_messages())
    assert len(mailer.to_bob()) == 1
    h.connect("microsoft_calendar", oid=BOB_OID, user=BOB)
    reconnected(h, BOB)
    assert participants(h.booking(stored["id"]))[BOB]["event"] == "written"
    assert len(h.graph.mailbox_events(BOB)) == 1
    start = parse_iso_utc(stored["start_utc"]) + timedelta(hours=3)
    moved = h.change_booking(stored["id"], start_utc=iso_utc(start), end_utc=iso_utc(start + timedelta(minutes=30)))
    h.deliver(h.message(moved, "reschedule"))
    assert mailer.deliver(mailer.cohost_messages()) == [] and len(mailer.to_bob()) == 1  # not both for a change
    [event] = h.graph.mailbox_events(BOB)
    assert event["start"]["dateTime"].startswith(iso_utc(start + timedelta(hours=1))[:16])


def test_a_google_cohost_without_google_calendar_is_emailed_too(h: Harness) -> None:
    mailer = Mailer(h)
    h.connect("teams", oid=OID)
    b = collective(h, BOB, participants_json='{"bob":{"provider":"google"}}')
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert participants(stored)[BOB] == {"user": BOB, "role": "co_host", "event": "emailed", "provider": "google"}
    assert [o.action for o in mailer.deliver(mailer.cohost_messages())] == ["sent"]
    assert ics(mailer.to_bob()[0])[0] == "REQUEST"


def test_a_link_made_later_reaches_the_cohost_and_the_invitee_each_once(h: Harness) -> None:
    """Teams was not connected at booking: nothing is e-mailed to the co-host without a link; the link made later
    is e-mailed to him, and his sent-record (same link) never stands for the invitee's link update."""
    mailer = Mailer(h)
    b = collective(h, BOB, link_state="awaiting_connection")
    h.deliver(h.message(b))
    assert participants(h.booking(b["id"]))[BOB]["event"] == "none"
    sent = h.queue.on("communications")
    assert all(o.action != "requeued" for o in mailer.deliver([m for m in sent if m["kind"] == "confirmation"]))
    assert mailer.cohost_messages() == [] and mailer.mail.kinds() == ["confirmation"]
    h.connect("teams", oid=OID)
    h.deliver(h.message(h.booking(b["id"]), "reconcile"))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created"
    later = h.queue.on("communications")[len(sent):]
    cohost = [m for m in later if m["kind"] == "cohost_invite"]
    assert [o.action for o in mailer.deliver(cohost)] == ["sent"]  # the co-host's first: the same link
    mailer.deliver([m for m in later if m["kind"] == "link_update"])
    assert mailer.mail.kinds() == ["confirmation", "cohost_invite", "link_update"]
    assert stored["meeting_url"] in mailer.mail.sent[2].text and mailer.mail.sent[2].to == "ada@example.com"
