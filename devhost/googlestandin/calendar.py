"""Google Calendar v3 as the stand-in serves it: ``freeBusy.query`` and ``events`` insert/patch/delete/get.

Behaviour as documented by Google ("Freebusy: query", "Events: insert", "Create events" (conferences),
"Handle API errors"): an access token is required (401 ``authError``), with one of the method's scopes (403
``insufficientPermissions``); a client-chosen event ``id`` is base32hex (a-v, 0-9), 5-1024 characters, and
inserting an id that exists answers 409 ``duplicate``; deleting an event marks it ``cancelled`` and deleting it
again answers 410 ``deleted``; ``conferenceData.createRequest`` makes a Google Meet conference only with
``conferenceDataVersion=1`` (the ``requestId`` makes it idempotent), else the conference data is ignored;
``sendUpdates=all`` invites the attendees; an empty time range answers 400 ``timeRangeEmpty``.
"""
from __future__ import annotations

import re
import secrets
import string
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from devhost.msstandin.web import Request, Response, Router, json_response

from .state import Grant, State

EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
_ALPHABET = string.ascii_lowercase


def google_error(status: int, reason: str, message: str, domain: str = "global", **where: str) -> Response:
    """Google's error body (``{"error": {"errors": [...], "code", "message"}}``)."""
    item = {"domain": domain, "reason": reason, "message": message, **where}
    return json_response(status, {"error": {"errors": [item], "code": status, "message": message}})


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meet_code() -> str:
    pick = lambda n: "".join(secrets.choice(_ALPHABET) for _ in range(n))  # noqa: E731
    return f"{pick(3)}-{pick(4)}-{pick(3)}"


class Calendar:
    """The Calendar v3 methods on one :class:`State`."""

    def __init__(self, state: State, clock: Callable[[], float] = time.time) -> None:
        self.state, self.clock = state, clock

    def register(self, router: Router) -> None:
        base = r"/calendar/v3"
        router.add("POST", rf"{base}/freeBusy", self.free_busy, method_id="calendar.freebusy.query")
        router.add("POST", rf"{base}/calendars/(?P<calendar>[^/]+)/events", self.insert,
                   method_id="calendar.events.insert")
        item = rf"{base}/calendars/(?P<calendar>[^/]+)/events/(?P<event_id>[^/]+)"
        router.add("GET", item, self.get, method_id="calendar.events.get")
        router.add("PATCH", item, self.patch, method_id="calendar.events.patch")
        router.add("DELETE", item, self.delete, method_id="calendar.events.delete")

    # ------------------------------------------------------------------ access
    def grant(self, ctx: Any, req: Request, method_id: str) -> Grant | Response:
        """The caller's grant, or Google's 401 / 403."""
        auth = req.header("authorization") or ""
        grant = self.state.grant_of(auth[7:], self.clock()) if auth.lower().startswith("bearer ") else None
        if grant is None:
            return google_error(401, "authError", "Invalid Credentials", locationType="header",
                                location="Authorization")
        allowed = set(ctx.contract.methods[method_id].get("scopes") or ())
        if not allowed & set(grant.scopes):
            return google_error(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
        return grant

    def _own(self, grant: Grant, calendar: str) -> str | None:
        """The account's email when ``calendar`` is its primary calendar (``primary`` or its address)."""
        return grant.email.lower() if calendar in ("primary",) or calendar.lower() == grant.email.lower() else None

    # ------------------------------------------------------------------ freeBusy
    def busy_of(self, email: str, lo: datetime, hi: datetime) -> list[dict[str, str]]:
        """Busy periods of an account's primary calendar inside ``[lo, hi)``, merged."""
        spans = []
        for event in list(self.state.calendar(email).values()):
            if event.get("status") == "cancelled" or event.get("transparency") == "transparent":
                continue
            start, end = _instant(event["start"]["dateTime"]), _instant(event["end"]["dateTime"])
            if start < hi and end > lo:
                spans.append((max(start, lo), min(end, hi)))
        merged: list[list[datetime]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return [{"start": _z(s), "end": _z(e)} for s, e in merged]

    def free_busy(self, ctx: Any, req: Request) -> Response:
        grant = self.grant(ctx, req, "calendar.freebusy.query")
        if isinstance(grant, Response):
            return grant
        body = req.json() or {}
        if not body.get("timeMin") or not body.get("timeMax"):
            return google_error(400, "required", "Missing time range.")
        lo, hi = _instant(body["timeMin"]), _instant(body["timeMax"])
        if hi <= lo:
            return google_error(400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar",
                                locationType="parameter", location="timeMax")
        calendars: dict[str, Any] = {}
        for item in body.get("items") or []:
            cal = str(item.get("id") or "")
            own = self._own(grant, cal)
            calendars[cal] = ({"busy": self.busy_of(own, lo, hi)} if own else
                              {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []})
        return json_response(200, {"kind": "calendar#freeBusy", "timeMin": body["timeMin"],
                                   "timeMax": body["timeMax"], "calendars": calendars})

    # ------------------------------------------------------------------ events
    def _stamp(self) -> str:
        return _z(datetime.fromtimestamp(self.clock(), UTC))

    def _conference(self, email: str, event: dict[str, Any], wanted: Any) -> None:
        """``conferenceData.createRequest`` -> a Meet conference (the same one for the same requestId)."""
        request = (wanted or {}).get("createRequest") if isinstance(wanted, dict) else None
        if not request:
            return
        key = f"{email}|{request.get('requestId')}"
        with self.state.lock:
            data = self.state.conferences.get(key)
            if data is None:
                code = _meet_code()
                data = {"createRequest": {"requestId": request.get("requestId"),
                                          "conferenceSolutionKey": {"type": "hangoutsMeet"},
                                          "status": {"statusCode": "success"}},
                        "entryPoints": [{"entryPointType": "video", "uri": f"https://meet.google.com/{code}",
                                         "label": f"meet.google.com/{code}"}],
                        "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
                        "conferenceId": code}
                self.state.conferences[key] = data
        event["conferenceData"] = data
        event["hangoutLink"] = data["entryPoints"][0]["uri"]

    def _invite(self, email: str, event: dict[str, Any], query: dict[str, str], what: str) -> None:
        if query.get("sendUpdates") not in ("all", "externalOnly"):
            return
        with self.state.lock:
            for attendee in event.get("attendees") or []:
                self.state.invitations.append({"organizer": email, "attendee": attendee.get("email"),
                                               "event_id": event["id"], "what": what})

    def insert(self, ctx: Any, req: Request, calendar: str) -> Response:
        grant = self.grant(ctx, req, "calendar.events.insert")
        if isinstance(grant, Response):
            return grant
        email = self._own(grant, calendar)
        if email is None:
            return google_error(404, "notFound", "Not Found")
        body = dict(req.json() or {})
        event_id = str(body.pop("id", "") or secrets.token_hex(13))
        if not EVENT_ID.match(event_id):
            return google_error(400, "invalid", "Invalid resource id value.")
        events = self.state.calendar(email)
        conference = body.pop("conferenceData", None)
        with self.state.lock:
            if event_id in events:
                return google_error(409, "duplicate", "The requested identifier already exists.")
            now = self._stamp()
            account = self.state.account(email)
            event = {**body, "kind": "calendar#event", "id": event_id, "status": body.get("status") or "confirmed",
                     "etag": f'"{secrets.randbelow(10**15)}"', "htmlLink": f"https://calendar.google.com/event?eid={event_id}",
                     "created": now, "updated": now, "iCalUID": f"{event_id}@google.com", "sequence": 0,
                     "creator": {"email": email, "self": True},
                     "organizer": {"email": email, "self": True, "displayName": account.name if account else email},
                     "reminders": body.get("reminders") or {"useDefault": True}}
            if event.get("attendees"):
                event["attendees"] = [{**a, "responseStatus": a.get("responseStatus") or "needsAction"}
                                      for a in event["attendees"]]
            if req.query.get("conferenceDataVersion") == "1":
                self._conference(email, event, conference)
            events[event_id] = event
        self._invite(email, event, req.query, "invitation")
        return json_response(200, event)

    def _find(self, grant: Grant, calendar: str, event_id: str) -> tuple[str, dict[str, Any]] | Response:
        email = self._own(grant, calendar)
        event = self.state.calendar(email).get(event_id) if email else None
        if email is None or event is None:
            return google_error(404, "notFound", "Not Found")
        return email, event

    def get(self, ctx: Any, req: Request, calendar: str, event_id: str) -> Response:
        grant = self.grant(ctx, req, "calendar.events.get")
        if isinstance(grant, Response):
            return grant
        found = self._find(grant, calendar, event_id)
        return found if isinstance(found, Response) else json_response(200, found[1])

    def patch(self, ctx: Any, req: Request, calendar: str, event_id: str) -> Response:
        grant = self.grant(ctx, req, "calendar.events.patch")
        if isinstance(grant, Response):
            return grant
        found = self._find(grant, calendar, event_id)
        if isinstance(found, Response):
            return found
        email, event = found
        body = dict(req.json() or {})
        conference = body.pop("conferenceData", None)
        with self.state.lock:
            event.update(body)
            event["sequence"] = int(event.get("sequence") or 0) + 1
            event["updated"] = self._stamp()
            event["etag"] = f'"{secrets.randbelow(10**15)}"'
            if req.query.get("conferenceDataVersion") == "1":
                self._conference(email, event, conference)
        self._invite(email, event, req.query, "update")
        return json_response(200, event)

    def delete(self, ctx: Any, req: Request, calendar: str, event_id: str) -> Response:
        grant = self.grant(ctx, req, "calendar.events.delete")
        if isinstance(grant, Response):
            return grant
        found = self._find(grant, calendar, event_id)
        if isinstance(found, Response):
            return found
        email, event = found
        with self.state.lock:
            if event.get("status") == "cancelled":
                return google_error(410, "deleted", "Resource has been deleted")
            event["status"] = "cancelled"
            event["updated"] = self._stamp()
        self._invite(email, event, req.query, "cancellation")
        return Response(204)
