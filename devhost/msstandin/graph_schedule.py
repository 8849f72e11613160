"""``POST /me/calendar/getSchedule``: free/busy of up to 20 mailboxes over less than 62 days."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .graph_common import CALENDAR_READ, GraphCall, GraphError, read_body
from .state import Account, StoredEvent
from .timezones import TimeZoneNotSupported, format_dttz, parse_dttz
from .web import Response, Router, json_response

MAX_SCHEDULES = 20
MAX_DAYS = 62
# availabilityView digits and the precedence used when several items overlap one interval
VIEW_DIGIT = {"free": "0", "tentative": "1", "busy": "2", "oof": "3", "workingElsewhere": "4", "unknown": "0"}
PRECEDENCE = ["free", "unknown", "workingElsewhere", "tentative", "busy", "oof"]


def register(router: Router) -> None:
    """Add the route (also reachable as ``/me/calendars/{id}/getSchedule``)."""
    router.add("POST", r"/me/calendar(?:s/(?P<cid>[^/]+))?/getSchedule", get_schedule,
               returns="scheduleInformation")


def _status(ev: StoredEvent) -> str:
    status = ev.data.get("showAs") or "busy"
    return status if status in VIEW_DIGIT else "busy"


def _view(events: list[StoredEvent], start: datetime, end: datetime, interval: int) -> str:
    """One digit per interval: the strongest status of the items overlapping it."""
    out, step, t = [], timedelta(minutes=interval), start
    while t < end:
        t2 = t + step
        states = [_status(e) for e in events if e.start < t2 and e.end > t]
        out.append(VIEW_DIGIT[max(states, key=PRECEDENCE.index)] if states else "0")
        t = t2
    return "".join(out)


def _info(call: GraphCall, email: str, start: datetime, end: datetime, interval: int) -> dict[str, Any]:
    # Only a mailbox's SMTP address resolves: a sign-in name that differs from ``mail`` does not
    # (getSchedule answers responseCode 5009, "Unable to resolve e-mail address ... to an Active Directory object").
    who: Account | None = call.ctx.state.by_mailbox(email)
    me = call.account
    if who is None or who.is_personal != me.is_personal or (who.tid != me.tid and who.upn != me.upn):
        code = "5009" if who is None else "ErrorNoFreeBusyAccess"
        text = (f"Unable to resolve e-mail address {email} to an Active Directory object." if who is None
                else "Unable to access free/busy information of this mailbox from the requester's organization.")
        return {"scheduleId": email, "availabilityView": "", "scheduleItems": [],
                "error": {"message": text, "responseCode": code}}
    with call.ctx.state.lock:
        events = sorted((e for e in call.ctx.state.mailbox(who.upn).events.values()
                         if e.calendar_id == who.calendar_id and e.start < end and e.end > start
                         and not e.data.get("isCancelled")), key=lambda e: e.start)
    own = who.upn.lower() == me.upn.lower()
    items = []
    for e in events:
        item: dict[str, Any] = {"isPrivate": e.data.get("sensitivity") in ("private", "confidential"),
                                "status": _status(e), "start": format_dttz(e.start, call.time_zone),
                                "end": format_dttz(e.end, call.time_zone)}
        if own:
            item["subject"] = e.data.get("subject") or ""
            item["location"] = (e.data.get("location") or {}).get("displayName") or ""
        items.append(item)
    return {"scheduleId": email, "availabilityView": _view(events, start, end, interval), "scheduleItems": items,
            "workingHours": {"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                             "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000",
                             "timeZone": {"name": who.time_zone}}}


def get_schedule(call: GraphCall) -> Response:
    """Free/busy with ``scheduleItems`` of bookbridge-created and outside events."""
    call.require_scope(CALENDAR_READ)
    body = read_body(call, action="getSchedule", binding="calendar")
    p = call.ctx.contract.canonical_params("getSchedule", body, binding="calendar")
    schedules = p.get("Schedules") or []
    if not schedules:
        raise GraphError(400, "ErrorInvalidParameter", "At least one schedule must be given in Schedules.")
    if len(schedules) > MAX_SCHEDULES:
        raise GraphError(400, "ErrorInvalidParameter",
                         f"The number of schedules ({len(schedules)}) exceeds the maximum of {MAX_SCHEDULES}.")
    if p.get("StartTime") is None or p.get("EndTime") is None:
        raise GraphError(400, "ErrorInvalidParameter", "StartTime and EndTime are required.")
    try:
        start, end = parse_dttz(p["StartTime"]), parse_dttz(p["EndTime"])
    except TimeZoneNotSupported as exc:
        raise GraphError(400, "TimeZoneNotSupportedException", str(exc)) from exc
    except ValueError as exc:
        raise GraphError(400, "ErrorInvalidParameter", str(exc)) from exc
    if end <= start:
        raise GraphError(400, "ErrorInvalidTimeInterval", "The EndTime must be later than the StartTime.")
    if end - start >= timedelta(days=MAX_DAYS):
        raise GraphError(400, "ErrorInvalidTimeInterval",
                         f"The requested time range must be shorter than {MAX_DAYS} days.")
    interval = p.get("AvailabilityViewInterval") or 30
    if not 5 <= interval <= 1440:
        raise GraphError(400, "ErrorInvalidParameter", "AvailabilityViewInterval must be between 5 and 1440.")
    value = [_info(call, str(s), start, end, interval) for s in schedules]
    return json_response(200, {"@odata.context": call.context_url("Collection(microsoft.graph.scheduleInformation)"),
                               "value": value})
