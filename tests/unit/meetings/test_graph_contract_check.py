"""The contract checker itself: it catches what Graph would refuse, and it saw every endpoint the worker uses."""
from __future__ import annotations

import pytest

from shared.errors import StorageUnavailable
from tests.graph_contract_check import request_problems, response_problems


@pytest.mark.parametrize("method,path,body,needle", [
    ("POST", "/me/events", {"subject": "x", "isOnlineMeetng": True}, "isOnlineMeetng"),
    ("POST", "/me/events", {"onlineMeetingProvider": "teams"}, "onlineMeetingProviderType"),
    ("POST", "/me/events", {"attendees": [{"emailAddress": {"address": "a"}, "type": "mandatory"}]}, "attendeeType"),
    ("POST", "/me/events", {"start": {"dateTime": "x", "timeZone": "UTC", "tz": 1}}, "tz"),
    ("POST", "/me/events", {"id": "abc"}, "read-only"),
    ("POST", "/me/onlineMeetings/createOrGet", {"subject": "x"}, "externalId"),
    ("POST", "/me/onlineMeetings/createOrGet", {"externalId": "e", "startTime": "x"}, "startTime"),
    ("POST", "/me/onlineMeetings", {"startDateTime": "tomorrow"}, "DateTimeOffset"),
    ("POST", "/me/events/e1/cancel", {"reason": "x"}, "reason"),
    ("POST", "/me/events/e1/decline", {"comment": "x"}, "does not know"),
    ("DELETE", "/me/events/e1", {"x": 1}, "takes no body"),
])
def test_checker_catches_what_is_outside_the_contract(method, path, body, needle) -> None:
    problems = request_problems(method, path, body)
    assert problems and any(needle in p for p in problems), problems


def test_action_parameter_names_are_case_insensitive() -> None:
    assert request_problems("POST", "/me/events/e1/cancel", {"Comment": "x"}) == []


def test_answers_are_checked_too() -> None:
    assert response_problems("POST", "/me/onlineMeetings/createOrGet", 201, {"joinWebUrl": "u", "id": "1"}) == []
    assert response_problems("POST", "/me/onlineMeetings/createOrGet", 201, {"joinUrl": "u"})
    assert response_problems("GET", "/me/events", 200, {"value": [{"id": "1", "transactionId": "t"}]}) == []
    assert response_problems("GET", "/me/events", 200, [{"id": "1"}])
    assert response_problems("POST", "/me/events", 429, {"error": {"code": "x"}}) == []


def test_every_graph_endpoint_of_the_worker_is_exercised_and_inside_the_contract() -> None:
    """Drive every path of the worker once and check all that went over the wire (requests and answers)."""
    from datetime import timedelta

    import responses

    from shared.ports import iso_utc, parse_iso_utc
    from tests.fakes import FixedClock, InMemoryEntityStore, InMemoryMessageQueue
    from tests.graph_contract_check import Ledger, check_calls
    from tests.unit.meetings.fakes import GRAPH_BASE
    from tests.unit.meetings.helpers import OTHER_OID, Harness

    ledger = Ledger()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        h = Harness(InMemoryEntityStore(), InMemoryMessageQueue(), FixedClock(), rsps)
        try:
            def lifecycle(setup, **booking) -> None:
                setup()
                b = h.add_booking(**booking)
                h.deliver(h.message(b))
                start = parse_iso_utc(b["start_utc"]) + timedelta(days=1)
                moved = h.change_booking(b["id"], start_utc=iso_utc(start),
                                         end_utc=iso_utc(start + timedelta(minutes=30)))
                h.deliver(h.message(moved, "reschedule"))
                h.deliver(h.message(h.change_booking(b["id"], status="cancelled"), "cancel"))

            h.graph.join_url_in_create = False  # forces the one read-back
            lifecycle(lambda: (h.connect("teams"), h.connect("microsoft_calendar")))
            h.graph.join_url_in_create = True
            lifecycle(lambda: h.connect("microsoft_calendar", oid=OTHER_OID, linked_calendar_id="c-1"))
            h.graph.fail("POST", r"/me/onlineMeetings/createOrGet", 404)
            lifecycle(lambda: None)
            h.graph.duplicate_transaction = "409"
            h.connect("microsoft_calendar")
            b = h.add_booking()
            h.container.store = _CrashOnce(h.store)
            with pytest.raises(StorageUnavailable):  # the simulated crash after the Graph call
                h.deliver(h.message(b))
            assert h.container.store._done
            h.deliver(h.message(b), dequeue_count=2)  # the retried POST is refused as a duplicate: looked up
        finally:
            h.close()
        problems = check_calls(rsps.calls, GRAPH_BASE, ledger=ledger)
    assert problems == []
    expected = {"create event", "create event in calendar", "get event", "update event", "cancel event",
                "delete event", "createOrGet online meeting", "update online meeting",
                "delete online meeting", "list events"}
    assert expected <= ledger.endpoints(), f"not exercised: {sorted(expected - ledger.endpoints())}"
    assert len([c for c in ledger.calls if c.request_body is not None]) >= 10


class _CrashOnce:
    def __init__(self, inner) -> None:
        self._inner, self._done = inner, False

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def update(self, table, entity, etag=None, *, merge=False):
        if table == "schedule" and not self._done:
            self._done = True
            from shared.errors import StorageUnavailable

            raise StorageUnavailable("crash")
        return self._inner.update(table, entity, etag, merge=merge)
