"""The Google stand-in (issue 20, point 2) refuses what Google refuses and answers inside the contract.

Google's behaviour as documented in: "Using OAuth 2.0 for Web Server Applications" (authorization code, PKCE,
refresh; a revoked refresh token answers invalid_grant), "OpenID Connect" (the id_token's claims),
"Freebusy: query", "Events: insert" (client-chosen base32hex ids, conferenceDataVersion), "Create events"
(conferenceData.createRequest with a requestId makes a Google Meet conference) and "Handle API errors"
(401 authError, 409 duplicate, 410 deleted, 400 timeRangeEmpty, 429 rateLimitExceeded).
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from devhost.google_contract import load_contract
from devhost.googlestandin import GoogleStandIn
from devhost.googlestandin.server import SCOPES

GINA = "gina@example.com"
REDIRECT = "http://127.0.0.1:7071/api/auth/google/callback"


@pytest.fixture(scope="module")
def running() -> Iterator[GoogleStandIn]:
    stand_in = GoogleStandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def g(running: GoogleStandIn) -> GoogleStandIn:
    running.reset()
    return running


def _session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize(g: GoogleStandIn, challenge: str, *, account: str = GINA, decision: str = "allow",
               offline: bool = True) -> dict[str, str]:
    params = {"client_id": g.client_id, "redirect_uri": REDIRECT, "response_type": "code", "scope": " ".join(SCOPES),
              "state": "st1", "code_challenge": challenge, "code_challenge_method": "S256",
              "access_type": "offline" if offline else "online", "prompt": "consent"}
    s = _session()
    page = s.get(g.authorization_endpoint, params=params, timeout=10)
    assert page.status_code == 200 and GINA in page.text
    answer = s.post(g.authorization_endpoint, data={**params, "account": account, "decision": decision},
                    allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    return dict(parse_qsl(urlsplit(location).query))


def _redeem(g: GoogleStandIn, code: str, verifier: str | None) -> requests.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": g.client_id,
            "client_secret": g.client_secret}
    if verifier is not None:
        form["code_verifier"] = verifier
    return _session().post(g.token_endpoint, data=form, timeout=10)


def _claims(id_token: str) -> dict[str, object]:
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_authorization_code_with_pkce_gives_tokens_and_an_id_token(g: GoogleStandIn) -> None:
    verifier, challenge = _pkce()
    back = _authorize(g, challenge)
    assert back["state"] == "st1" and back["scope"].split() == list(SCOPES)
    answer = _redeem(g, back["code"], verifier)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert load_contract().check_token_response(body) == []
    assert body["refresh_token"] and body["token_type"] == "Bearer"
    claims = _claims(body["id_token"])
    assert claims["iss"] == "https://accounts.google.com" and claims["aud"] == g.client_id
    assert claims["email"] == GINA and claims["sub"]
    again = _redeem(g, back["code"], verifier)  # a code works once
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_a_wrong_or_missing_code_verifier_is_refused(g: GoogleStandIn) -> None:
    _, challenge = _pkce()
    back = _authorize(g, challenge)
    answer = _redeem(g, back["code"], secrets.token_urlsafe(48))
    assert answer.status_code == 400 and answer.json() == {"error": "invalid_grant",
                                                           "error_description": "Invalid code verifier."}
    back = _authorize(g, challenge)
    assert _redeem(g, back["code"], None).json()["error"] == "invalid_grant"


def test_a_declined_consent_comes_back_as_access_denied(g: GoogleStandIn) -> None:
    back = _authorize(g, _pkce()[1], decision="deny")
    assert back == {"error": "access_denied", "state": "st1"}


def test_refresh_works_until_the_account_is_revoked(g: GoogleStandIn) -> None:
    refresh = g.tokens(GINA)["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": g.client_id,
            "client_secret": g.client_secret}
    ok = _session().post(g.token_endpoint, data=form, timeout=10)
    assert ok.status_code == 200 and "refresh_token" not in ok.json()
    g.revoke(GINA)
    refused = _session().post(g.token_endpoint, data=form, timeout=10)
    assert refused.status_code == 400 and refused.json() == {"error": "invalid_grant",
                                                             "error_description": "Token has been expired or revoked."}
    unknown_field = _session().post(g.token_endpoint, data={**form, "resource": "x"}, timeout=10)
    assert unknown_field.status_code == 400 and unknown_field.json()["error"] == "invalid_request"


def _calendar(g: GoogleStandIn, method: str, path: str, token: str, body: object = None,
              **query: str) -> requests.Response:
    return _session().request(method, f"{g.calendar_base_url}{path}", params=query, json=body,
                              headers={"Authorization": f"Bearer {token}"}, timeout=10)


EVENT = {"summary": "Intro call with Ada", "start": {"dateTime": "2030-01-07T09:00:00Z", "timeZone": "UTC"},
         "end": {"dateTime": "2030-01-07T09:30:00Z", "timeZone": "UTC"},
         "attendees": [{"email": "ada@example.org", "displayName": "Ada"}]}


def test_free_busy_shows_outside_events_and_our_events(g: GoogleStandIn) -> None:
    token = g.tokens(GINA)["access_token"]
    g.add_outside_event(GINA, "2030-01-07T08:00:00Z", "2030-01-07T09:00:00Z")
    assert _calendar(g, "POST", "/calendars/primary/events", token, {**EVENT, "id": "bb0001abc"}).status_code == 200
    query = {"timeMin": "2030-01-07T00:00:00Z", "timeMax": "2030-01-08T00:00:00Z", "items": [{"id": "primary"}]}
    answer = _calendar(g, "POST", "/freeBusy", token, query)
    assert answer.status_code == 200
    assert answer.json()["calendars"]["primary"]["busy"] == [{"start": "2030-01-07T08:00:00Z",
                                                              "end": "2030-01-07T09:30:00Z"}]
    empty = _calendar(g, "POST", "/freeBusy", token, {**query, "timeMax": query["timeMin"]})
    assert empty.status_code == 400 and empty.json()["error"]["errors"][0]["reason"] == "timeRangeEmpty"
    other = _calendar(g, "POST", "/freeBusy", token, {**query, "items": [{"id": "gus@example.com"}]})
    assert other.json()["calendars"]["gus@example.com"]["errors"][0]["reason"] == "notFound"


def test_calendar_needs_a_valid_token_with_the_methods_scope(g: GoogleStandIn) -> None:
    assert _calendar(g, "POST", "/freeBusy", "nope", {}).json()["error"]["errors"][0]["reason"] == "authError"
    token = g.tokens(GINA, scopes=["openid"])["access_token"]
    refused = _calendar(g, "POST", "/calendars/primary/events", token, EVENT)
    assert refused.status_code == 403 and refused.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
    g.revoke(GINA)
    stale = g.tokens(GINA)["access_token"]
    g.revoke(GINA)
    assert _calendar(g, "POST", "/calendars/primary/events", stale, EVENT).status_code == 401


def test_insert_with_a_meet_create_request_makes_one_conference(g: GoogleStandIn) -> None:
    token = g.tokens(GINA)["access_token"]
    body = {**EVENT, "id": "bb0002abc", "conferenceData": {"createRequest": {
        "requestId": "booking-2", "conferenceSolutionKey": {"type": "hangoutsMeet"}}}}
    made = _calendar(g, "POST", "/calendars/primary/events", token, body, conferenceDataVersion="1",
                     sendUpdates="all")
    assert made.status_code == 200, made.text
    event = made.json()
    assert load_contract().check_response("calendar.events.insert", event) == []
    uri = event["conferenceData"]["entryPoints"][0]["uri"]
    assert uri.startswith("https://meet.google.com/") and event["hangoutLink"] == uri
    assert event["conferenceData"]["createRequest"]["status"]["statusCode"] == "success"
    assert g.invitations() == [{"organizer": GINA, "attendee": "ada@example.org", "event_id": "bb0002abc",
                                "what": "invitation"}]
    duplicate = _calendar(g, "POST", "/calendars/primary/events", token, body, conferenceDataVersion="1")
    assert duplicate.status_code == 409 and duplicate.json()["error"]["errors"][0]["reason"] == "duplicate"
    other = _calendar(g, "POST", "/calendars/primary/events", token, {**body, "id": "bb0003abc"})
    assert "conferenceData" not in other.json()  # without conferenceDataVersion=1 it is ignored


def test_ids_and_bodies_outside_the_contract_are_refused(g: GoogleStandIn) -> None:
    token = g.tokens(GINA)["access_token"]
    bad_id = _calendar(g, "POST", "/calendars/primary/events", token, {**EVENT, "id": "Booking_1"})
    assert bad_id.status_code == 400
    bad_body = _calendar(g, "POST", "/calendars/primary/events", token, {**EVENT, "isOnlineMeeting": True})
    assert bad_body.status_code == 400 and "isOnlineMeeting" in bad_body.json()["error"]["message"]
    bad_query = _calendar(g, "POST", "/calendars/primary/events", token, EVENT, conferenceDataVersion="2")
    assert bad_query.status_code == 400


def test_patch_moves_delete_cancels_and_a_second_delete_is_gone(g: GoogleStandIn) -> None:
    token = g.tokens(GINA)["access_token"]
    _calendar(g, "POST", "/calendars/primary/events", token, {**EVENT, "id": "bb0004abc"})
    moved = _calendar(g, "PATCH", "/calendars/primary/events/bb0004abc", token,
                      {"start": {"dateTime": "2030-01-07T11:00:00Z"}, "end": {"dateTime": "2030-01-07T11:30:00Z"}},
                      sendUpdates="all")
    assert moved.status_code == 200 and moved.json()["start"]["dateTime"] == "2030-01-07T11:00:00Z"
    assert _calendar(g, "DELETE", "/calendars/primary/events/bb0004abc", token, sendUpdates="all").status_code == 204
    gone = _calendar(g, "DELETE", "/calendars/primary/events/bb0004abc", token)
    assert gone.status_code == 410 and gone.json()["error"]["errors"][0]["reason"] == "deleted"
    assert _calendar(g, "GET", "/calendars/primary/events/bb0004abc", token).json()["status"] == "cancelled"
    assert _calendar(g, "GET", "/calendars/primary/events/bb9999abc", token).status_code == 404


def test_injected_failures_and_the_request_log(g: GoogleStandIn) -> None:
    token = g.tokens(GINA)["access_token"]
    g.inject_failure(r"^/calendar/v3/freeBusy$", 429, retry_after=7)
    query = {"timeMin": "2030-01-07T00:00:00Z", "timeMax": "2030-01-08T00:00:00Z", "items": [{"id": "primary"}]}
    throttled = _calendar(g, "POST", "/freeBusy", token, query)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert _calendar(g, "POST", "/freeBusy", token, query).status_code == 200
    logged = g.requests(path_regex="freeBusy")
    assert [e["status"] for e in logged] == [429, 200] and logged[1]["email"] == GINA
