"""Graph user, calendar and event endpoints (``/me``, ``/me/calendars``, ``/me/events``, calendarView)."""
from __future__ import annotations

import copy
import re
import secrets
from datetime import datetime
from typing import Any

from . import graph_delta, graph_meetings, graph_subscriptions
from .context import Context
from .graph_common import (
    CALENDAR_READ,
    CALENDAR_WRITE,
    USER_READ,
    GraphCall,
    GraphError,
    apply_select,
    page_of,
    read_body,
    select_fields,
)
from .state import Account, StoredEvent, new_id
from .timezones import TimeZoneNotSupported, format_dto, format_dttz, now_utc, parse_dto, parse_dttz
from .web import Response, Router, json_response

CAL = r"/me(?:/calendar|/calendars/(?P<cid>[^/]+))?"
WRITABLE = ("subject", "body", "start", "end", "location", "locations", "attendees", "isOnlineMeeting",
            "onlineMeetingProvider", "showAs", "sensitivity", "importance", "isAllDay", "isReminderOn",
            "reminderMinutesBeforeStart", "responseRequested", "allowNewTimeProposals", "hideAttendees",
            "categories", "transactionId", "recurrence", "organizer")
NO_TIME = "0001-01-01T00:00:00Z"


def register(router: Router) -> None:
    """Add the routes (paths relative to ``/v1.0``)."""
    router.add("GET", r"/me", get_me, returns="user")
    router.add("GET", r"/me/calendar", get_calendar, returns="calendar")
    router.add("GET", r"/me/calendars", list_calendars, returns="calendar")
    router.add("GET", r"/me/calendars/(?P<cid>[^/]+)", get_calendar, returns="calendar")
    router.add("GET", CAL + r"/events", list_events, returns="event")
    router.add("POST", CAL + r"/events", create_event, returns="event")
    router.add("GET", CAL + r"/calendarView", calendar_view, returns="event")
    router.add("GET", CAL + r"/events/(?P<eid>[^/]+)", get_event, returns="event")
    router.add("PATCH", CAL + r"/events/(?P<eid>[^/]+)", update_event, returns="event")
    router.add("DELETE", CAL + r"/events/(?P<eid>[^/]+)", delete_event)
    router.add("POST", CAL + r"/events/(?P<eid>[^/]+)/cancel", cancel_event)
    graph_delta.register(router, CAL)


def get_me(call: GraphCall) -> Response:
    """The signed-in user."""
    call.require_scope(USER_READ + CALENDAR_READ + ("OnlineMeetings.ReadWrite",))
    a = call.account
    user: dict[str, Any] = {"@odata.context": call.context_url("users/$entity"), "businessPhones": [],
            "displayName": a.display_name, "givenName": a.given_name, "jobTitle": None, "mail": a.mailbox,
            "mobilePhone": None, "officeLocation": None, "preferredLanguage": "en-US", "surname": a.surname,
            "userPrincipalName": a.upn, "id": a.oid}
    return json_response(200, apply_select(user, select_fields(call, "user")))


def _calendar_body(call: GraphCall, cal_id: str) -> dict[str, Any]:
    a = call.account
    info = next((c for c in a.calendars if c.id == cal_id), None)
    if info is None:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    teams = a.calendar_allows_teams(info.id)
    return {"id": info.id, "name": info.name, "color": "auto", "hexColor": "", "isDefaultCalendar": info.is_default,
            "changeKey": "DwAAABYAAAA" + info.id[-8:], "canShare": True, "canViewPrivateItems": True,
            "canEdit": True, "allowedOnlineMeetingProviders": ["teamsForBusiness"] if teams else [],
            "defaultOnlineMeetingProvider": "teamsForBusiness" if teams else "unknown",
            "isTallyingResponses": True, "isRemovable": not info.is_default,
            "owner": {"name": a.display_name, "address": a.upn}}


def get_calendar(call: GraphCall) -> Response:
    """``/me/calendar`` or ``/me/calendars/{id}``."""
    call.require_scope(CALENDAR_READ)
    body = _calendar_body(call, call.params.get("cid") or call.account.calendar_id)
    body["@odata.context"] = call.context_url(f"users('{call.account.oid}')/calendars/$entity")
    return json_response(200, apply_select(body, select_fields(call, "calendar")))


def list_calendars(call: GraphCall) -> Response:
    """``/me/calendars``."""
    call.require_scope(CALENDAR_READ)
    fields = select_fields(call, "calendar")
    items = [apply_select(_calendar_body(call, c.id), fields) for c in call.account.calendars]
    return json_response(200, {"@odata.context": call.context_url(f"users('{call.account.oid}')/calendars"),
                               "value": items})


def calendar_id(call: GraphCall) -> str:
    """The calendar of the path (the primary calendar for ``/me``); 404 for one the mailbox lacks."""
    return _calendar_id(call)


def _calendar_id(call: GraphCall) -> str:
    cid = call.params.get("cid") or call.account.calendar_id
    if not any(c.id == cid for c in call.account.calendars):
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return cid


def render(call: GraphCall, ev: StoredEvent, fields: list[str] | None = None) -> dict[str, Any]:
    """An event as Graph returns it (times in the ``Prefer: outlook.timezone`` zone, else UTC)."""
    data = copy.deepcopy(ev.data)
    data["start"] = format_dttz(ev.start, call.time_zone)
    data["end"] = format_dttz(ev.end, call.time_zone)
    data["@odata.etag"] = f'W/"{data["changeKey"]}"'
    return apply_select(data, fields)


def _times(body: dict[str, Any]) -> tuple[datetime, datetime]:
    try:
        start, end = parse_dttz(body.get("start")), parse_dttz(body.get("end"))
    except TimeZoneNotSupported as exc:
        raise GraphError(400, "TimeZoneNotSupportedException", str(exc)) from exc
    except ValueError as exc:
        raise GraphError(400, "ErrorInvalidRequest", f"Invalid start or end: {exc}") from exc
    if end < start:
        raise GraphError(400, "ErrorInvalidRequest", "The end time of the event is earlier than its start time.")
    return start, end


def new_event(account: Account, base_url: str, start: datetime, end: datetime, tz: str, tz_end: str,
              origin: str = "app") -> dict[str, Any]:
    """The full body of a new event with Outlook's defaults."""
    now = format_dto(now_utc())
    eid = new_id("AAMkAD", 40)
    return {
        "id": eid, "createdDateTime": now, "lastModifiedDateTime": now, "changeKey": new_id(nbytes=12),
        "categories": [], "transactionId": None, "originalStartTimeZone": tz, "originalEndTimeZone": tz_end,
        "iCalUId": "040000008200E00074C5B7101A82E00800000000" + secrets.token_hex(16).upper(),
        "reminderMinutesBeforeStart": 15, "isReminderOn": True, "hasAttachments": False, "subject": "",
        "bodyPreview": "", "importance": "normal", "sensitivity": "normal", "isAllDay": False, "isCancelled": False,
        "isOrganizer": True, "responseRequested": True, "seriesMasterId": None, "showAs": "busy",
        "type": "singleInstance", "webLink": f"{base_url}/owa/?itemid={eid}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None, "isOnlineMeeting": False, "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": True, "isDraft": False, "hideAttendees": False,
        "responseStatus": {"response": "organizer", "time": NO_TIME},
        "body": {"contentType": "html", "content": ""},
        "start": format_dttz(start), "end": format_dttz(end),
        "location": {"displayName": "", "locationType": "default", "uniqueIdType": "unknown", "address": {},
                     "coordinates": {}},
        "locations": [], "recurrence": None, "attendees": [],
        "organizer": {"emailAddress": {"name": account.display_name, "address": account.upn}},
        "onlineMeeting": None,
    }


def _apply(call: GraphCall, ev: StoredEvent, body: dict[str, Any]) -> None:
    """Copy writable properties onto a stored event; add a Teams meeting when asked and possible."""
    for key in WRITABLE:
        if key in body and key not in ("start", "end"):
            ev.data[key] = copy.deepcopy(body[key])
    if "attendees" in body:
        for att in ev.data["attendees"] or []:
            att.setdefault("type", "required")
            att.setdefault("status", {"response": "none", "time": NO_TIME})
    if "body" in body and isinstance(body["body"], dict):
        content = str(body["body"].get("content") or "")
        ev.data["bodyPreview"] = re.sub(r"<[^>]+>|\s+", " ", content).strip()[:255]
    if "location" in body and isinstance(body["location"], dict):
        ev.data["location"] = {"locationType": "default", "uniqueIdType": "private", "address": {},
                               "coordinates": {}, **body["location"]}
    if "start" in body or "end" in body:
        start, end = _times({"start": body.get("start") or format_dttz(ev.start),
                             "end": body.get("end") or format_dttz(ev.end)})
        ev.start, ev.end = start, end
        ev.data["start"], ev.data["end"] = format_dttz(start), format_dttz(end)
        for key, orig in (("start", "originalStartTimeZone"), ("end", "originalEndTimeZone")):
            if key in body:
                ev.data[orig] = body[key].get("timeZone") or "UTC"
    wants_teams = ev.data.get("isOnlineMeeting") and ev.data.get("onlineMeetingProvider") in (
        "teamsForBusiness", "unknown", None)
    # "Create or set an event as an online meeting in an Outlook calendar": an event gets the provider's meeting
    # only on a calendar whose allowedOnlineMeetingProviders list it; elsewhere it is created without one.
    if wants_teams and call.account.calendar_allows_teams(ev.calendar_id):
        if not ev.data.get("onlineMeeting"):
            url = graph_meetings.event_meeting(call, ev.data.get("subject"), ev.start, ev.end)["joinWebUrl"]
            ev.data["onlineMeeting"] = {"joinUrl": url}
            ev.data["body"] = {"contentType": "html", "content": str((ev.data.get("body") or {}).get("content") or "")
                               + f'<div>Microsoft Teams meeting<br><a href="{url}">Join the meeting now</a></div>'}
            if not (ev.data.get("location") or {}).get("displayName"):
                ev.data["location"] = {**ev.data["location"], "displayName": "Microsoft Teams Meeting"}
        ev.data["onlineMeetingProvider"] = "teamsForBusiness"
    elif not ev.data.get("onlineMeeting"):
        ev.data["isOnlineMeeting"] = False
        ev.data["onlineMeetingProvider"] = "unknown"
    now = format_dto(now_utc())
    ev.data["lastModifiedDateTime"] = now
    ev.data["changeKey"] = new_id(nbytes=12)


def create_event(call: GraphCall) -> Response:
    """``POST /me/events``: de-duplicates by ``transactionId``; Teams link when asked and licensed."""
    call.require_scope(CALENDAR_WRITE)
    cid = _calendar_id(call)
    body = read_body(call, "event")
    if "start" not in body or "end" not in body:
        raise GraphError(400, "ErrorInvalidRequest", "Your request can't be completed. Start and End are required.")
    start, end = _times(body)
    state = call.ctx.state
    with state.lock:
        box = state.mailbox(call.upn)
        tx = body.get("transactionId")
        if tx and box.transactions.get(tx) in box.events:
            return json_response(201, _with_context(call, render(call, box.events[box.transactions[tx]])))
        data = new_event(call.account, call.ctx.base_url, start, end,
                         body["start"].get("timeZone") or "UTC", body["end"].get("timeZone") or "UTC")
        ev = StoredEvent(data["id"], cid, data, start, end)
        _apply(call, ev, body)
        box.events[ev.id] = ev
        if tx:
            box.transactions[tx] = ev.id
        graph_subscriptions.event_changed(call.ctx, call.upn, ev.id, "created", ev.data["changeKey"])
        return json_response(201, _with_context(call, render(call, ev)))


def _with_context(call: GraphCall, data: dict[str, Any]) -> dict[str, Any]:
    return {"@odata.context": call.context_url(f"users('{call.account.oid}')/events/$entity"), **data}


def _find(call: GraphCall) -> StoredEvent:
    with call.ctx.state.lock:
        ev = call.ctx.state.mailbox(call.upn).events.get(call.params["eid"])
    cid = call.params.get("cid")
    if ev is None or (cid and ev.calendar_id != cid):
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return ev


def list_events(call: GraphCall) -> Response:
    """``GET /me/events`` (primary calendar) or a calendar's events, paged."""
    call.require_scope(CALENDAR_READ)
    cid, fields = _calendar_id(call), select_fields(call, "event")
    with call.ctx.state.lock:
        evs = sorted((e for e in call.ctx.state.mailbox(call.upn).events.values() if e.calendar_id == cid),
                     key=lambda e: (e.start, e.id))
        items = [render(call, e, fields) for e in evs]
    return json_response(200, page_of(call, items, f"users('{call.account.oid}')/events", call.req.path))


def calendar_view(call: GraphCall) -> Response:
    """``GET /me/calendarView?startDateTime=&endDateTime=``: events overlapping the window, paged."""
    call.require_scope(CALENDAR_READ)
    q = call.req.query
    if not q.get("startDateTime") or not q.get("endDateTime"):
        raise GraphError(400, "ErrorInvalidParameter", "This request requires a time window specified by the "
                         "query string parameters StartDateTime and EndDateTime.")
    try:
        lo, hi = parse_dto(q["startDateTime"]), parse_dto(q["endDateTime"])
    except ValueError as exc:
        raise GraphError(400, "ErrorInvalidParameter", f"Invalid startDateTime or endDateTime: {exc}") from exc
    cid, fields = _calendar_id(call), select_fields(call, "event")
    with call.ctx.state.lock:
        evs = sorted((e for e in call.ctx.state.mailbox(call.upn).events.values()
                      if e.calendar_id == cid and e.start < hi and e.end > lo), key=lambda e: (e.start, e.id))
        items = [render(call, e, fields) for e in evs]
    return json_response(200, page_of(call, items, f"users('{call.account.oid}')/calendarView", call.req.path))


def get_event(call: GraphCall) -> Response:
    """``GET /me/events/{id}`` with ``$select``."""
    call.require_scope(CALENDAR_READ)
    fields = select_fields(call, "event")
    with call.ctx.state.lock:
        return json_response(200, _with_context(call, render(call, _find(call), fields)))


def update_event(call: GraphCall) -> Response:
    """``PATCH /me/events/{id}``: the same event (and Teams link) moves.

    A PATCH that replaces the ``body`` of an event with a Teams meeting strips the Teams block, and with it
    the meeting (microsoft-graph-docs-contrib#1895): the stand-in drops the event's online meeting then.
    """
    call.require_scope(CALENDAR_WRITE)
    body = read_body(call, "event")
    with call.ctx.state.lock:
        ev = _find(call)
        _apply(call, ev, body)
        if "body" in body and ev.data.get("onlineMeeting"):
            call.ctx.state.kill_join_link((ev.data.get("onlineMeeting") or {}).get("joinUrl"))
            ev.data.update(onlineMeeting=None, isOnlineMeeting=False, onlineMeetingProvider="unknown")
        graph_subscriptions.event_changed(call.ctx, call.upn, ev.id, "updated", ev.data["changeKey"])
        return json_response(200, _with_context(call, render(call, ev)))


def _remove(call: GraphCall, ev: StoredEvent, how: str, comment: str | None = None) -> None:
    remove_event(call.ctx, call.upn, ev, how, comment)


def remove_event(ctx: Context, upn: str, ev: StoredEvent, how: str, comment: str | None = None) -> None:
    """Take an event out of the mailbox (``delete`` or ``cancel``), its join link dies; subscribers are told."""
    state = ctx.state
    with state.lock:
        box = state.mailbox(upn)
        box.events.pop(ev.id, None)
        state.kill_join_link((ev.data.get("onlineMeeting") or {}).get("joinUrl"))
        removed = copy.deepcopy(ev.data)
        if how == "cancel":
            removed["isCancelled"] = True
        box.removed.append({"how": how, "comment": comment, "time": format_dto(now_utc()), "event": removed})
    graph_subscriptions.event_changed(ctx, upn, ev.id, "deleted", str(ev.data.get("changeKey") or ""))


def delete_event(call: GraphCall) -> Response:
    """``DELETE /me/events/{id}``: 204."""
    call.require_scope(CALENDAR_WRITE)
    _remove(call, _find(call), "delete")
    return Response(204)


def cancel_event(call: GraphCall) -> Response:
    """``POST /me/events/{id}/cancel`` with ``{"Comment": ...}``: 202, organizer only."""
    call.require_scope(CALENDAR_WRITE)
    body = read_body(call, action="cancel", binding="event")
    params = call.ctx.contract.canonical_params("cancel", body, binding="event")
    ev = _find(call)
    if not ev.data.get("isOrganizer"):
        raise GraphError(400, "ErrorInvalidRequest", "Your request can't be completed. You need to be an "
                         "organizer to cancel a meeting.")
    _remove(call, ev, "cancel", params.get("Comment"))
    return Response(202)
