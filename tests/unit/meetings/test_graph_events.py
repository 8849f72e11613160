"""``shared.adapters.graph_events``: paths, id encoding, and which answers are success."""
from __future__ import annotations

import pytest
import requests

from shared.adapters.graph_client import GraphClient, GraphUnauthorized
from shared.adapters.graph_events import GraphEvents
from shared.errors import GraphRejected, NotFound, TeamsUnavailable, Throttled
from tests.unit.meetings.fakes import GRAPH_BASE, FakeGraph


@pytest.fixture
def graph(graph_mock):
    return FakeGraph(graph_mock), GraphEvents(GraphClient(GRAPH_BASE, requests.Session()))


def test_ids_are_one_encoded_path_segment(graph) -> None:
    fake, events = graph
    created = events.create_event("t", {"subject": "x", "transactionId": "tx"}, calendar_id="cal/1=")
    assert fake.requests[-1].path == "/me/calendars/cal%2F1%3D/events"
    events.update_event("t", created["id"], {"subject": "y"})
    assert fake.requests[-1].path == "/me/events/" + created["id"].replace("/", "%2F").replace("=", "%3D")
    assert fake.events[created["id"]]["subject"] == "y"


def test_cancel_and_delete_of_something_gone_are_success(graph) -> None:
    _, events = graph
    assert events.cancel_event("t", "nope", "bye") is False
    assert events.delete_event("t", "nope") is False
    assert events.delete_online_meeting("t", "nope") is False
    with pytest.raises(NotFound):
        events.update_event("t", "nope", {"subject": "x"})


def test_duplicate_transaction_refused_is_looked_up(graph) -> None:
    fake, events = graph
    fake.duplicate_transaction = "409"
    first = events.create_event("t", {"subject": "x", "transactionId": "tx'1"})
    again = events.create_event("t", {"subject": "x", "transactionId": "tx'1"})
    assert again["id"] == first["id"] and len(fake.events) == 1
    assert fake.requests[-1].query["$filter"] == ["transactionId eq 'tx''1'"]


def test_duplicate_refused_and_not_found_raises(graph) -> None:
    fake, events = graph
    fake.fail("POST", "/me/events", 409, code="Conflict")
    with pytest.raises(GraphRejected):
        events.create_event("t", {"subject": "x", "transactionId": "never-created"})


def test_create_or_get_returns_the_same_meeting_for_the_same_external_id(graph) -> None:
    fake, events = graph
    body = {"externalId": "e1", "subject": "s", "startDateTime": "2026-11-25T09:00:00Z",
            "endDateTime": "2026-11-25T09:30:00Z"}
    a = events.create_or_get_online_meeting("t", body)
    b = events.create_or_get_online_meeting("t", body)
    assert a["id"] == b["id"] and a["joinWebUrl"] == b["joinWebUrl"] and len(fake.meetings) == 1


@pytest.mark.parametrize("status,error", [(403, TeamsUnavailable), (401, GraphUnauthorized), (429, Throttled),
                                          (400, GraphRejected)])
def test_online_meeting_errors(graph, status, error) -> None:
    fake, events = graph
    fake.fail("POST", "/me/onlineMeetings/createOrGet", status, headers={"Retry-After": "2"})
    with pytest.raises(error):
        events.create_or_get_online_meeting("t", {"externalId": "e"})


@pytest.mark.parametrize("status", [404, 405])
def test_createorget_is_never_replaced_by_a_plain_create(graph, status) -> None:
    """Page "onlineMeeting: createOrGet" (GA in v1.0): no fallback to POST /me/onlineMeetings (no externalId)."""
    fake, events = graph
    fake.fail("POST", "/me/onlineMeetings/createOrGet", status)
    with pytest.raises(GraphRejected):
        events.create_or_get_online_meeting("t", {"externalId": "e", "subject": "s"})
    assert [r.path for r in fake.requests] == ["/me/onlineMeetings/createOrGet"] and not fake.meetings
