"""devhost.graph_contract: bodies and action parameters against the Graph v1.0 subset."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost.graph_contract import (
    GraphContract,
    Problem,
    default_contract_path,
    load_contract,
    validate,
    validate_action,
)

VALID_EVENT = {
    "@odata.type": "#microsoft.graph.event",
    "subject": "Intro call",
    "body": {"contentType": "html", "content": "<p>Hi</p>"},
    "start": {"dateTime": "2030-01-07T10:00:00", "timeZone": "Europe/Berlin"},
    "end": {"dateTime": "2030-01-07T10:30:00", "timeZone": "Europe/Berlin"},
    "attendees": [{"emailAddress": {"address": "invitee@example.com", "name": "Invitee"}, "type": "required"}],
    "location": {"displayName": "Microsoft Teams Meeting"},
    "isOnlineMeeting": True,
    "onlineMeetingProvider": "teamsForBusiness",
    "transactionId": "booking-123",
    "showAs": "busy",
    "categories": ["bookbridge"],
    "createdDateTime": "2030-01-01T00:00:00Z",
    "id": "AAMkAD-example",
    "attendees@odata.type": "#Collection(microsoft.graph.attendee)",
}


def kinds(problems: list[Problem]) -> set[str]:
    return {p.kind for p in problems}


def test_valid_event_body_passes() -> None:
    assert validate(VALID_EVENT, "event") == []


def test_unknown_property_fails() -> None:
    problems = validate({**VALID_EVENT, "meetingUrl": "https://x"}, "event")
    assert kinds(problems) == {"unknown_property"}
    assert problems[0].path == "$.meetingUrl"
    assert "does not exist on type 'microsoft.graph.event'" in problems[0].message


def test_bad_enum_value_fails() -> None:
    problems = validate({**VALID_EVENT, "showAs": "maybe"}, "event")
    assert [p.path for p in problems] == ["$.showAs"] and kinds(problems) == {"enum"}
    assert validate({**VALID_EVENT, "onlineMeetingProvider": "zoom"}, "event")


def test_wrong_nested_property_fails() -> None:
    body = {**VALID_EVENT, "attendees": [{"emailAddress": {"adress": "typo@example.com"}, "type": "required"}]}
    problems = validate(body, "event")
    assert [p.path for p in problems] == ["$.attendees[0].emailAddress.adress"]
    assert validate({"start": {"dateTime": "2030-01-07T10:00:00", "tz": "UTC"}}, "event")


def test_primitive_types_and_nullability() -> None:
    assert kinds(validate({"isOnlineMeeting": "yes"}, "event")) == {"type"}
    assert kinds(validate({"attendees": {"not": "a list"}}, "event")) == {"type"}
    assert kinds(validate({"cancelledOccurrences": None}, "event")) == {"null"}
    assert validate({"reminderMinutesBeforeStart": 15, "subject": None}, "event") == []
    assert kinds(validate({"startDateTime": "2030-01-07 10:00"}, "onlineMeeting")) == {"type"}
    assert validate({"startDateTime": "2030-01-07T10:00:00.1234567Z"}, "onlineMeeting") == []


def test_base_chain_and_other_types() -> None:
    contract = load_contract()
    assert contract.base_chain("event") == ["event", "outlookItem", "entity"]
    assert validate({"id": "x", "changeKey": "y", "lastModifiedDateTime": "2030-01-01T00:00:00Z"}, "event") == []
    assert validate({"joinWebUrl": "https://x", "subject": "s", "externalId": "e"}, "onlineMeeting") == []
    assert validate([{"subject": "a"}, {"subject": "b"}], "Collection(graph.event)") == []
    assert validate({"scheduleId": "a@b.c", "scheduleItems": [{"status": "oof"}]}, "scheduleInformation") == []
    assert kinds(validate({"scheduleItems": [{"status": "away"}]}, "scheduleInformation")) == {"enum"}


def test_only_odata_annotations_are_allowed() -> None:
    assert validate({"@odata.etag": "W/\"x\"", "@odata.context": "https://x"}, "event") == []
    assert kinds(validate({"@microsoft.graph.tips": "x"}, "event")) == {"unknown_property"}
    assert kinds(validate({"nope@odata.type": "x"}, "event")) == {"unknown_property"}
    assert kinds(validate({"@odata.type": "#microsoft.graph.calendar"}, "event")) == {"type"}


def test_open_types_are_treated_as_closed() -> None:
    assert load_contract().types["event"]["open"] is True
    assert validate({"customThing": 1}, "event") != []


def test_action_parameters_are_case_insensitive() -> None:
    params = {"schedules": ["a@b.c"], "StartTime": {"dateTime": "2030-01-07T00:00:00", "timeZone": "UTC"},
              "endTime": {"dateTime": "2030-01-08T00:00:00", "timeZone": "UTC"}, "availabilityViewInterval": 30}
    assert validate_action("getSchedule", params) == []
    assert validate_action("getSchedule", params, binding="calendar") == []
    canonical = load_contract().canonical_params("getSchedule", params, binding="calendar")
    assert set(canonical) == {"Schedules", "StartTime", "EndTime", "AvailabilityViewInterval"}


def test_action_problems() -> None:
    assert kinds(validate_action("getSchedule", {"schedules": ["a"], "timeZone": "UTC"})) == {"unknown_property"}
    assert kinds(validate_action("getSchedule", {"Schedules": ["a"], "schedules": ["b"]})) == {"duplicate"}
    assert validate_action("cancel", {"Comment": "Sorry"}, binding="event") == []
    assert validate_action("cancel", {"comment": "Sorry"}, binding="event") == []
    assert kinds(validate_action("cancel", {"Comment": 5}, binding="event")) == {"type"}
    assert kinds(validate_action("createOrGet", {"subject": "x"}, binding="onlineMeeting")) == {"required"}
    assert validate_action("createOrGet", {"externalId": "b-1", "startDateTime": "2030-01-07T10:00:00Z"}) == []
    assert kinds(validate_action("noSuchAction", {})) == {"unknown_action"}
    assert kinds(validate_action("cancel", {}, binding="calendar")) == {"unknown_action"}


def test_contract_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = default_contract_path()
    assert default.name == "graph-v1.0-subset.json" and default.exists()
    small = {"types": {"thing": {"kind": "ComplexType", "base": None, "properties": {
        "name": {"type": "Edm.String", "nullable": True}}}}, "enums": {}, "actions": {}}
    path = tmp_path / "contract.json"
    path.write_text(json.dumps(small), encoding="utf-8")
    monkeypatch.setenv("GRAPH_CONTRACT_PATH", str(path))
    assert default_contract_path() == path
    contract = GraphContract.load()
    assert contract.validate({"name": "x"}, "thing") == []
    assert contract.validate({"other": "x"}, "thing") != []
