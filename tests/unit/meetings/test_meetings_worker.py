"""The meeting worker through its queue functions: Graph on ``responses`` (FakeGraph), ports faked in memory."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from shared.domain import meeting_plan
from shared.errors import StorageUnavailable, TransientError
from shared.ports import iso_utc, parse_iso_utc
from shared.repositories import bookings as bookings_repo
from shared.usecases import meetings
from tests.unit.meetings.helpers import OID, OTHER_OID, TID, Harness, invalid_grant, not_connected

EVENTS = r"/me/events"
CAL_EVENTS = r"/me/calendars/[^/]+/events"
ANY_EVENT_CREATE = rf"(?:{EVENTS}|{CAL_EVENTS})"
CREATE_OR_GET = r"/me/onlineMeetings/createOrGet"


def comms(h: Harness, booking_id: str) -> list[dict[str, Any]]:
    return [m for m in h.queue.on("communications") if m["booking_id"] == booking_id]


def kinds(h: Harness, booking_id: str) -> list[tuple[str, int]]:
    return [(m["kind"], m["revision"]) for m in comms(h, booking_id)]


def requeued(h: Harness) -> list[Any]:
    return [m for m in h.queue.sent if m.queue == "meetings"]


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sleeping is forbidden in functions/ and shared/: make any sleep fail the test."""
    import time

    def forbidden(seconds: float) -> None:
        raise AssertionError(f"time.sleep({seconds}) called")

    monkeypatch.setattr(time, "sleep", forbidden)


# =============================================================================== create: same account
def test_same_account_is_one_event_call_with_the_teams_link(h: Harness, no_sleep: None) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar", linked_calendar_id="AAMkCal/1==")
    b = h.add_booking()

    h.deliver(h.message(b))

    assert len(h.graph.requests) == 1
    req = h.graph.requests[0]
    assert req.method == "POST" and req.path == "/me/calendars/AAMkCal%2F1%3D%3D/events"
    assert req.token == "tok-microsoft_calendar-1"
    body = req.body
    assert body["subject"] == "Intro call with Ada Lovelace"
    assert body["start"] == {"dateTime": "2026-11-25T10:00:00", "timeZone": "W. Europe Standard Time"}
    assert body["end"] == {"dateTime": "2026-11-25T10:30:00", "timeZone": "W. Europe Standard Time"}
    assert body["attendees"] == [{"emailAddress": {"address": "ada@example.com", "name": "Ada Lovelace"},
                                  "type": "required"}]
    assert body["isOnlineMeeting"] is True and body["onlineMeetingProvider"] == "teamsForBusiness"
    assert body["transactionId"] == meeting_plan.transaction_id(h.ws, b["id"])
    event = next(iter(h.graph.events.values()))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created"
    assert stored["meeting_url"] == event["onlineMeeting"]["joinUrl"]
    assert stored["graph_event_id"] == event["id"]
    assert not stored.get("online_meeting_id")
    assert stored["invitation_channel"] == "outlook" and stored["event_carries_link"] is True
    assert (stored["organizer_oid"], stored["organizer_tid"]) == (OID, TID)
    assert stored["graph_synced_revision"] == 1
    assert kinds(h, b["id"]) == [("confirmation", 1)]
    assert comms(h, b["id"])[0] == {"kind": "confirmation", "workspace": h.ws, "host": h.host,
                                    "booking_id": b["id"], "revision": 1}
    assert stored["link_ready_notified_kind"] == "confirmation" and stored["link_ready_notified_revision"] == 1
    assert not stored.get("pending_notices")


def test_same_account_without_linked_calendar_id_uses_me_events(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    b = h.add_booking()
    h.deliver(h.message(b))
    assert [(r.method, r.path) for r in h.graph.requests] == [("POST", "/me/events")]
    assert h.booking(b["id"])["link_state"] == "created"


def test_transaction_id_is_deterministic_and_revision_independent() -> None:
    a = meeting_plan.transaction_id("ws1", "b1")
    assert a == meeting_plan.transaction_id("ws1", "b1")
    assert a != meeting_plan.transaction_id("ws1", "b2") and a != meeting_plan.transaction_id("ws2", "b1")
    assert meeting_plan.external_id("ws1", "b1") != a


def test_missing_join_url_is_read_back_once(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    h.graph.join_url_in_create = False
    b = h.add_booking()
    h.deliver(h.message(b))
    assert [(r.method, r.path) for r in h.graph.requests][0] == ("POST", "/me/events")
    read = h.graph.requests[1]
    assert read.method == "GET" and read.query["$select"] == ["id,isOnlineMeeting,onlineMeeting"]
    assert len(h.graph.requests) == 2
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created"
    assert stored["meeting_url"] == next(iter(h.graph.events.values()))["onlineMeeting"]["joinUrl"]


def test_join_url_still_missing_fails_with_a_reason_never_a_fallback(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    h.graph.join_url_in_create = False
    h.graph.join_url_on_read = False
    b = h.add_booking()
    h.deliver(h.message(b, attempt=3))  # the queue's last try (earlier ones re-queue: test_meetings_fidelity)
    assert len(h.graph.requests) == 2 and not h.graph.meetings  # no online meeting created as a fallback
    stored = h.booking(b["id"])
    assert stored["link_state"] == "failed"
    assert stored["link_reason"] == meetings.REASON_NO_JOIN_URL_EVENT
    assert not stored.get("meeting_url") and stored["graph_event_id"]
    assert kinds(h, b["id"]) == [("confirmation", 1), ("host_notice", 1)]


# =============================================================================== create: Teams only
def test_teams_only_creates_an_online_meeting_with_create_or_get(h: Harness) -> None:
    h.connect("teams")
    b = h.add_booking()
    h.deliver(h.message(b))
    assert len(h.graph.requests) == 1
    req = h.graph.requests[0]
    assert (req.method, req.path, req.token) == ("POST", CREATE_OR_GET, "tok-teams-1")
    assert req.body == {
        "externalId": meeting_plan.external_id(h.ws, b["id"]),
        "subject": "Intro call with Ada Lovelace",
        "startDateTime": "2026-11-25T09:00:00Z",
        "endDateTime": "2026-11-25T09:30:00Z",
    }
    meeting = next(iter(h.graph.meetings.values()))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and stored["meeting_url"] == meeting["joinWebUrl"]
    assert stored["online_meeting_id"] == meeting["id"] and not stored.get("graph_event_id")
    assert kinds(h, b["id"]) == [("confirmation", 1)]


def test_teams_with_a_calendar_of_another_account_writes_the_event_carrying_the_link(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar", oid=OTHER_OID, linked_calendar_id="cal-9")
    b = h.add_booking()
    h.deliver(h.message(b))
    assert [(r.method, r.path, r.token) for r in h.graph.requests] == [
        ("POST", CREATE_OR_GET, "tok-teams-1"),
        ("POST", "/me/calendars/cal-9/events", "tok-microsoft_calendar-1"),
    ]
    link = h.booking(b["id"])["meeting_url"]
    event_body = h.graph.requests[1].body
    assert "isOnlineMeeting" not in event_body and "attendees" not in event_body
    assert event_body["location"] == {"displayName": "Microsoft Teams Meeting", "locationUri": link}
    assert link in event_body["body"]["content"]
    assert event_body["transactionId"] == meeting_plan.transaction_id(h.ws, b["id"])
    stored = h.booking(b["id"])
    assert stored["invitation_channel"] == "ics" and stored["event_carries_link"] is True
    assert stored["graph_event_id"] and stored["online_meeting_id"]
    assert kinds(h, b["id"]) == [("confirmation", 1)]


# =============================================================================== create: other locations
def test_custom_location_is_static_and_the_event_carries_the_url(h: Harness) -> None:
    h.connect("microsoft_calendar")
    url = "https://meet.example.com/room/7?pwd=x"
    b = h.add_booking(location="custom", custom_url=url, link_state="static")
    h.deliver(h.message(b))
    assert [(r.method, r.path) for r in h.graph.requests] == [("POST", "/me/events")]
    body = h.graph.requests[0].body
    assert body["location"] == {"displayName": url, "locationUri": url} and "isOnlineMeeting" not in body
    stored = h.booking(b["id"])
    assert stored["link_state"] == "static" and stored["meeting_url"] == url
    assert kinds(h, b["id"]) == [("confirmation", 1)]  # intake puts only the create: the worker confirms


def test_static_booking_as_intake_stores_it_gets_its_event_carrying_the_url(h: Harness) -> None:
    h.connect("microsoft_calendar")
    url = "https://meet.example.com/room/8"
    b = h.add_booking(location="custom", custom_url=url, link_state="static", meeting_url=url)
    h.deliver(h.message(b))
    h.deliver(h.message(b), dequeue_count=2)
    assert [(r.method, r.path) for r in h.graph.requests] == [("POST", "/me/events")]
    assert h.graph.requests[0].body["location"]["locationUri"] == url
    stored = h.booking(b["id"])
    assert stored["graph_event_id"] and stored["event_carries_link"] is True and stored["invitation_channel"] == "ics"
    assert kinds(h, b["id"]) == [("confirmation", 1)]  # once, although delivered twice


def test_no_online_meeting_but_a_linked_calendar_writes_the_event_without_one(h: Harness) -> None:
    h.connect("microsoft_calendar")
    b = h.add_booking(location="none", link_state="not_applicable")
    h.deliver(h.message(b))
    assert [(r.method, r.path) for r in h.graph.requests] == [("POST", "/me/events")]
    body = h.graph.requests[0].body
    assert "location" not in body and "isOnlineMeeting" not in body
    stored = h.booking(b["id"])
    assert stored["link_state"] == "not_applicable" and stored["graph_event_id"]


def test_no_location_and_no_calendar_makes_no_call(h: Harness) -> None:
    b = h.add_booking(location="none", link_state="not_applicable")
    h.deliver(h.message(b))
    assert h.graph.requests == [] and kinds(h, b["id"]) == [("confirmation", 1)]


@pytest.mark.parametrize("case", ["cancelled", "past", "has_link"])
def test_bookings_left_unchanged(h: Harness, case: str) -> None:
    h.connect("teams")
    confirmed = {"confirmation_enqueued_revision": 1}  # a create delivered again: the booking was confirmed
    if case == "cancelled":
        b = h.add_booking(status="cancelled", link_state="awaiting_connection")
    elif case == "past":
        b = h.add_booking(link_state="awaiting_connection", **confirmed,
                          start_utc=h.clock.now() - timedelta(hours=1), end_utc=h.clock.now() - timedelta(minutes=30))
    else:
        b = h.add_booking(link_state="created", meeting_url="https://teams.microsoft.com/l/meetup-join/x",
                          **confirmed)
    before = h.booking(b["id"])
    h.deliver(h.message(b))
    assert h.graph.requests == [] and kinds(h, b["id"]) == []
    assert h.booking(b["id"])["_etag"] == before["_etag"]


def test_pending_booking_whose_start_passed_is_explained_not_left_pending(h: Harness) -> None:
    h.connect("teams")
    b = h.add_booking(start_utc=h.clock.now() - timedelta(minutes=5), end_utc=h.clock.now() + timedelta(minutes=25))
    h.deliver(h.message(b))
    assert h.graph.requests == []
    stored = h.booking(b["id"])
    assert stored["link_state"] == "failed" and stored["link_reason"] == meetings.REASON_PAST


# =============================================================================== exactly once
def test_same_message_three_times_one_meeting_one_link_one_message(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    b = h.add_booking()
    msg = h.message(b)
    for n in (1, 2, 3):
        h.deliver(msg, dequeue_count=n)
    assert len(h.graph.events) == 1 and len(h.graph.requests) == 1
    assert h.booking(b["id"])["meeting_url"] == next(iter(h.graph.events.values()))["onlineMeeting"]["joinUrl"]
    assert kinds(h, b["id"]) == [("confirmation", 1)]


class CrashingStore:
    """Delegates to a store; the first ``update`` of a booking row raises (a crash before the state write)."""

    def __init__(self, inner: Any, *, crashes: int = 1, before_update: Any = None) -> None:
        self._inner, self.crashes, self.before_update = inner, crashes, before_update

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def update(self, table: str, entity: dict, etag: str | None = None, *, merge: bool = False) -> str:
        if table == "schedule" and str(entity.get("RowKey", "")).startswith("booking|"):
            if self.before_update is not None:
                hook, self.before_update = self.before_update, None
                hook()
            if self.crashes > 0:
                self.crashes -= 1
                raise StorageUnavailable("simulated crash between the Graph call and the state write")
        return self._inner.update(table, entity, etag, merge=merge)


def _crash_once(h: Harness, **kwargs: Any) -> CrashingStore:
    crashing = CrashingStore(h.store, **kwargs)
    h.container.store = crashing
    return crashing


@pytest.mark.parametrize("duplicate_answer", ["return", "409"])
def test_crash_after_the_event_call_before_the_state_write_makes_no_second_event(h: Harness,
                                                                                 duplicate_answer: str) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    h.graph.duplicate_transaction = duplicate_answer
    b = h.add_booking()
    _crash_once(h)
    with pytest.raises(StorageUnavailable):
        h.deliver(h.message(b), dequeue_count=1)
    assert h.booking(b["id"])["link_state"] == "pending" and len(h.graph.events) == 1
    h.deliver(h.message(b), dequeue_count=2)
    h.deliver(h.message(b), dequeue_count=3)
    assert len(h.graph.events) == 1
    posts = h.graph.calls("POST", ANY_EVENT_CREATE)
    assert len(posts) == 2 and posts[0].body["transactionId"] == posts[1].body["transactionId"]
    stored = h.booking(b["id"])
    assert stored["meeting_url"] == next(iter(h.graph.events.values()))["onlineMeeting"]["joinUrl"]
    assert kinds(h, b["id"]) == [("confirmation", 1)]


def test_crash_after_create_or_get_before_the_state_write_makes_no_second_meeting(h: Harness) -> None:
    h.connect("teams")
    b = h.add_booking()
    _crash_once(h)
    with pytest.raises(StorageUnavailable):
        h.deliver(h.message(b))
    h.deliver(h.message(b), dequeue_count=2)
    assert len(h.graph.meetings) == 1 and len(h.graph.calls("POST", CREATE_OR_GET)) == 2
    assert h.booking(b["id"])["meeting_url"] == next(iter(h.graph.meetings.values()))["joinWebUrl"]
    assert kinds(h, b["id"]) == [("confirmation", 1)]


def test_crash_after_the_state_write_before_the_message_sends_it_on_redelivery(h: Harness) -> None:
    h.connect("teams")
    b = h.add_booking()

    class FailingQueueOnce:
        def __init__(self, inner: Any) -> None:
            self.inner, self.failed = inner, False

        def send(self, queue: str, message: dict, *, visibility_timeout: int = 0) -> None:
            if queue == "communications" and not self.failed:
                self.failed = True
                raise StorageUnavailable("queue down")
            self.inner.send(queue, message, visibility_timeout=visibility_timeout)

    h.container.queue = FailingQueueOnce(h.queue)
    with pytest.raises(StorageUnavailable):
        h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and stored["pending_notices"] == "confirmation"
    h.deliver(h.message(b), dequeue_count=2)
    assert len(h.graph.requests) == 1
    assert kinds(h, b["id"]) == [("confirmation", 1)]
    assert not h.booking(b["id"]).get("pending_notices")


# =============================================================================== concurrency with intake
def test_booking_cancelled_while_the_meeting_was_created_gets_the_meeting_cancelled(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    b = h.add_booking()
    _crash_once(h, crashes=0, before_update=lambda: h.change_booking(b["id"], status="cancelled"))
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["graph_event_id"] and stored["graph_cancelled"] is True
    assert h.graph.cancelled_events == [stored["graph_event_id"]]


def test_booking_rescheduled_while_the_meeting_was_created_gets_the_new_times(h: Harness) -> None:
    h.connect("teams")
    b = h.add_booking()
    new_start = parse_iso_utc(b["start_utc"]) + timedelta(days=1)
    _crash_once(h, crashes=0, before_update=lambda: h.change_booking(
        b["id"], start_utc=iso_utc(new_start), end_utc=iso_utc(new_start + timedelta(minutes=30))))
    h.deliver(h.message(b))
    patches = h.graph.calls("PATCH", r"/me/onlineMeetings/.+")
    assert len(patches) == 1 and patches[0].body == {"startDateTime": "2026-11-26T09:00:00Z",
                                                     "endDateTime": "2026-11-26T09:30:00Z"}
    assert h.booking(b["id"])["graph_synced_revision"] == 2


def test_message_newer_than_the_stored_booking_is_retried_by_the_host(h: Harness) -> None:
    h.connect("teams")
    b = h.add_booking()
    with pytest.raises(TransientError):
        h.deliver({**h.message(b), "revision": 5})
    assert h.graph.requests == []


# =============================================================================== throttling
def test_429_retry_after_requeues_a_delayed_copy_without_sleeping_then_succeeds(h: Harness, no_sleep: None) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    h.graph.fail("POST", ANY_EVENT_CREATE, 429, headers={"Retry-After": "7"})
    b = h.add_booking()
    msg = h.message(b)
    h.deliver(msg)  # returns normally: the host deletes this message
    copies = requeued(h)
    assert len(copies) == 1
    assert copies[0].visibility_timeout == 7
    assert copies[0].message == {**msg, "attempt": 2}
    assert h.booking(b["id"])["link_state"] == "pending" and kinds(h, b["id"]) == []
    h.deliver(copies[0].message)
    assert h.booking(b["id"])["link_state"] == "created" and len(h.graph.events) == 1
    assert kinds(h, b["id"]) == [("confirmation", 1)]


@pytest.mark.parametrize("status", [503, 504])
def test_503_and_504_are_throttling_too(h: Harness, status: int) -> None:
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, status, headers={"Retry-After": "3"})
    b = h.add_booking()
    h.deliver(h.message(b))
    assert [(c.visibility_timeout, c.message["attempt"]) for c in requeued(h)] == [(3, 2)]


def test_429_without_retry_after_backs_off_exponentially_with_jitter(h: Harness) -> None:
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, 429, times=2)
    b = h.add_booking()
    h.deliver({**h.message(b), "attempt": 4})
    assert 8 <= requeued(h)[0].visibility_timeout <= 16
    h.deliver({**h.message(b), "attempt": 1})
    assert 1 <= requeued(h)[1].visibility_timeout <= 2


def test_throttled_until_the_last_attempt_leaves_the_booking_retrying_with_the_reason(h: Harness) -> None:
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, 429, headers={"Retry-After": "1"})
    b = h.add_booking()
    h.deliver({**h.message(b), "attempt": meetings.MAX_ATTEMPTS})
    assert requeued(h) == []
    stored = h.booking(b["id"])
    assert stored["link_state"] == "retrying" and "8 attempts" in stored["link_reason"]
    assert kinds(h, b["id"]) == [("confirmation", 1)]  # a transient cause: nothing for the host to do


def test_other_transient_graph_errors_are_raised_for_the_host_to_retry(h: Harness) -> None:
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, 500)
    b = h.add_booking()
    with pytest.raises(TransientError):
        h.deliver(h.message(b))
    assert requeued(h) == [] and h.booking(b["id"])["link_state"] == "pending"


# =============================================================================== tokens and connections
def test_401_refreshes_the_token_once_silently_and_retries(h: Harness) -> None:
    h.connect("teams")
    h.graph.rejected_tokens.add("tok-teams-1")
    b = h.add_booking()
    h.deliver(h.message(b))
    assert [r.token for r in h.graph.requests] == ["tok-teams-1", "tok-teams-2"]
    assert [c[3] for c in h.tokens.calls] == [False, True]
    assert h.booking(b["id"])["link_state"] == "created"


def test_invalid_grant_on_refresh_leaves_the_booking_awaiting_connection(h: Harness) -> None:
    h.connect("teams")
    h.graph.rejected_tokens.add("tok-teams-1")
    h.tokens.fail_refresh["teams"] = invalid_grant()
    b = h.add_booking()
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "awaiting_connection" and stored["link_reason"] == meetings.REASON_REAUTH
    rows = list(h.store.query("backfillindex", f"{h.ws}|{h.host}"))
    assert [r["RowKey"] for r in rows] == [f"{b['start_utc']}|{b['id']}"]
    assert kinds(h, b["id"]) == [("confirmation", 1), ("host_notice", 1)]
    # the same message again: nothing new is sent
    h.deliver(h.message(b), dequeue_count=2)
    assert kinds(h, b["id"]) == [("confirmation", 1), ("host_notice", 1)]


@pytest.mark.parametrize("how", ["no_row", "token_port"])
def test_no_connected_teams_connection_is_awaiting_connection(h: Harness, how: str) -> None:
    if how == "token_port":
        h.connect("teams")
        h.tokens.fail["teams"] = not_connected()
    b = h.add_booking()
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "awaiting_connection"
    assert stored["link_reason"] == meetings.REASON_NOT_CONNECTED
    assert kinds(h, b["id"]) == [("confirmation", 1), ("host_notice", 1)]


def test_403_teams_unavailable_fails_with_a_reason_and_marks_the_connection(h: Harness) -> None:
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, 403, code="Forbidden")
    b = h.add_booking()
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "failed" and stored["link_reason"] == meetings.REASON_TEAMS_UNAVAILABLE
    conn = h.store.get("connections", f"{h.ws}|{h.host}", "teams")
    assert conn["teams_unavailable"] is True
    assert kinds(h, b["id"]) == [("confirmation", 1), ("host_notice", 1)]


def test_403_with_a_linked_calendar_still_writes_the_event_without_link(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar", oid=OTHER_OID)
    h.graph.fail("POST", CREATE_OR_GET, 403)
    b = h.add_booking()
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "failed" and stored["graph_event_id"]
    assert "location" not in h.graph.calls("POST", EVENTS)[0].body


def test_calendar_connection_broken_in_same_account_case_uses_an_online_meeting(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    h.tokens.fail["microsoft_calendar"] = invalid_grant()
    b = h.add_booking()
    h.deliver(h.message(b))
    assert [(r.method, r.path) for r in h.graph.requests] == [("POST", CREATE_OR_GET)]
    assert h.booking(b["id"])["link_state"] == "created"


# =============================================================================== backfill
def test_backfill_of_an_awaiting_booking_creates_the_link_and_sends_a_link_update(h: Harness) -> None:
    b = h.add_booking(link_state="awaiting_connection", link_reason=meetings.REASON_NOT_CONNECTED,
                      confirmation_enqueued_revision=1)
    h.deliver(h.message(b))  # the teams connection is still missing: nothing changes, nothing is sent
    assert h.booking(b["id"])["link_state"] == "awaiting_connection" and kinds(h, b["id"]) == []
    h.connect("teams")  # reconnected; the sweep sends a create
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and stored["meeting_url"]
    assert kinds(h, b["id"]) == [("link_update", 1)]
    assert stored["link_ready_notified_kind"] == "link_update"
    assert list(h.store.query("backfillindex", f"{h.ws}|{h.host}")) == []


def test_backfill_adds_the_link_to_an_event_written_without_one(h: Harness) -> None:
    h.connect("microsoft_calendar", oid=OTHER_OID)
    b = h.add_booking(link_state="awaiting_connection", confirmation_enqueued_revision=1)
    h.deliver(h.message(b))
    event_id = h.booking(b["id"])["graph_event_id"]
    assert event_id and h.booking(b["id"])["event_carries_link"] is False
    h.connect("teams")
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    patch = h.graph.calls("PATCH", r"/me/events/.+")[0]
    assert patch.body["location"]["locationUri"] == stored["meeting_url"]
    assert stored["event_carries_link"] is True and len(h.graph.events) == 1
    assert kinds(h, b["id"]) == [("link_update", 1)]


def _index(h: Harness, b: dict[str, Any], start: str | None = None) -> str:
    """An index row for ``b`` as ``index_awaiting`` writes it (at ``start`` when given: an outdated row)."""
    entity = bookings_repo.backfill_entity(bookings_repo.booking_from_entity({**b, **({"start_utc": start}
                                                                                       if start else {})}))
    h.store.upsert(bookings_repo.BACKFILL, entity)
    return entity["RowKey"]


def _index_keys(h: Harness) -> list[str]:
    return [e["RowKey"] for e in h.store.query(bookings_repo.BACKFILL, f"{h.ws}|{h.host}")]


@pytest.mark.parametrize("case", ["cancelled", "linked", "failed", "not_teams", "class", "past", "pending"])
def test_a_backfill_create_for_a_booking_that_needs_no_link_removes_the_stale_row_and_touches_nothing(
        h: Harness, case: str) -> None:
    """Rows left by a crash between a booking write and the index delete: the sweep enqueues them from the
    row alone, the worker reads the booking, leaves it as it is (same ETag) and deletes the row."""
    h.connect("teams")
    over: dict[str, Any] = {
        "cancelled": {"status": "cancelled", "link_state": "awaiting_connection", "revision": 2},
        "linked": {"link_state": "created", "meeting_url": "https://teams.microsoft.com/l/meetup-join/old"},
        "failed": {"link_state": "failed", "link_reason": "teams_unavailable"},
        "not_teams": {"location": "none", "link_state": "not_applicable"},
        "class": {"calendar_type": "class", "link_state": "awaiting_connection"},
        "past": {"link_state": "awaiting_connection"},
        "pending": {"link_state": "pending"},  # not awaiting: the intake's own create handles it
    }[case]
    b = h.add_booking(confirmation_enqueued_revision=1, **over)
    row = _index(h, b)
    if case == "past":
        h.clock.advance(days=3)
    h.deliver(h.message(b, backfill_row=row))
    assert h.booking(b["id"]) == b  # not re-written: the same ETag
    assert _index_keys(h) == [] and h.graph.requests == [] and h.queue.sent == []


def test_a_backfill_create_for_a_missing_booking_removes_its_row(h: Harness) -> None:
    h.connect("teams")
    b = h.add_booking(link_state="awaiting_connection")
    row = _index(h, b)
    h.store.delete(bookings_repo.SCHEDULE, f"{h.ws}|{h.host}", bookings_repo.booking_rk(b["id"]))
    h.deliver(h.message(b, backfill_row=row))
    assert _index_keys(h) == [] and h.graph.requests == []


def test_a_backfill_create_through_an_outdated_row_removes_it_and_links_the_booking(h: Harness) -> None:
    h.connect("teams")
    b = h.add_booking(link_state="awaiting_connection", confirmation_enqueued_revision=1)
    own = _index(h, b)
    old = _index(h, b, start=iso_utc(parse_iso_utc(b["start_utc"]) - timedelta(days=1)))  # before a reschedule
    h.deliver(h.message(b, backfill_row=old))
    assert h.booking(b["id"])["link_state"] == "created" and own != old
    assert _index_keys(h) == [] and kinds(h, b["id"]) == [("link_update", 1)]


def test_a_backfill_create_still_waiting_for_the_connection_keeps_the_own_row(h: Harness) -> None:
    b = h.add_booking(link_state="awaiting_connection", confirmation_enqueued_revision=1)
    row = _index(h, b)
    h.deliver(h.message(b, backfill_row=row))  # the connection broke again meanwhile
    assert h.booking(b["id"])["link_state"] == "awaiting_connection" and _index_keys(h) == [row]


@pytest.mark.parametrize("row", [1, "", "x", "2026-11-25T09:00:00Z|other", "2026-11-25T09:00:00Z"])
def test_a_malformed_backfill_row_is_an_invalid_message(row: Any) -> None:
    with pytest.raises(ValueError):
        meetings.MeetingMessage.parse({"op": "create", "workspace": "ws", "host": "h", "booking_id": "b1",
                                       "revision": 1, "backfill_row": row})
    with pytest.raises(ValueError):  # only on a create
        meetings.MeetingMessage.parse({"op": "cancel", "workspace": "ws", "host": "h", "booking_id": "b1",
                                       "revision": 1, "backfill_row": "2026-11-25T09:00:00Z|b1"})


def test_the_backfill_row_survives_a_requeue() -> None:
    msg = meetings.MeetingMessage.parse({"op": "create", "workspace": "ws", "host": "h", "booking_id": "b1",
                                         "revision": 2, "backfill_row": "2026-11-25T09:00:00Z|b1"})
    assert msg.to_dict() == {"op": "create", "workspace": "ws", "host": "h", "booking_id": "b1", "revision": 2,
                             "backfill_row": "2026-11-25T09:00:00Z|b1"}


# =============================================================================== reschedule
def _created_same_account(h: Harness) -> dict[str, Any]:
    h.connect("teams")
    h.connect("microsoft_calendar")
    b = h.add_booking()
    h.deliver(h.message(b))
    return h.booking(b["id"])


def _move(h: Harness, booking_id: str, days: int) -> dict[str, Any]:
    current = h.booking(booking_id)
    start = parse_iso_utc(current["start_utc"]) + timedelta(days=days)
    return h.change_booking(booking_id, start_utc=iso_utc(start), end_utc=iso_utc(start + timedelta(minutes=30)))


def test_reschedule_patches_the_same_event_and_keeps_the_link(h: Harness) -> None:
    b = _created_same_account(h)
    link, event_id = b["meeting_url"], b["graph_event_id"]
    moved = _move(h, b["id"], 1)
    h.deliver(h.message(moved, "reschedule"))
    patches = h.graph.calls("PATCH", r"/me/events/.+")
    assert len(patches) == 1
    assert patches[0].body == {"start": {"dateTime": "2026-11-26T10:00:00", "timeZone": "W. Europe Standard Time"},
                               "end": {"dateTime": "2026-11-26T10:30:00", "timeZone": "W. Europe Standard Time"}}
    assert patches[0].path.endswith(event_id.replace("/", "%2F").replace("=", "%3D"))
    stored = h.booking(b["id"])
    assert stored["meeting_url"] == link and stored["graph_synced_revision"] == 2
    assert len(h.graph.events) == 1 and not h.graph.calls("POST", ANY_EVENT_CREATE)[1:]
    h.deliver(h.message(moved, "reschedule"), dequeue_count=2)  # duplicate: Graph is in sync
    assert len(h.graph.calls("PATCH", r"/me/events/.+")) == 1


def test_an_older_reschedule_still_moves_graph_to_the_current_times_once(h: Harness) -> None:
    b = _created_same_account(h)
    first = _move(h, b["id"], 1)
    second = _move(h, b["id"], 2)  # revision 3, 3 days later than the original
    h.deliver(h.message(first, "reschedule"))  # delivered late, after the second reschedule
    patches = h.graph.calls("PATCH", r"/me/events/.+")
    assert len(patches) == 1 and patches[0].body["start"]["dateTime"] == "2026-11-28T10:00:00"
    h.deliver(h.message(second, "reschedule"))  # the newer one finds Graph in sync
    assert len(h.graph.calls("PATCH", r"/me/events/.+")) == 1
    assert h.booking(b["id"])["graph_synced_revision"] == 3


def test_reschedule_of_a_teams_only_booking_patches_the_online_meeting(h: Harness) -> None:
    h.connect("teams")
    b = h.add_booking()
    h.deliver(h.message(b))
    link = h.booking(b["id"])["meeting_url"]
    moved = _move(h, b["id"], 1)
    h.deliver(h.message(moved, "reschedule"))
    patch = h.graph.calls("PATCH", r"/me/onlineMeetings/.+")[0]
    assert patch.body == {"startDateTime": "2026-11-26T09:00:00Z", "endDateTime": "2026-11-26T09:30:00Z"}
    assert h.booking(b["id"])["meeting_url"] == link == next(iter(h.graph.meetings.values()))["joinWebUrl"]


def test_reschedule_before_the_meeting_exists_makes_it_once_at_the_current_times(h: Harness) -> None:
    # every trigger goes through the reconciler (issue 15): the reschedule makes the missing meeting, at the
    # current times; the create (revision 1) arriving later finds the booking converged
    h.connect("teams")
    b = h.add_booking()
    moved = _move(h, b["id"], 1)
    h.deliver(h.message(moved, "reschedule"))
    assert [r.body["startDateTime"] for r in h.graph.requests] == ["2026-11-26T09:00:00Z"]
    h.deliver(h.message(b))
    assert len(h.graph.requests) == 1
    assert h.booking(b["id"])["graph_synced_revision"] == 2
    assert kinds(h, b["id"]) == [("confirmation", 2)]


# =============================================================================== cancel
def test_cancel_calls_cancel_on_the_event_once(h: Harness) -> None:
    b = _created_same_account(h)
    cancelled = h.change_booking(b["id"], status="cancelled")
    h.deliver(h.message(cancelled, "cancel"))
    calls = h.graph.calls("POST", r"/me/events/.+/cancel")
    assert len(calls) == 1 and calls[0].body == {"comment": "This booking was cancelled."}
    assert h.booking(b["id"])["graph_cancelled"] is True
    h.deliver(h.message(cancelled, "cancel"), dequeue_count=2)
    assert len(h.graph.calls("POST", r"/me/events/.+/cancel")) == 1


def test_404_on_cancel_is_success(h: Harness) -> None:
    b = _created_same_account(h)
    cancelled = h.change_booking(b["id"], status="cancelled")
    h.graph.fail("POST", r"/me/events/.+/cancel", 404)
    h.deliver(h.message(cancelled, "cancel"))
    assert h.booking(b["id"])["graph_cancelled"] is True and not h.booking(b["id"]).get("graph_sync_error")


def test_cancel_of_a_teams_only_booking_deletes_the_online_meeting_404_is_fine(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar", oid=OTHER_OID)
    b = h.add_booking()
    h.deliver(h.message(b))
    h.graph.fail("DELETE", r"/me/onlineMeetings/.+", 404)
    cancelled = h.change_booking(b["id"], status="cancelled")
    h.deliver(h.message(cancelled, "cancel"))
    assert len(h.graph.calls("DELETE", r"/me/onlineMeetings/.+")) == 1
    # the event had no attendees (the invitation was the .ics): it is deleted, not "cancelled"
    assert len(h.graph.calls("DELETE", r"/me/events/.+")) == 1 and not h.graph.calls("POST", r"/me/events/.+/cancel")
    assert h.booking(b["id"])["graph_cancelled"] is True


def test_cancel_message_for_a_booking_that_is_not_cancelled_is_stale(h: Harness) -> None:
    b = _created_same_account(h)
    h.deliver(h.message(b, "cancel"))
    assert h.graph.calls("POST", r"/me/events/.+/cancel") == []


# =============================================================================== poison
def test_poison_leaves_a_pending_booking_retrying_and_confirms_it(h: Harness) -> None:
    h.connect("teams")
    b = h.add_booking()
    h.deliver_poison(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "retrying" and stored["next_attempt_at"]
    assert stored["link_reason"].startswith("Microsoft 365 or storage did not answer (5 attempts)")
    assert "reconnect" not in stored["link_reason"].lower()  # reconnecting would change nothing
    assert kinds(h, b["id"]) == [("confirmation", 1)]
    h.deliver_poison(h.message(b))  # a second copy sends nothing more
    assert kinds(h, b["id"]) == [("confirmation", 1)]


def test_a_permanent_cause_is_failed_with_the_fix_and_the_host_is_told(h: Harness) -> None:
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, 403, code="Forbidden")
    b = h.add_booking()
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "failed" and "Microsoft 365 administrator" in stored["link_reason"]
    assert not stored.get("next_attempt_at")
    assert kinds(h, b["id"]) == [("confirmation", 1), ("host_notice", 1)]


def test_poison_of_a_reschedule_records_the_sync_error_and_keeps_the_link(h: Harness) -> None:
    b = _created_same_account(h)
    moved = _move(h, b["id"], 1)
    h.deliver_poison(h.message(moved, "reschedule"))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and "moved to the new time after 5 attempts" in stored["graph_sync_error"]


def test_poison_count_matches_host_json() -> None:
    import json
    from pathlib import Path

    host = json.loads((Path(__file__).resolve().parents[3] / "host.json").read_text())
    assert host["extensions"]["queues"]["maxDequeueCount"] == meetings.HOST_MAX_DEQUEUE_COUNT


# =============================================================================== hygiene
def test_invalid_messages_are_dropped_not_retried(h: Harness) -> None:
    h.deliver({"op": "explode", "workspace": h.ws})
    from functions import meetings_worker

    meetings_worker.meetings_worker(h.queue_message({"x": 1}))
    from azure.functions.queue import QueueMessage

    meetings_worker.meetings_worker(QueueMessage(id="m1", body=b"not json", dequeue_count=1))
    meetings_worker.meetings_poison(QueueMessage(id="m2", body=b"not json", dequeue_count=1))
    assert h.graph.requests == []


def test_logs_carry_ids_never_tokens_emails_or_join_urls(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h.connect("teams")
    h.connect("microsoft_calendar", oid=OTHER_OID)
    h.graph.rejected_tokens.add("tok-teams-1")
    b = h.add_booking()
    h.deliver(h.message(b))
    moved = _move(h, b["id"], 1)
    h.deliver(h.message(moved, "reschedule"))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert b["id"] in text
    for secret in ("tok-", "ada@example.com", "Ada Lovelace", "teams.microsoft.com", "meetup-join"):
        assert secret not in text
