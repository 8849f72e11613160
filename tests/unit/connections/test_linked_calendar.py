"""The linked Outlook calendar (issue 15 item 6, SPEC rules 9 and 26): list, choose, check at connect time.

Graph behind ``responses``: page "List calendars" (``GET /me/calendars`` with ``$select``, paged with
``@odata.nextLink``) and "calendar resource type" (``allowedOnlineMeetingProviders``); the bodies are held to the
Graph contract."""
from __future__ import annotations

from typing import Any

import pytest
import requests
import responses

from shared.adapters.graph_client import GraphClient
from shared.adapters.graph_user import CalendarDirectory
from shared.errors import Conflict, ValidationError
from shared.usecases.connections import get_connection, link_calendar, list_calendars, list_connections
from tests.graph_contract_check import check_calls, response_problems
from tests.unit.connections.helpers import ALICE, BOB, connect

GRAPH = "https://graph.microsoft.com/v1.0"
SELECT = "id,name,isDefaultCalendar,canEdit,allowedOnlineMeetingProviders"


def calendar(cid: str, name: str, *, default: bool = False, teams: bool = True, edit: bool = True) -> dict[str, Any]:
    return {"id": cid, "name": name, "isDefaultCalendar": default, "canEdit": edit,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"] if teams else []}


@pytest.fixture
def graph(rsps: responses.RequestsMock, deps: Any) -> list[dict[str, Any]]:
    """Alice's calendars: the default one allows Teams, 'Front desk' does not, 'Shared' is read-only (page 2)."""
    first = [calendar("AAMkDef=", "Calendar", default=True), calendar("AAMkFront=", "Front desk", teams=False)]
    second = [calendar("AAMkShared=", "Shared", edit=False)]
    for page in ({"value": first, "@odata.nextLink": f"{GRAPH}/me/calendars?$skip=2"}, {"value": second}):
        assert response_problems("GET", "/me/calendars", 200, page) == []
    rsps.get(f"{GRAPH}/me/calendars", json={"value": first, "@odata.nextLink": f"{GRAPH}/me/calendars?$skip=2"},
             match=[responses.matchers.query_param_matcher({"$select": SELECT})])
    rsps.get(f"{GRAPH}/me/calendars", json={"value": second},
             match=[responses.matchers.query_param_matcher({"$skip": "2"})])
    deps.calendar_directory = CalendarDirectory(GraphClient(GRAPH, requests.Session()))
    return first + second


def test_the_calendars_are_listed_from_every_page(deps: Any, ms: Any, graph: Any, rsps: Any) -> None:
    assert connect(deps, ms, "ws1", "u1", "microsoft_calendar", ALICE).ok
    view = list_calendars(deps, "ws1", "u1", "microsoft_calendar")
    assert check_calls(rsps.calls, GRAPH) == []
    assert view["linked_calendar_id"] == "AAMkDef="
    assert view["calendars"] == [
        {"id": "AAMkDef=", "name": "Calendar", "is_default": True, "can_edit": True, "allows_teams": True},
        {"id": "AAMkFront=", "name": "Front desk", "is_default": False, "can_edit": True, "allows_teams": False},
        {"id": "AAMkShared=", "name": "Shared", "is_default": False, "can_edit": False, "allows_teams": True}]


def test_choosing_a_calendar_without_teams_is_stored_and_shown_as_a_problem(deps: Any, ms: Any, graph: Any) -> None:
    assert connect(deps, ms, "ws1", "u1", "microsoft_calendar", ALICE).ok
    view = link_calendar(deps, "ws1", "u1", "microsoft_calendar", "AAMkFront=")
    assert view["linked_calendar"]["id"] == "AAMkFront=" and view["linked_calendar"]["allows_teams"] is False
    assert "does not allow Teams meetings" in view["problems"][0]
    row = get_connection(deps, "ws1", "u1", "microsoft_calendar")
    assert (row["linked_calendar_id"], row["linked_calendar_allows_teams"]) == ("AAMkFront=", False)
    listed = next(c for c in list_connections(deps, "ws1", "u1")["connections"] if c["kind"] == "microsoft_calendar")
    assert listed["problems"] == view["problems"]


@pytest.mark.parametrize("cid", ["AAMkNotHers=", "AAMkShared="])
def test_an_id_the_account_does_not_have_or_cannot_write_is_422_and_nothing_changes(deps: Any, ms: Any, graph: Any,
                                                                                       cid: str) -> None:
    assert connect(deps, ms, "ws1", "u1", "microsoft_calendar", ALICE).ok
    before = get_connection(deps, "ws1", "u1", "microsoft_calendar")
    with pytest.raises(ValidationError) as err:
        link_calendar(deps, "ws1", "u1", "microsoft_calendar", cid)
    assert err.value.field == "linked_calendar_id"
    assert get_connection(deps, "ws1", "u1", "microsoft_calendar")["_etag"] == before["_etag"]


def test_teams_has_no_calendars_and_an_unconnected_calendar_is_409(deps: Any, ms: Any, graph: Any) -> None:
    with pytest.raises(ValidationError) as err:
        list_calendars(deps, "ws1", "u1", "teams")
    assert err.value.field == "kind"
    with pytest.raises(Conflict):
        link_calendar(deps, "ws1", "u1", "microsoft_calendar", "AAMkDef=")


def test_connect_time_check_records_the_default_calendars_providers(deps: Any, ms: Any, rsps: Any) -> None:
    """Rule 26 at connect time: the default calendar of this account does not allow Teams."""
    rsps.get(f"{GRAPH}/me/calendars", json={"value": [calendar("AAMkDef=", "Calendar", default=True, teams=False)]})
    deps.calendar_directory = CalendarDirectory(GraphClient(GRAPH, requests.Session()))
    assert connect(deps, ms, "ws1", "u1", "microsoft_calendar", ALICE).ok
    row = get_connection(deps, "ws1", "u1", "microsoft_calendar")
    assert row["linked_calendar_allows_teams"] is False and row["linked_calendar_name"] == "Calendar"


def test_another_account_connecting_forgets_the_linked_calendar(deps: Any, ms: Any, graph: Any) -> None:
    assert connect(deps, ms, "ws1", "u1", "microsoft_calendar", ALICE).ok
    link_calendar(deps, "ws1", "u1", "microsoft_calendar", "AAMkFront=")
    deps.calendar_directory = None  # Bob's calendars are not read: nothing of Alice's may stay
    assert connect(deps, ms, "ws1", "u1", "microsoft_calendar", BOB).ok
    row = get_connection(deps, "ws1", "u1", "microsoft_calendar")
    assert "linked_calendar_id" not in row and "linked_calendar_allows_teams" not in row
