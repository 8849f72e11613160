"""The communications worker end to end: Azurite tables and queues, the blueprint's queue functions and
the real loopback SMTP server (SmtpSink). No fixed ports, no real waiting."""
from __future__ import annotations

import html
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from icalendar import Calendar

from shared.repositories import bookings as bookings_repo
from shared.usecases import booking_events
from shared.usecases.communications import COMMSENT, sent_pk
from tests.integration.communications.conftest import Harness
from tests.unit.communications.helpers import (
    HOST_EMAIL,
    INVITEE_EMAIL,
    TEAMS_URL,
    TimedQueue,
    drain,
    message,
    new_deps,
    seed_world,
    stored_booking,
    update_booking,
)

BACKFILL_URL = ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_QkFDS0ZJTEwtbGluay0y%40thread.v2/0"
                "?context=%7b%22Tid%22%3a%22t-2%22%2c%22Oid%22%3a%22o-2%22%7d")


def _text(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _html(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def _ics(msg: EmailMessage) -> tuple[Calendar, Any, str]:
    [att] = [a for a in msg.iter_attachments() if a.get_content_type() == "text/calendar"]
    cal = Calendar.from_ical(att.get_payload(decode=True))
    return cal, cal.walk("VEVENT")[0], att["Content-Type"].params["method"]


def _kinds(h: Harness) -> list[str]:
    return [str(m["X-Bookbridge-Kind"]) for m in h.sink.messages()]


def _join_links(text: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Join the meeting: ")]


def _start(h: Harness, days: float = 3) -> datetime:
    return (h.clock.now() + timedelta(days=days)).replace(second=0)


def test_teams_confirmation_and_reminder_carry_exactly_the_stored_link(harness: Harness) -> None:
    h = harness
    b = seed_world(h.store, _start(h))
    stored_url = stored_booking(h.store, b)["meeting_url"]
    assert stored_url == TEAMS_URL
    h.queue.send("communications", message("confirmation", b))  # as the meeting worker does
    h.pump()

    [mail] = h.sink.messages()
    assert mail["X-Sink-RcptTo"] == INVITEE_EMAIL and mail["X-Bookbridge-Kind"] == "confirmation"
    assert _join_links(_text(mail)) == [stored_url]
    assert f'href="{html.escape(stored_url, quote=True)}"' in _html(mail)
    cal, event, method = _ics(mail)
    assert method == "REQUEST" and str(cal["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == f"{b.id}@bookbridge" and int(event["SEQUENCE"]) == b.revision
    assert str(event["LOCATION"]) == stored_url and str(event["URL"]) == stored_url
    assert stored_url in str(event["DESCRIPTION"])

    # the reminders went to the real queue, invisible until due (capped below 7 days)
    reminders = [(m, v) for m, v in h.queue.on("communications") if m["kind"] == "reminder"]
    assert sorted(m["offset_minutes"] for m, _ in reminders) == [60, 1440]
    assert all(0 < v <= 6 * 24 * 3600 for _, v in reminders)
    assert h.pump() == []  # nothing visible yet

    # the 60-minute reminder becomes due: it is delivered and carries the same link
    [(reminder, _)] = [(m, v) for m, v in reminders if m["offset_minutes"] == 60]
    h.clock.current = b.start_utc - timedelta(minutes=60)
    h.send_raw("communications", reminder)
    h.pump()
    assert _kinds(h) == ["confirmation", "reminder"]
    remind = h.sink.messages()[1]
    assert _join_links(_text(remind)) == [stored_url] and "starts in 1 hour" in _text(remind)


def test_same_message_delivered_three_times_sends_one_email(harness: Harness) -> None:
    h = harness
    b = seed_world(h.store, _start(h))
    for _ in range(3):
        h.send_raw("communications", message("confirmation", b))
    assert len(h.pump()) == 3
    assert _kinds(h) == ["confirmation"]
    row = h.store.get(COMMSENT, sent_pk(b.workspace, b.id), "confirmation|1")
    assert row["state"] == "sent"
    assert str(h.sink.messages()[0]["Message-ID"]) == row["message_id"]


def test_backfilled_link_sends_one_link_update_with_the_new_url(harness: Harness) -> None:
    h = harness
    b = seed_world(h.store, _start(h, 5), link_state="awaiting_connection", meeting_url=None,
                   link_reason="Microsoft Teams is not connected for this host.")
    booking_events.send_communication(h.queue, "confirmation", b.workspace, b.host, b.id, 1)
    booking_events.send_communication(h.queue, "host_notice", b.workspace, b.host, b.id, 1)
    h.pump()
    assert sorted(_kinds(h)) == ["confirmation", "host_notice"]
    first = next(m for m in h.sink.messages() if m["X-Bookbridge-Kind"] == "confirmation")
    assert _join_links(_text(first)) == [] and "link will follow" in _text(first)
    notice = next(m for m in h.sink.messages() if m["X-Bookbridge-Kind"] == "host_notice")
    assert notice["X-Sink-RcptTo"] == HOST_EMAIL and "/api/reconnect/" in _text(notice)

    # the host reconnects; the sweep backfills the link and the meeting worker announces it (twice)
    b = update_booking(h.store, b, link_state="created", meeting_url=BACKFILL_URL, link_reason=None)
    for _ in range(2):
        h.send_raw("communications", message("link_update", b))
    h.pump()
    updates = [m for m in h.sink.messages() if m["X-Bookbridge-Kind"] == "link_update"]
    assert len(updates) == 1
    assert _join_links(_text(updates[0])) == [BACKFILL_URL]
    assert str(updates[0]["Subject"]).startswith("Your meeting link:")
    _, event, method = _ics(updates[0])
    assert method == "REQUEST" and str(event["LOCATION"]) == BACKFILL_URL


def test_cancel_sends_method_cancel_with_the_same_uid(harness: Harness) -> None:
    h = harness
    b = seed_world(h.store, _start(h))
    h.queue.send("communications", message("confirmation", b))
    h.pump()
    b = update_booking(h.store, b, status="cancelled", revision=2)
    booking_events.booking_cancelled(h.queue, b.workspace, b.host, b.id, 2)  # what the booking API sends
    h.pump()
    assert _kinds(h) == ["confirmation", "cancellation"]
    confirmation, cancellation = h.sink.messages()
    _, first_event, _ = _ics(confirmation)
    cal, event, method = _ics(cancellation)
    assert method == "CANCEL" and str(cal["METHOD"]) == "CANCEL"
    assert str(event["UID"]) == str(first_event["UID"]) == f"{b.id}@bookbridge"
    assert int(event["SEQUENCE"]) == 2 > int(first_event["SEQUENCE"])
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(cancellation["Subject"]).startswith("Cancelled:")


def test_html_is_escaped_end_to_end(harness: Harness) -> None:
    h = harness
    script = "<script>alert(1)</script>"
    b = seed_world(h.store, _start(h), invitee_name=script, notes=f"bring {script} & <b>bold</b>",
                   calendar_name="Intro <img src=x onerror=alert(2)>")
    h.send_raw("communications", message("confirmation", b))
    h.pump()
    [mail] = h.sink.messages()
    body = _html(mail)
    assert "<script" not in body.lower() and "<img" not in body.lower() and "<b>" not in body
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;," in body
    assert "&lt;b&gt;bold&lt;/b&gt;" in body
    assert "Hello <script>alert(1)</script>," in _text(mail)  # plain text is text
    assert mail["To"].addresses[0].display_name == script
    assert mail["X-Sink-RcptTo"] == INVITEE_EMAIL


def test_cr_lf_in_names_cannot_inject_headers(harness: Harness) -> None:
    h = harness
    b = seed_world(h.store, _start(h), invitee_name="Eve\r\nBcc: victim@evil.example\r\nX-Evil: 1",
                   calendar_name="Intro\r\nBcc: boss@evil.example\nSubject: spoofed")
    h.send_raw("communications", message("confirmation", b))
    h.pump()
    [mail] = h.sink.messages()
    assert mail["Bcc"] is None and mail["X-Evil"] is None
    assert len(mail.get_all("Subject")) == 1 and "\n" not in str(mail["Subject"])
    assert str(mail["Subject"]).startswith("Confirmed: Intro Bcc: boss@evil.example Subject: spoofed")
    [to] = mail["To"].addresses
    assert to.addr_spec == INVITEE_EMAIL and "\n" not in to.display_name
    assert mail["X-Sink-RcptTo"] == INVITEE_EMAIL  # the server was asked to deliver to the invitee only
    _, event, _ = _ics(mail)
    assert "\n" not in str(event["ATTENDEE"].params.get("CN", ""))


def test_malformed_invitee_address_is_recorded_not_sent(harness: Harness) -> None:
    h = harness
    b = seed_world(h.store, _start(h), invitee_email="ana@example.com\r\nBcc: victim@evil.example")
    h.send_raw("communications", message("confirmation", b))
    h.pump()
    assert h.sink.messages() == []
    assert stored_booking(h.store, b)["delivery_error"] == "confirmation:malformed_address"


def test_bounce_is_recorded_on_the_booking(harness: Harness) -> None:
    h = harness
    b = seed_world(h.store, _start(h), invitee_email="nobody@bounce.invalid")
    for _ in range(2):
        h.send_raw("communications", message("confirmation", b))
    h.pump()
    assert h.sink.messages() == []
    entity = stored_booking(h.store, b)
    assert entity["delivery_error"] == "confirmation:recipient_refused"
    assert "bounce.invalid" not in entity["delivery_error"]
    # the booking stays readable through the booking repository, with the error kept in its fields
    booking = bookings_repo.get_booking(h.store, b.workspace, b.host, b.id)
    assert booking is not None and booking.extra["delivery_error"] == "confirmation:recipient_refused"


def test_poison_message_explains_the_booking(harness: Harness) -> None:
    h = harness
    b = seed_world(h.store, _start(h))
    h.send_raw("communications-poison", message("reschedule", b))
    h.pump("communications-poison")
    assert stored_booking(h.store, b)["delivery_error"] == "reschedule:retries_exhausted"


def test_reminders_for_a_booking_30_days_ahead_arrive_on_time(harness: Harness) -> None:
    """Azurite tables and the real SMTP server; the queue keeps visibility delays on the test clock."""
    h = harness
    queue = TimedQueue(h.clock)
    deps = new_deps(h.store, queue, h.mail, h.clock)
    start = _start(h, 30)
    b = seed_world(h.store, start, offsets=(1440, 60))
    queue.send("communications", message("confirmation", b))
    drain(deps, queue)
    first = [i for i in queue.log if i.message["kind"] == "reminder"]
    assert len(first) == 2 and all(i.visibility_timeout <= 7 * 24 * 3600 - 3600 for i in first)

    hops: list[int] = []
    sent_at: dict[int, datetime] = {}
    for _ in range(50):
        nxt = queue.next_visible_at()
        if nxt is None:
            break
        h.clock.current = max(h.clock.current, nxt)
        for msg, outcome in drain(deps, queue):
            if outcome.action == "requeued":
                hops.append(outcome.requeue_delay or 0)
            elif outcome.action == "sent":
                sent_at[msg["offset_minutes"]] = h.clock.now()
    assert len(hops) >= 8 and max(hops) <= 6 * 24 * 3600
    assert set(sent_at) == {1440, 60}
    for offset, when in sent_at.items():
        assert abs((when - (start - timedelta(minutes=offset))).total_seconds()) <= 60
    reminders = [m for m in h.sink.messages() if m["X-Bookbridge-Kind"] == "reminder"]
    assert len(reminders) == 2
    assert all(_join_links(_text(m)) == [TEAMS_URL] for m in reminders)
