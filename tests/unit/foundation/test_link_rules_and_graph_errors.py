"""Rules 1-3 (initial link state, refusals) and the Graph error mapping."""
from __future__ import annotations

import pytest
import requests
import responses

from shared.adapters.graph_client import GraphClient, GraphUnauthorized, retry_after_seconds
from shared.domain.link_rules import initial_link_state, location_refusal
from shared.domain.model import CalendarType as CT
from shared.domain.model import ConnectionStatus as CS
from shared.domain.model import LinkState as LS
from shared.domain.model import MeetingLocation as ML
from shared.errors import GraphRejected, NotFound, TeamsUnavailable, Throttled, TransientError


@pytest.mark.parametrize("ctype", [CT.PERSONAL, CT.ROUND_ROBIN, CT.COLLECTIVE, CT.SERVICE])
def test_dynamic_link_types(ctype):
    assert location_refusal(ctype, ML.TEAMS) is None
    assert initial_link_state(ctype, ML.TEAMS, CS.CONNECTED) is LS.PENDING
    assert initial_link_state(ctype, ML.TEAMS, CS.NEEDS_REAUTH) is LS.AWAITING_CONNECTION
    assert initial_link_state(ctype, ML.TEAMS, CS.DISCONNECTED) is LS.AWAITING_CONNECTION
    assert initial_link_state(ctype, ML.TEAMS, None) is LS.AWAITING_CONNECTION


def test_class_and_event_refuse_teams_with_a_reason():
    assert "class" in location_refusal(CT.CLASS, ML.TEAMS)
    assert "custom static link" in location_refusal(CT.EVENT, ML.TEAMS)
    assert location_refusal(CT.EVENT, ML.CUSTOM) is None


def test_other_locations():
    assert initial_link_state(CT.PERSONAL, ML.CUSTOM, None) is LS.STATIC
    assert initial_link_state(CT.PERSONAL, ML.NONE, CS.CONNECTED) is LS.NOT_APPLICABLE
    assert initial_link_state(CT.CLASS, ML.TEAMS, CS.CONNECTED) is LS.NOT_APPLICABLE


BASE = "https://graph.test/v1.0"


@responses.activate
@pytest.mark.parametrize(
    ("status", "headers", "error", "teams_call"),
    [(429, {"Retry-After": "7"}, Throttled, False), (503, {}, Throttled, False), (504, {}, Throttled, False),
     (401, {}, GraphUnauthorized, False), (403, {}, TeamsUnavailable, True), (403, {}, GraphRejected, False),
     (404, {}, NotFound, False), (500, {}, TransientError, False), (400, {}, GraphRejected, False)],
)
def test_graph_errors_are_translated(status, headers, error, teams_call):
    responses.post(f"{BASE}/me/onlineMeetings", status=status, headers=headers,
                   json={"error": {"code": "X", "message": "m"}})
    client = GraphClient(BASE, requests.Session())
    with pytest.raises(error) as info:
        client.request("POST", "/me/onlineMeetings", "tok", json_body={}, teams_call=teams_call)
    if status == 429:
        assert info.value.retry_after == 7


@responses.activate
def test_graph_success_and_bearer():
    responses.get(f"{BASE}/me", json={"id": "u1"})
    status, body = GraphClient(BASE, requests.Session()).request("GET", "/me", "tok-1")
    assert (status, body) == (200, {"id": "u1"})
    assert responses.calls[0].request.headers["Authorization"] == "Bearer tok-1"


def test_retry_after_backoff_grows_and_is_bounded():
    assert retry_after_seconds({"Retry-After": "12"}) == 12
    assert all(1 <= retry_after_seconds({}, 1) <= 2 for _ in range(20))
    assert all(8 <= retry_after_seconds({}, 4) <= 16 for _ in range(20))
    assert retry_after_seconds({}, 30) <= 300
