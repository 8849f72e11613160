"""The Google Calendar v3 contract file and its validator (issue 20, point 1).

The file is the part of Google's own discovery document for Calendar v3 that bookbridge uses, as shipped in
google-api-python-client's package data; the validator refuses what Google would refuse.
"""
from __future__ import annotations

import json

import pytest

from devhost.google_contract import CONTRACT_PATH, load_contract
from tools import google_contract as extractor

EVENT = {"summary": "Intro call with Ada", "start": {"dateTime": "2026-11-24T09:00:00Z", "timeZone": "UTC"},
         "end": {"dateTime": "2026-11-24T09:30:00Z", "timeZone": "UTC"},
         "attendees": [{"email": "ada@example.com", "displayName": "Ada"}],
         "conferenceData": {"createRequest": {"requestId": "b1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}}}


def test_the_contract_file_is_the_installed_packages_discovery_document_subset() -> None:
    document, version = extractor.package_document()
    expected = extractor.render(extractor.subset(document, version))
    assert CONTRACT_PATH.read_text(encoding="utf-8") == expected, "run: python -m tools.google_contract --write"
    data = json.loads(expected)
    assert data["source"]["package"] == "google-api-python-client" and data["source"]["version"] == version
    assert set(data["methods"]) == {"calendar.freebusy.query", "calendar.events.insert", "calendar.events.patch",
                                    "calendar.events.delete", "calendar.events.get"}
    assert {"Event", "ConferenceData", "CreateConferenceRequest", "FreeBusyRequest", "FreeBusyResponse"} <= set(
        data["schemas"])


def test_paths_map_to_their_methods() -> None:
    c = load_contract()
    assert c.method_for("POST", "/calendar/v3/freeBusy") == "calendar.freebusy.query"
    assert c.method_for("POST", "/calendar/v3/calendars/primary/events") == "calendar.events.insert"
    assert c.method_for("PATCH", "/calendar/v3/calendars/primary/events/bb1") == "calendar.events.patch"
    assert c.method_for("DELETE", "/calendar/v3/calendars/primary/events/bb1") == "calendar.events.delete"
    assert c.method_for("GET", "/calendar/v3/calendars/primary/events/bb1") == "calendar.events.get"
    assert c.method_for("POST", "/calendar/v3/calendars/primary/events/bb1/move") is None
    assert c.path_parameters("calendar.events.get", "/calendar/v3/calendars/a%40b.c/events/x1") == {
        "calendarId": "a@b.c", "eventId": "x1"}


def test_a_meet_event_insert_is_inside_the_contract() -> None:
    c = load_contract()
    assert c.check_request("calendar.events.insert", {"conferenceDataVersion": "1", "sendUpdates": "all"}, EVENT) == []


@pytest.mark.parametrize("query,body,needle", [
    ({"conferenceDataVersion": "2"}, EVENT, "maximum"),
    ({"sendUpdates": "everyone"}, EVENT, "not one of"),
    ({"sendNotification": "true"}, EVENT, "not a parameter"),
    ({}, {**EVENT, "isOnlineMeeting": True}, "isOnlineMeeting"),
    ({}, {**EVENT, "start": {"dateTime": "24/11/2026 09:00"}}, "RFC 3339"),
    ({}, {k: v for k, v in EVENT.items() if k != "end"}, "$.end: required"),
    ({}, {**EVENT, "attendees": [{"emailAddress": "ada@example.com"}]}, "emailAddress"),
    ({}, {**EVENT, "conferenceData": {"createRequest": {"requestId": 7}}}, "expected a string"),
])
def test_the_validator_refuses_what_google_refuses(query, body, needle) -> None:
    problems = [str(p) for p in load_contract().check_request("calendar.events.insert", query, body)]
    assert any(needle in p for p in problems), problems


def test_free_busy_request_and_answer() -> None:
    c = load_contract()
    request = {"timeMin": "2026-11-24T00:00:00Z", "timeMax": "2026-11-25T00:00:00Z", "items": [{"id": "primary"}]}
    assert c.check_request("calendar.freebusy.query", {}, request) == []
    answer = {"kind": "calendar#freeBusy", "timeMin": "2026-11-24T00:00:00.000Z", "timeMax": "2026-11-25T00:00:00.000Z",
              "calendars": {"primary": {"busy": [{"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T10:00:00Z"}]}}}
    assert c.check_response("calendar.freebusy.query", answer) == []
    bad = {"calendars": {"primary": {"busy": [{"start": "2026-11-24T09:00:00Z", "finish": "x"}]}}}
    assert [str(p) for p in c.check_response("calendar.freebusy.query", bad)] == [
        "$.calendars.primary.busy[0].finish: no such property in Google Calendar v3"]
    assert c.check_request("calendar.events.delete", {}, {"x": 1})


def test_token_endpoint_fields() -> None:
    c = load_contract()
    assert c.check_token_request({"grant_type": "authorization_code", "code": "c", "client_id": "i",
                                  "client_secret": "s", "redirect_uri": "http://x", "code_verifier": "v"}) == []
    assert c.check_token_request({"grant_type": "refresh_token", "refresh_token": "r", "client_id": "i"})
    assert c.check_token_response({"access_token": "a", "expires_in": 3599, "token_type": "Bearer",
                                   "scope": "openid", "id_token": "x"}) == []
    revoked = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    assert c.check_token_response(revoked) == []
    assert c.check_token_response({"access_token": "a", "expires_in": 1, "token_type": "Bearer", "ext_expires_in": 1})
