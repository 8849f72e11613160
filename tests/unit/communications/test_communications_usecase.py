"""The communications use case with fakes: what is sent, exactly once, and what is queued."""
from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from icalendar import Calendar

from shared.adapters.signing import Signer
from shared.errors import DeliveryRejected, StorageUnavailable, TransientError
from shared.mail.message import build_email
from shared.usecases import booking_events
from shared.usecases.communications import (
    COMMSENT,
    COMMUNICATIONS_QUEUE,
    MAX_ATTEMPTS,
    STALE_CLAIM,
    handle_communication,
    handle_poison_message,
    idempotency_key,
    sent_pk,
)
from tests.fakes import FixedClock, InMemoryEntityStore
from tests.unit.communications.helpers import (
    HOST_EMAIL,
    INVITEE_EMAIL,
    SIGNING_KEY,
    TEAMS_URL,
    RecordingTransport,
    TimedQueue,
    drain,
    ics_of,
    message,
    new_deps,
    seed_world,
    stored_booking,
    update_booking,
)

START = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)  # 3 days after the clock's default


@pytest.fixture()
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture()
def store() -> InMemoryEntityStore:
    return InMemoryEntityStore()


@pytest.fixture()
def queue(clock: FixedClock) -> TimedQueue:
    return TimedQueue(clock)


@pytest.fixture()
def mail() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture()
def deps(store, queue, mail, clock):
    return new_deps(store, queue, mail, clock)


def _ics(msg) -> Calendar:
    data = ics_of(msg)
    assert data is not None, "no .ics attached"
    return Calendar.from_ical(data)


def _event(cal: Calendar):
    return next(c for c in cal.walk() if c.name == "VEVENT")


def _reminders(queue: TimedQueue) -> list[dict]:
    return [m for m in queue.on(COMMUNICATIONS_QUEUE) if m["kind"] == "reminder"]


# ------------------------------------------------------------------ confirmation
def test_confirmation_carries_the_stored_link_ics_and_manage_link(deps, store, queue, mail, clock) -> None:
    b = seed_world(store, START)
    out = handle_communication(deps, message("confirmation", b))
    assert out.action == "sent" and out.sent_kind == "confirmation"
    [sent] = mail.sent
    assert sent.to == INVITEE_EMAIL and sent.to_name == "Ana Invitee"
    assert TEAMS_URL in sent.text and sent.headers["X-Bookbridge-Kind"] == "confirmation"
    assert sent.idempotency_key == idempotency_key(b.workspace, b.id, "confirmation|1")
    # time in the invitee's zone (America/New_York: 14:00 UTC is 09:00 EST)
    assert "09:00 - 09:30 (America/New_York, EST)" in sent.text
    # the .ics: REQUEST, stable UID, SEQUENCE = revision, the link as location, URL and in the description
    cal = _ics(sent)
    event = _event(cal)
    assert str(cal["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == f"{b.id}@bookbridge" and int(event["SEQUENCE"]) == 1
    assert str(event["LOCATION"]) == TEAMS_URL and str(event["URL"]) == TEAMS_URL
    assert TEAMS_URL in str(event["DESCRIPTION"])
    assert str(event["ORGANIZER"]).lower() == f"mailto:{HOST_EMAIL}"
    # the manage link opens the manage page (issue 21: it used to open raw JSON), with the API's manage token
    manage = next(line for line in sent.text.splitlines() if line.startswith("Manage your booking: "))
    url = urlsplit(manage.split(": ", 1)[1])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"https://book.example.test/api/manage/{b.id}"
    token = parse_qs(url.query)["token"][0]
    assert Signer(SIGNING_KEY).verify("manage", token) == {"ws": b.workspace, "host": b.host, "id": b.id}
    # the sent-record
    row = store.get(COMMSENT, sent_pk(b.workspace, b.id), "confirmation|1")
    assert row["state"] == "sent" and row["ics"] == "REQUEST" and row["link_sha"]


def test_the_invitees_12_hour_clock_is_used_in_their_emails_not_in_the_hosts(deps, store, mail) -> None:
    """Issue 21 (9): one time format in page and mail (the page stores the invitee's clock on the booking)."""
    b = seed_world(store, START, extra={"invitee_time_format": "12h"})
    handle_communication(deps, message("confirmation", b))
    assert "9:00 AM - 9:30 AM (America/New_York, EST)" in mail.sent[0].text
    assert "9:00 AM EST" in mail.sent[0].subject


def test_confirmation_schedules_one_reminder_per_offset(deps, store, queue, clock) -> None:
    b = seed_world(store, START, offsets=(1440, 60))
    handle_communication(deps, message("confirmation", b))
    items = [i for i in queue.pending() if i.message["kind"] == "reminder"]
    assert sorted(i.message["offset_minutes"] for i in items) == [60, 1440]
    for item in items:
        due = START - timedelta(minutes=item.message["offset_minutes"])
        assert item.message["due_at"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert item.visibility_timeout == int((due - clock.now()).total_seconds())
        assert item.message["revision"] == 1
    assert store.get(COMMSENT, sent_pk(b.workspace, b.id), "reminders|1")["state"] == "scheduled"


def test_same_message_three_times_sends_one_email(deps, store, queue, mail) -> None:
    b = seed_world(store, START)
    outcomes = [handle_communication(deps, message("confirmation", b)).action for _ in range(3)]
    assert outcomes == ["sent", "duplicate", "duplicate"]
    assert len(mail.sent) == 1 and mail.attempts == 1
    assert len(_reminders(queue)) == 2  # reminders queued once


def test_concurrent_deliveries_send_once(deps, store, queue, mail) -> None:
    b = seed_world(store, START)
    entered, release = threading.Event(), threading.Event()

    def hold(_msg) -> None:
        entered.set()
        assert release.wait(10)

    mail.before_send = hold
    results: list[str] = []
    first = threading.Thread(
        target=lambda: results.append(handle_communication(deps, message("confirmation", b)).action))
    first.start()
    assert entered.wait(10)
    mail.before_send = None
    others = [handle_communication(deps, message("confirmation", b)).action for _ in range(2)]
    release.set()
    first.join(10)
    assert results == ["sent"] and others == ["requeued", "requeued"]
    assert len(mail.sent) == 1
    # the re-queued copies come back after the claim would be stale and find it sent
    busy = [i for i in queue.pending() if i.message["kind"] == "confirmation"]
    assert len(busy) == 2 and all(i.visibility_timeout > 0 and i.message["attempt"] == 2 for i in busy)


def test_pending_link_waits_for_the_meeting_worker(deps, store, mail) -> None:
    b = seed_world(store, START, link_state="pending", meeting_url=None)
    assert handle_communication(deps, message("confirmation", b)).action == "skipped"
    assert mail.sent == []


def test_awaiting_connection_confirmation_has_no_link_and_an_ics(deps, store, mail) -> None:
    b = seed_world(store, START, link_state="awaiting_connection", meeting_url=None,
                   link_reason="Microsoft Teams is not connected for this host.")
    handle_communication(deps, message("confirmation", b))
    [sent] = mail.sent
    assert "The meeting link will follow by email." in sent.text and "teams.microsoft.com" not in sent.text
    event = _event(_ics(sent))
    assert "LOCATION" not in event and "URL" not in event


def test_outlook_invitation_means_no_ics_of_ours(deps, store, mail) -> None:
    b = seed_world(store, START, extra={"invitation_channel": "outlook", "graph_event_id": "ev-1"})
    handle_communication(deps, message("confirmation", b))
    assert ics_of(mail.sent[0]) is None and TEAMS_URL in mail.sent[0].text
    # issue 21 (4): the email says where the invitation comes from, instead of leaving the invitee waiting
    assert "The calendar invitation comes from Microsoft Outlook in a separate email" in mail.sent[0].text
    assert "comes from Microsoft Outlook" in mail.sent[0].html
    b = update_booking(store, b, status="cancelled", revision=2)
    handle_communication(deps, message("cancellation", b))
    assert mail.kinds() == ["confirmation", "cancellation"] and ics_of(mail.sent[1]) is None


def test_invitation_sent_by_graph_flag_is_honoured(deps, store, mail) -> None:
    b = seed_world(store, START, extra={"invitation_channel": "", "invitation_sent_by_graph": True})
    handle_communication(deps, message("confirmation", b))
    assert ics_of(mail.sent[0]) is None


def test_static_link_is_carried(deps, store, mail) -> None:
    url = "https://meet.example.com/room/42?pwd=a&b=c"
    b = seed_world(store, START, location="custom", link_state="static", meeting_url=url, custom_url=url)
    handle_communication(deps, message("confirmation", b))
    assert url in mail.sent[0].text and str(_event(_ics(mail.sent[0]))["LOCATION"]) == url
    assert "Microsoft Outlook" not in mail.sent[0].text  # our .ics is attached: nothing comes from Outlook


# ------------------------------------------------------------------ link updates
def test_backfilled_link_sends_one_link_update(deps, store, mail) -> None:
    b = seed_world(store, START, link_state="awaiting_connection", meeting_url=None)
    handle_communication(deps, message("confirmation", b))
    b = update_booking(store, b, link_state="created", meeting_url=TEAMS_URL)
    for _ in range(3):
        handle_communication(deps, message("link_update", b))
    assert mail.kinds() == ["confirmation", "link_update"]
    update = mail.sent[1]
    assert TEAMS_URL in update.text and update.subject.startswith("Your meeting link:")
    event = _event(_ics(update))
    assert str(event["LOCATION"]) == TEAMS_URL and str(event["UID"]) == f"{b.id}@bookbridge"


def test_link_update_before_any_confirmation_sends_the_confirmation(deps, store, mail) -> None:
    b = seed_world(store, START)
    assert handle_communication(deps, message("link_update", b)).sent_kind == "confirmation"
    # the confirmation message that follows, and the link update again, send nothing more
    assert handle_communication(deps, message("confirmation", b)).action == "duplicate"
    assert handle_communication(deps, message("link_update", b)).action == "skipped"
    assert mail.kinds() == ["confirmation"] and TEAMS_URL in mail.sent[0].text


def test_link_update_without_link_is_skipped(deps, store, mail) -> None:
    b = seed_world(store, START, link_state="failed", meeting_url=None)
    assert handle_communication(deps, message("link_update", b)).action == "skipped"
    assert mail.sent == []


# ------------------------------------------------------------------ reschedule and cancel
def test_reschedule_notice_replaces_the_reminders(deps, store, queue, mail, clock) -> None:
    b = seed_world(store, START)
    handle_communication(deps, message("confirmation", b))
    new_start = START + timedelta(days=1)
    b = update_booking(store, b, start_utc=new_start, end_utc=new_start + timedelta(minutes=30), revision=2,
                       extra={"previous_start_utc": "2026-11-26T14:00:00Z"})
    booking_events.booking_rescheduled(queue, b.workspace, b.host, b.id, 2, b.link_state)
    drain(deps, queue)
    assert mail.kinds() == ["confirmation", "reschedule"]
    notice = mail.sent[1]
    assert TEAMS_URL in notice.text and "Previously:" in notice.text
    event = _event(_ics(notice))
    assert int(event["SEQUENCE"]) == 2 and str(event["UID"]) == f"{b.id}@bookbridge"
    assert event.decoded("DTSTART") == new_start
    rev2 = [m for m in _reminders(queue) if m["revision"] == 2]
    assert sorted(m["offset_minutes"] for m in rev2) == [60, 1440]
    # the old revision's reminders arrive and are skipped; the new ones send
    clock.current = new_start - timedelta(minutes=59)
    results = drain(deps, queue)
    by_rev = {(m["revision"], m["offset_minutes"]): o.action for m, o in results if m["kind"] == "reminder"}
    assert by_rev == {(1, 1440): "skipped", (1, 60): "skipped", (2, 1440): "sent", (2, 60): "sent"}


def test_stale_reschedule_is_skipped(deps, store, mail) -> None:
    b = seed_world(store, START)
    handle_communication(deps, message("confirmation", b))
    b = update_booking(store, b, revision=3)
    assert handle_communication(deps, message("reschedule", b, revision=2)).action == "skipped"
    assert handle_communication(deps, message("reschedule", b, revision=3)).action == "sent"


def test_cancellation_sends_method_cancel_with_the_same_uid(deps, store, queue, mail, clock) -> None:
    b = seed_world(store, START)
    handle_communication(deps, message("confirmation", b))
    b = update_booking(store, b, status="cancelled", revision=2)
    booking_events.booking_cancelled(queue, b.workspace, b.host, b.id, 2)
    drain(deps, queue)
    assert mail.kinds() == ["confirmation", "cancellation"]
    cal = _ics(mail.sent[1])
    event = _event(cal)
    assert str(cal["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
    assert str(event["UID"]) == str(_event(_ics(mail.sent[0]))["UID"]) and int(event["SEQUENCE"]) == 2
    assert "token=" not in mail.sent[1].text  # no manage link for a cancelled booking
    # later reminders and repeats send nothing
    clock.current = START - timedelta(minutes=60)
    drain(deps, queue)
    assert handle_communication(deps, message("cancellation", b)).action == "duplicate"
    assert mail.kinds() == ["confirmation", "cancellation"]


def test_cancellation_of_a_booking_that_is_not_cancelled_is_skipped(deps, store, mail) -> None:
    b = seed_world(store, START)
    assert handle_communication(deps, message("cancellation", b)).action == "skipped"
    assert mail.sent == []


# ------------------------------------------------------------------ host notice
def test_host_notice_goes_to_the_host_with_reason_and_fix(deps, store, mail) -> None:
    reason = "Microsoft Teams is not connected for this host."
    b = seed_world(store, START, link_state="awaiting_connection", meeting_url=None, link_reason=reason)
    for _ in range(2):
        handle_communication(deps, message("host_notice", b))
    [notice] = mail.sent
    assert notice.to == HOST_EMAIL and notice.headers["X-Bookbridge-Kind"] == "host_notice"
    assert reason in notice.text and "bookbridge settings" not in notice.text  # issue 21 (6): no such page
    assert "Connect Microsoft Teams: https://book.example.test/api/reconnect/" in notice.text  # rule 21: a link
    assert "ask your workspace admin" not in notice.text
    assert "token=" not in notice.text  # no manage link in a host notice
    # the link later fails for another reason: the host is told again
    b = update_booking(store, b, link_state="failed", link_reason="Graph refused the meeting.")
    handle_communication(deps, message("host_notice", b))
    assert len(mail.sent) == 2 and "Graph refused the meeting." in mail.sent[1].text


def test_host_notice_is_skipped_once_resolved(deps, store, mail) -> None:
    b = seed_world(store, START)
    assert handle_communication(deps, message("host_notice", b)).action == "skipped"
    assert mail.sent == []


# ------------------------------------------------------------------ failures
def test_permanent_failure_is_recorded_on_the_booking(deps, store, mail) -> None:
    b = seed_world(store, START)
    mail.failures.append(DeliveryRejected("SMTP 550: recipient refused", code="recipient_refused"))
    assert handle_communication(deps, message("confirmation", b)).action == "rejected"
    entity = stored_booking(store, b)
    assert entity["delivery_error"] == "confirmation:recipient_refused"
    assert INVITEE_EMAIL not in entity["delivery_error"]
    assert store.get(COMMSENT, sent_pk(b.workspace, b.id), "confirmation|1")["state"] == "failed"
    assert handle_communication(deps, message("confirmation", b)).action == "duplicate"
    assert mail.attempts == 1
    # the booking's own fields are untouched
    assert entity["meeting_url"] == TEAMS_URL and entity["revision"] == 1


def test_transient_failure_requeues_with_retry_after(deps, store, queue, mail, clock) -> None:
    b = seed_world(store, START)
    mail.failures.append(TransientError("SMTP 451", retry_after=600))
    out = handle_communication(deps, message("confirmation", b))
    assert out.action == "requeued" and out.requeue_delay >= 600
    assert store.get(COMMSENT, sent_pk(b.workspace, b.id), "confirmation|1") is None  # claim released
    [copy] = [i for i in queue.pending() if i.message["kind"] == "confirmation"]
    assert copy.message["attempt"] == 2 and copy.visibility_timeout == out.requeue_delay
    clock.advance(seconds=out.requeue_delay)
    drain(deps, queue)
    assert mail.kinds() == ["confirmation"]


def test_transient_failures_give_up_after_max_attempts(deps, store, mail) -> None:
    b = seed_world(store, START)
    mail.failures.append(TransientError("SMTP down"))
    out = handle_communication(deps, message("confirmation", b, attempt=MAX_ATTEMPTS))
    assert out.action == "gave_up"
    assert stored_booking(store, b)["delivery_error"] == "confirmation:retries_exhausted"


def test_storage_failure_propagates_for_the_host_to_retry(deps, store, mail) -> None:
    b = seed_world(store, START)

    class Broken(InMemoryEntityStore):
        def query(self, *a, **k):
            raise StorageUnavailable("down")

    broken = Broken()
    broken._tables = store._tables
    with pytest.raises(StorageUnavailable):
        handle_communication(new_deps(broken, deps.queue, mail, deps.clock), message("confirmation", b))
    assert mail.sent == []


class Crash(BaseException):
    """The process dies (nothing after the send runs)."""


def test_crash_mid_send_resends_with_the_same_message_id_after_the_claim_is_stale(deps, store, queue, mail,
                                                                                  clock) -> None:
    b = seed_world(store, START)
    mail.failures.append(Crash())
    with pytest.raises(Crash):
        handle_communication(deps, message("confirmation", b))
    assert store.get(COMMSENT, sent_pk(b.workspace, b.id), "confirmation|1")["state"] == "sending"
    # a redelivery right away does not send: another attempt may still be sending
    out = handle_communication(deps, message("confirmation", b))
    assert out.action == "requeued" and out.requeue_delay > STALE_CLAIM.total_seconds() - 10
    assert mail.sent == []
    clock.advance(seconds=out.requeue_delay)
    drain(deps, queue)
    assert len(mail.sent) == 1
    mime = build_email(mail.sent[0], sender="bookings@bookbridge.test")
    row = store.get(COMMSENT, sent_pk(b.workspace, b.id), "confirmation|1")
    assert row["state"] == "sent" and row["takeovers"] == 1 and str(mime["Message-ID"]) == row["message_id"]


def test_poison_message_records_delivery_error(deps, store) -> None:
    b = seed_world(store, START)
    out = handle_poison_message(deps, message("link_update", b))
    assert out.action == "failed"
    assert stored_booking(store, b)["delivery_error"] == "link_update:retries_exhausted"


def test_poison_message_of_a_sent_message_changes_nothing(deps, store) -> None:
    b = seed_world(store, START)
    handle_communication(deps, message("confirmation", b))
    assert handle_poison_message(deps, message("confirmation", b)).action == "skipped"
    assert "delivery_error" not in stored_booking(store, b)


def test_poison_reminder_of_a_moved_booking_is_ignored(deps, store) -> None:
    b = seed_world(store, START, revision=2)
    msg = message("reminder", b, revision=1, offset_minutes=60, due_at="2026-11-26T13:00:00Z")
    assert handle_poison_message(deps, msg).action == "skipped"
    assert "delivery_error" not in stored_booking(store, b)


def test_invalid_messages_are_dropped(deps, mail) -> None:
    for bad in ({}, {"kind": "spam"}, {"kind": "reminder", "workspace": "w", "host": "h", "booking_id": "b",
                                       "revision": 1}, "text"):
        assert handle_communication(deps, bad).action == "invalid"
    assert mail.sent == []


def test_missing_booking_is_acknowledged(deps, store, mail) -> None:
    b = seed_world(store, START)
    other = message("confirmation", b)
    other["booking_id"] = "0" * 32
    assert handle_communication(deps, other).action == "skipped"


def test_message_newer_than_the_booking_is_retried(deps, store) -> None:
    b = seed_world(store, START)
    with pytest.raises(TransientError):
        handle_communication(deps, message("reschedule", b, revision=2))


def test_logs_carry_ids_only(deps, store, mail, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    b = seed_world(store, START, invitee_name="Zed Secretname")
    handle_communication(deps, message("confirmation", b))
    mail.failures.append(DeliveryRejected("refused", code="recipient_refused"))
    b = update_booking(store, b, status="cancelled", revision=2)
    handle_communication(deps, message("cancellation", b))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert b.id in text
    for secret in (INVITEE_EMAIL, "Secretname", "teams.microsoft.com", "token=", HOST_EMAIL):
        assert secret not in text


# ------------------------------------------------------------------ reminders over time
def test_reminders_30_days_ahead_arrive_on_time(deps, store, queue, mail, clock) -> None:
    start = clock.now() + timedelta(days=30, hours=6)
    b = seed_world(store, start, offsets=(1440, 60))
    handle_communication(deps, message("confirmation", b))
    first = [i for i in queue.pending() if i.message["kind"] == "reminder"]
    assert len(first) == 2 and all(i.visibility_timeout <= 7 * 24 * 3600 for i in first)
    assert all(i.visibility_timeout == 6 * 24 * 3600 for i in first)

    sent_at: dict[int, datetime] = {}
    requeues = 0
    for _ in range(100):
        nxt = queue.next_visible_at()
        if nxt is None:
            break
        clock.current = max(clock.current, nxt)  # the message becomes visible; no real waiting
        for msg, outcome in drain(deps, queue):
            assert msg["kind"] == "reminder"
            if outcome.action == "requeued":
                requeues += 1
                assert 0 < outcome.requeue_delay <= 6 * 24 * 3600
            elif outcome.action == "sent":
                sent_at[msg["offset_minutes"]] = clock.now()
    assert set(sent_at) == {1440, 60}
    for offset, when in sent_at.items():
        due = start - timedelta(minutes=offset)
        assert due - timedelta(seconds=60) <= when <= due + timedelta(seconds=60)
    assert requeues >= 8  # each reminder hopped through the 6-day cap at least 4 times
    reminders = [m for m in mail.sent if m.headers["X-Bookbridge-Kind"] == "reminder"]
    assert len(reminders) == 2 and all(TEAMS_URL in m.text for m in reminders)
    assert "starts in 1 day" in reminders[0].text and "starts in 1 hour" in reminders[1].text


def test_reminder_arriving_after_the_start_is_dropped(deps, store, queue, mail, clock) -> None:
    b = seed_world(store, START)
    msg = message("reminder", b, offset_minutes=60, due_at="2026-11-26T13:00:00Z")
    clock.current = START + timedelta(minutes=1)
    assert handle_communication(deps, msg).action == "skipped"
    assert mail.sent == []


def test_short_notice_booking_gets_only_the_reminders_still_ahead(deps, store, queue, clock) -> None:
    b = seed_world(store, clock.now() + timedelta(minutes=30), offsets=(60, 15))
    handle_communication(deps, message("confirmation", b))
    assert [m["offset_minutes"] for m in _reminders(queue)] == [15]


def test_reminder_is_sent_once(deps, store, queue, mail, clock) -> None:
    b = seed_world(store, START)
    msg = message("reminder", b, offset_minutes=60, due_at="2026-11-26T13:00:00Z")
    clock.current = START - timedelta(minutes=60)
    assert [handle_communication(deps, msg).action for _ in range(3)] == ["sent", "duplicate", "duplicate"]
    assert mail.kinds() == ["reminder"]


# ------------------------------------------------------------------ rule 28: Google Calendar invites
def _connect_google(store, b, status: str = "connected") -> None:
    store.upsert("connections", {"PartitionKey": f"{b.workspace}|{b.host}", "RowKey": "google_calendar",
                                 "status": status})


def test_a_google_members_confirmation_leaves_the_invitation_to_google_calendar(deps, store, mail) -> None:
    b = seed_world(store, START, extra={"calendar_provider": "google"})
    _connect_google(store, b)
    handle_communication(deps, message("confirmation", b))
    [sent] = mail.sent
    assert ics_of(sent) is None and TEAMS_URL in sent.text
    assert "The calendar invitation comes from Google Calendar in a separate email" in sent.text


def test_without_a_connected_google_calendar_our_ics_goes_out(deps, store, mail) -> None:
    b = seed_world(store, START, extra={"calendar_provider": "google"})
    _connect_google(store, b, status="needs_reauth")
    handle_communication(deps, message("confirmation", b))
    assert ics_of(mail.sent[0]) is not None and "Google Calendar" not in mail.sent[0].text
