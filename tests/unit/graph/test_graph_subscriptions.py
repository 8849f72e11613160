"""The inbound-sync Graph adapter (issue 19) against ``responses``, bodies held to the contract.

Pages: "Create subscription" (POST /subscriptions), "Update subscription" (PATCH expirationDateTime; a lapsed
subscription is 404), "Delete subscription" (204), "event: delta" (nextLink pages, deltaLink ends the round).
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests
import responses

from devhost.graph_contract import load_contract
from shared.adapters.graph_client import GraphClient
from shared.adapters.graph_subscriptions import GraphSubscriptions
from shared.errors import NotFound

GRAPH = "https://graph.test/v1.0"


def adapter() -> GraphSubscriptions:
    return GraphSubscriptions(GraphClient(GRAPH, requests.Session()))


@responses.activate
def test_create_renew_delete_send_contract_bodies_and_translate_404() -> None:
    body = {"changeType": "created,updated,deleted", "notificationUrl": "https://app.example/api/notifications/microsoft",
            "lifecycleNotificationUrl": "https://app.example/api/notifications/microsoft/lifecycle",
            "resource": "me/events", "expirationDateTime": "2030-01-09T08:00:00Z", "clientState": "s"}
    assert not load_contract().validate(body, "subscription")
    responses.post(f"{GRAPH}/subscriptions", status=201, json={"id": "sub-1", **body})
    responses.patch(f"{GRAPH}/subscriptions/sub-1", json={"id": "sub-1", "expirationDateTime": "2030-01-10T08:00:00Z"})
    responses.patch(f"{GRAPH}/subscriptions/gone", status=404, json={"error": {"code": "ResourceNotFound"}})
    responses.delete(f"{GRAPH}/subscriptions/sub-1", status=204)
    responses.delete(f"{GRAPH}/subscriptions/gone", status=404, json={"error": {"code": "ResourceNotFound"}})
    graph = adapter()
    assert graph.create_subscription("t", body)["id"] == "sub-1"
    assert json.loads(responses.calls[0].request.body) == body
    assert graph.renew_subscription("t", "sub-1", "2030-01-10T08:00:00Z")["expirationDateTime"].startswith("2030-01-10")
    patch = json.loads(responses.calls[1].request.body)
    assert patch == {"expirationDateTime": "2030-01-10T08:00:00Z"}
    assert not load_contract().validate(patch, "subscription")
    with pytest.raises(NotFound):
        graph.renew_subscription("t", "gone", "2030-01-10T08:00:00Z")
    graph.delete_subscription("t", "sub-1")
    graph.delete_subscription("t", "gone")  # already gone is fine


@responses.activate
def test_event_reread_asks_utc_and_a_404_is_a_deleted_event() -> None:
    responses.get(f"{GRAPH}/me/events/AAMk%3D1", json={"id": "AAMk=1", "start": {"dateTime": "2030-01-09T08:00:00",
                                                                                 "timeZone": "UTC"}})
    responses.get(f"{GRAPH}/me/events/gone", status=404, json={"error": {"code": "ErrorItemNotFound"}})
    graph = adapter()
    assert graph.get_event("t", "AAMk=1") is not None
    assert responses.calls[0].request.headers["Prefer"] == 'outlook.timezone="UTC"'
    assert "%24select=" in (responses.calls[0].request.url or "")
    assert graph.get_event("t", "gone") is None


@responses.activate
def test_delta_follows_next_links_to_the_end_of_the_round() -> None:
    responses.get(f"{GRAPH}/me/calendarView/delta", json={
        "value": [{"id": "a"}], "@odata.nextLink": f"{GRAPH}/me/calendarView/delta?$skiptoken=x"})
    responses.get(f"{GRAPH}/me/calendarView/delta?$skiptoken=x", json={
        "value": [{"id": "b", "@removed": {"reason": "deleted"}}],
        "@odata.deltaLink": f"{GRAPH}/me/calendarView/delta?$deltatoken=y"})
    items = adapter().calendar_view_delta("t", datetime(2030, 1, 7, tzinfo=UTC), datetime(2030, 2, 7, tzinfo=UTC))
    assert [i["id"] for i in items] == ["a", "b"]
    first = responses.calls[0].request.url or ""
    assert "startDateTime=2030-01-07T00%3A00%3A00Z" in first and "endDateTime=2030-02-07" in first
