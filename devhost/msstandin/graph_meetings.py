"""Graph online meetings: ``/me/onlineMeetings`` (create, createOrGet, get, patch, delete)."""
from __future__ import annotations

import copy
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from .graph_common import MEETINGS_READ, MEETINGS_WRITE, GraphCall, GraphError, read_body
from .state import new_id
from .timezones import format_dto, now_utc, parse_dto
from .web import Response, Router, json_response

UPDATABLE = ("startDateTime", "endDateTime", "subject", "participants", "allowedPresenters", "allowMeetingChat",
             "allowAttendeeToEnableCamera", "allowAttendeeToEnableMic", "allowTeamworkReactions",
             "isEntryExitAnnounced", "lobbyBypassSettings", "recordAutomatically", "joinMeetingIdSettings")
NO_TEAMS = "The user does not have a Microsoft Teams license or Teams meetings are not allowed for the user."


def register(router: Router) -> None:
    """Add the routes (paths relative to ``/v1.0``)."""
    router.add("POST", r"/me/onlineMeetings", create_meeting, returns="onlineMeeting")
    router.add("GET", r"/me/onlineMeetings", find_meetings, returns="onlineMeeting")
    router.add("POST", r"/me/onlineMeetings/createOrGet", create_or_get, returns="onlineMeeting")
    router.add("GET", r"/me/onlineMeetings/(?P<mid>[^/]+)", get_meeting, returns="onlineMeeting")
    router.add("PATCH", r"/me/onlineMeetings/(?P<mid>[^/]+)", update_meeting, returns="onlineMeeting")
    router.add("DELETE", r"/me/onlineMeetings/(?P<mid>[^/]+)", delete_meeting)


def _check_teams(call: GraphCall) -> None:
    if not call.account.has_teams:
        raise GraphError(403, "Forbidden", NO_TEAMS)


def _dto(body: dict[str, Any], key: str, default: datetime) -> datetime:
    raw = body.get(key)
    if raw is None:
        return default
    try:
        return parse_dto(raw)
    except ValueError as exc:
        raise GraphError(400, "BadRequest", f"Invalid {key}: {raw!r}") from exc


def _new_meeting(call: GraphCall, body: dict[str, Any], external_id: str | None) -> dict[str, Any]:
    now = now_utc()
    start = _dto(body, "startDateTime", now)
    end = _dto(body, "endDateTime", start + timedelta(hours=1))
    if end < start:
        raise GraphError(400, "BadRequest", "endDateTime must not be earlier than startDateTime.")
    thread = f"19:meeting_{new_id(nbytes=24)}@thread.v2"
    mid = new_id("MSo", 48)
    url = call.ctx.state.add_join_link(call.ctx.base_url, call.upn, body.get("subject"), "onlineMeeting", mid)
    meeting_id = "".join(secrets.choice("0123456789") for _ in range(12))
    a = call.account
    return {
        "id": mid, "creationDateTime": format_dto(now), "startDateTime": format_dto(start),
        "endDateTime": format_dto(end), "joinWebUrl": url, "subject": body.get("subject"),
        "externalId": external_id, "isBroadcast": False, "isEntryExitAnnounced": True,
        "allowedPresenters": "everyone", "allowMeetingChat": "enabled", "allowAttendeeToEnableCamera": True,
        "allowAttendeeToEnableMic": True, "allowTeamworkReactions": True, "recordAutomatically": False,
        "meetingTemplateId": None, "videoTeleconferenceId": None, "audioConferencing": None,
        "participants": {
            "organizer": {"upn": a.upn, "role": "presenter",
                          "identity": {"user": {"id": a.oid, "displayName": None}}},
            "attendees": copy.deepcopy((body.get("participants") or {}).get("attendees") or []),
        },
        "lobbyBypassSettings": {"scope": "organization", "isDialInBypassEnabled": False},
        "joinMeetingIdSettings": {"isPasscodeRequired": True, "joinMeetingId": meeting_id,
                                  "passcode": secrets.token_hex(3)},
        "chatInfo": {"threadId": thread, "messageId": "0", "replyChainMessageId": None},
        "joinInformation": {"contentType": "html",
                            "content": f'data:text/html,<a href="{url}">Join the meeting now</a>'},
    }


def event_meeting(call: GraphCall, subject: str | None, start: datetime, end: datetime) -> dict[str, Any]:
    """The online meeting of a Teams event (Graph keeps one per event; ``JoinWebUrl`` filter finds it)."""
    meeting = _new_meeting(call, {"subject": subject, "startDateTime": format_dto(start),
                                  "endDateTime": format_dto(end)}, None)
    call.ctx.state.mailbox(call.upn).meetings[meeting["id"]] = meeting
    return meeting


def _reply(call: GraphCall, status: int, meeting: dict[str, Any]) -> Response:
    ctx_url = call.context_url(f"users('{call.account.oid}')/onlineMeetings/$entity")
    return json_response(status, {"@odata.context": ctx_url, **copy.deepcopy(meeting)})


def create_meeting(call: GraphCall) -> Response:
    """``POST /me/onlineMeetings``: 201 with ``joinWebUrl``; 403 for accounts without Teams."""
    call.require_scope(MEETINGS_WRITE, code="Forbidden")
    body = read_body(call, "onlineMeeting")
    _check_teams(call)
    with call.ctx.state.lock:
        meeting = _new_meeting(call, body, body.get("externalId"))
        call.ctx.state.mailbox(call.upn).meetings[meeting["id"]] = meeting
        return _reply(call, 201, meeting)


def create_or_get(call: GraphCall) -> Response:
    """``POST /me/onlineMeetings/createOrGet``: one meeting per ``externalId`` (201 new, 200 existing)."""
    call.require_scope(MEETINGS_WRITE, code="Forbidden")
    body = call.ctx.contract.canonical_params(
        "createOrGet", read_body(call, action="createOrGet", binding="onlineMeeting"), binding="onlineMeeting")
    _check_teams(call)
    ext = body["externalId"]
    with call.ctx.state.lock:
        box = call.ctx.state.mailbox(call.upn)
        existing = box.external_ids.get(ext)
        if existing in box.meetings:
            return _reply(call, 200, box.meetings[existing])
        meeting = _new_meeting(call, body, ext)
        box.meetings[meeting["id"]] = meeting
        box.external_ids[ext] = meeting["id"]
        return _reply(call, 201, meeting)


def _find(call: GraphCall) -> dict[str, Any]:
    meeting = call.ctx.state.mailbox(call.upn).meetings.get(call.params["mid"])
    if meeting is None:
        raise GraphError(404, "NotFound", "The requested online meeting was not found.")
    return meeting


def get_meeting(call: GraphCall) -> Response:
    """``GET /me/onlineMeetings/{id}``."""
    call.require_scope(MEETINGS_READ, code="Forbidden")
    with call.ctx.state.lock:
        return _reply(call, 200, _find(call))


def find_meetings(call: GraphCall) -> Response:
    """``GET /me/onlineMeetings?$filter=JoinWebUrl eq '...'`` (the only list form Graph allows)."""
    call.require_scope(MEETINGS_READ, code="Forbidden")
    m = re.fullmatch(r"\s*joinWebUrl\s+eq\s+'(?P<url>[^']*)'\s*", call.req.query.get("$filter", ""), re.IGNORECASE)
    if not m:
        raise GraphError(400, "BadRequest", "Filter by JoinWebUrl is required to list online meetings.")
    with call.ctx.state.lock:
        found = [copy.deepcopy(x) for x in call.ctx.state.mailbox(call.upn).meetings.values()
                 if x["joinWebUrl"] == m.group("url")]
    return json_response(200, {"@odata.context": call.context_url(f"users('{call.account.oid}')/onlineMeetings"),
                               "value": found})


def update_meeting(call: GraphCall) -> Response:
    """``PATCH /me/onlineMeetings/{id}``: start, end, subject, participants and settings."""
    call.require_scope(MEETINGS_WRITE, code="Forbidden")
    body = read_body(call, "onlineMeeting")
    with call.ctx.state.lock:
        meeting = _find(call)
        start = _dto(body, "startDateTime", parse_dto(meeting["startDateTime"]))
        end = _dto(body, "endDateTime", parse_dto(meeting["endDateTime"]))
        if end < start:
            raise GraphError(400, "BadRequest", "endDateTime must not be earlier than startDateTime.")
        for key in UPDATABLE:
            if key in body:
                meeting[key] = copy.deepcopy(body[key])
        policy = call.ctx.state.config.lobby_bypass_policy
        if policy and "lobbyBypassSettings" in body:  # the tenant's meeting policy wins over the PATCH
            meeting["lobbyBypassSettings"] = {**(meeting.get("lobbyBypassSettings") or {}), "scope": policy}
        meeting["startDateTime"], meeting["endDateTime"] = format_dto(start), format_dto(end)
        return _reply(call, 200, meeting)


def delete_meeting(call: GraphCall) -> Response:
    """``DELETE /me/onlineMeetings/{id}``: 204; the join URL stops working."""
    call.require_scope(MEETINGS_WRITE, code="Forbidden")
    with call.ctx.state.lock:
        box = call.ctx.state.mailbox(call.upn)
        meeting = _find(call)
        box.meetings.pop(meeting["id"], None)
        if meeting.get("externalId"):
            box.external_ids.pop(meeting["externalId"], None)
        call.ctx.state.kill_join_link(meeting.get("joinWebUrl"))
    return Response(204)
