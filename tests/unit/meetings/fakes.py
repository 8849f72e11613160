"""A stateful stand-in of the Graph endpoints the meeting worker uses, on top of ``responses``.

It behaves like Graph where the worker's correctness depends on it: a POST of an event with a
``transactionId`` already used returns that event (no duplicate), ``createOrGet`` returns the meeting
of an ``externalId`` already used, unknown ids answer 404, and scripted failures (429 with
``Retry-After``, 401, 403, 5xx) can be queued per endpoint. Every answer it gives is a body the
contract subset allows (checked by ``tests/graph_contract_check.py`` like the requests).
"""
from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import responses

GRAPH_BASE = "https://graph.test/v1.0"


@dataclass
class Scripted:
    """A failure to answer instead of the normal behaviour."""

    method: str
    pattern: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    times: int = 1


@dataclass
class Recorded:
    """A request the stand-in received."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    token: str
    status: int = 0


def mailbox_of(token: str) -> str:
    """Whose mailbox a token opens: ``tok-{user}-{kind}-{n}`` (``helpers.FakeTokens`` for a co-host) is
    ``user``'s; every other token is the host's (``host``)."""
    m = re.fullmatch(r"tok-(.+)-(teams|microsoft_calendar)-\d+", token)
    return m.group(1) if m else "host"


class FakeGraph:
    """Events and online meetings of ONE mailbox (enough for one host per test)."""

    def __init__(self, rsps: responses.RequestsMock, base: str = GRAPH_BASE) -> None:
        self.base = base.rstrip("/")
        self._base_path = urlsplit(self.base).path
        self.events: dict[str, dict[str, Any]] = {}
        self.meetings: dict[str, dict[str, Any]] = {}
        self.cancelled_events: list[str] = []
        self.deleted_events: list[str] = []
        self.deleted_meetings: list[str] = []
        self.requests: list[Recorded] = []
        self.scripted: list[Scripted] = []
        self.rejected_tokens: set[str] = set()
        self.teams_enabled = True          # events with isOnlineMeeting get a Teams meeting
        self.join_url_in_create = True     # the create answer carries onlineMeeting.joinUrl
        self.join_url_on_read = True       # a read-back carries it
        self.duplicate_transaction = "return"  # or "409": how a re-used transactionId is answered
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        url = re.compile(re.escape(self.base) + r"(/.*)?$")
        for method in ("GET", "POST", "PATCH", "DELETE"):
            rsps.add_callback(method, url, callback=self._handle)

    # ------------------------------------------------------------------ scripting
    def fail(self, method: str, pattern: str, status: int, *, headers: dict[str, str] | None = None,
             code: str = "", times: int = 1) -> None:
        """Answer the next ``times`` matching requests with ``status`` (Graph's error shape)."""
        body = {"error": {"code": code or {429: "TooManyRequests", 401: "InvalidAuthenticationToken",
                                           403: "Forbidden", 404: "ErrorItemNotFound"}.get(status, "ServerError"),
                          "message": "scripted"}}
        self.scripted.append(Scripted(method, pattern, status, dict(headers or {}), body, times))

    def calls(self, method: str | None = None, pattern: str | None = None) -> list[Recorded]:
        """Requests received (optionally of one method / path pattern)."""
        return [r for r in self.requests
                if (method is None or r.method == method) and (pattern is None or re.fullmatch(pattern, r.path))]

    @property
    def live_events(self) -> list[dict[str, Any]]:
        """Events neither cancelled nor deleted."""
        return [e for i, e in self.events.items() if i not in self.cancelled_events and i not in self.deleted_events]

    # ------------------------------------------------------------------ dispatch
    def _handle(self, request: Any) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(request.url)
        path = parts.path[len(self._base_path):] or "/"
        query = parse_qs(parts.query)
        body = json.loads(request.body) if request.body else None
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        rec = Recorded(request.method, path, query, body, token)
        with self._lock:
            self.requests.append(rec)
            status, headers, answer = self._answer(request.method, path, query, body, token)
        rec.status = status
        headers = {"Content-Type": "application/json", **headers} if answer is not None else headers
        return status, headers, json.dumps(answer) if answer is not None else ""

    def _answer(self, method: str, path: str, query: dict[str, list[str]], body: Any,
                token: str) -> tuple[int, dict[str, str], Any]:
        for s in self.scripted:
            if s.times > 0 and s.method == method and re.fullmatch(s.pattern, path):
                s.times -= 1
                return s.status, s.headers, s.body
        if token in self.rejected_tokens:
            return 401, {}, {"error": {"code": "InvalidAuthenticationToken", "message": "expired"}}
        seg = path.strip("/").split("/")
        if seg[:2] == ["me", "events"] or (seg[:2] == ["me", "calendars"] and len(seg) == 4 and seg[3] == "events"):
            return self._events(method, seg, query, body, mailbox_of(token))
        if seg[:2] == ["me", "onlineMeetings"] and len(seg) == 2 and method == "GET":
            return self._find_meeting(query)
        if seg[:2] == ["me", "onlineMeetings"]:
            return self._meetings(method, seg, body)
        return 404, {}, {"error": {"code": "UnknownResource", "message": path}}

    # ------------------------------------------------------------------ events
    def _new_id(self, prefix: str) -> str:
        # real Graph ids contain '=', '-', '_' and may contain '/': the worker must encode them
        return f"{prefix}AAMkAGI2/{next(self._ids):04d}=="

    def _join_url(self, n: str) -> str:
        return (f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{n}%40thread.v2/0"
                f"?context=%7b%22Tid%22%3a%22t-1%22%7d")

    def _event_view(self, event: dict[str, Any], *, with_join: bool, select: str | None = None) -> dict[str, Any]:
        view = {k: v for k, v in event.items() if not k.startswith("_")}
        if not with_join:
            view.pop("onlineMeeting", None)
        if select:
            keep = set(select.split(",")) | {"id"}
            view = {k: v for k, v in view.items() if k in keep}
        return view

    def mailbox_events(self, mailbox: str) -> list[dict[str, Any]]:
        """The live events of one mailbox (``host``, or a co-host's user id: see :func:`mailbox_of`)."""
        return [e for e in self.live_events if e.get("_mailbox", "host") == mailbox]

    def _events(self, method: str, seg: list[str], query: dict[str, list[str]], body: Any,
                mailbox: str = "host") -> tuple[int, dict, Any]:
        collection = (seg[:2] == ["me", "events"] and len(seg) == 2) or seg[:2] == ["me", "calendars"]
        if collection and method == "POST":
            tx = body.get("transactionId")
            existing = next((e for e in self.events.values()
                             if tx and e.get("transactionId") == tx and e.get("_mailbox", "host") == mailbox), None)
            if existing is not None:
                if self.duplicate_transaction == "409":
                    return 409, {}, {"error": {"code": "ErrorDuplicateTransactionId", "message": "duplicate"}}
                return 201, {}, self._event_view(existing, with_join=self.join_url_in_create)
            event_id = self._new_id("E")
            event = dict(body)
            event["id"] = event_id
            event["_calendar"] = seg[2] if seg[:2] == ["me", "calendars"] else ""
            event["_mailbox"] = mailbox
            if body.get("isOnlineMeeting") and body.get("onlineMeetingProvider") == "teamsForBusiness" \
                    and self.teams_enabled:
                event["onlineMeeting"] = {"joinUrl": self._join_url(event_id[-6:-2])}
            else:
                event["isOnlineMeeting"] = False
            self.events[event_id] = event
            return 201, {}, self._event_view(event, with_join=self.join_url_in_create)
        if collection and method == "GET":
            flt = (query.get("$filter") or [""])[0]
            m = re.fullmatch(r"transactionId eq '(.*)'", flt)
            found = [e for e in self.events.values() if m and e.get("transactionId") == m.group(1).replace("''", "'")]
            select = (query.get("$select") or [None])[0]
            return 200, {}, {"value": [self._event_view(e, with_join=True, select=select) for e in found]}
        event_id = unquote(seg[2]) if len(seg) >= 3 else ""
        event = self.events.get(event_id)
        if event is None or event_id in self.deleted_events or event.get("_mailbox", "host") != mailbox:  # per mailbox
            return 404, {}, {"error": {"code": "ErrorItemNotFound", "message": "The specified object was not found"}}
        if len(seg) == 4 and seg[3] == "cancel" and method == "POST":
            self.cancelled_events.append(event_id)
            self.deleted_events.append(event_id)
            return 202, {}, None
        if len(seg) == 3 and method == "GET":
            select = (query.get("$select") or [None])[0]
            return 200, {}, self._event_view(event, with_join=self.join_url_on_read, select=select)
        if len(seg) == 3 and method == "PATCH":
            event.update(body)
            return 200, {}, self._event_view(event, with_join=True)
        if len(seg) == 3 and method == "DELETE":
            self.deleted_events.append(event_id)
            return 204, {}, None
        return 405, {}, {"error": {"code": "MethodNotAllowed", "message": method}}

    # ------------------------------------------------------------------ online meetings
    def _meetings(self, method: str, seg: list[str], body: Any) -> tuple[int, dict, Any]:
        if len(seg) == 3 and seg[2] == "createOrGet" and method == "POST":
            ext = body.get("externalId") or body.get("ExternalId")
            existing = next((m for m in self.meetings.values() if m.get("externalId") == ext), None)
            if existing is not None:
                return 200, {}, existing
            return 201, {}, self._new_meeting(body)
        if len(seg) == 2 and method == "POST":
            return 201, {}, self._new_meeting(body)
        meeting_id = unquote(seg[2]) if len(seg) >= 3 else ""
        meeting = self.meetings.get(meeting_id)
        if meeting is None:
            return 404, {}, {"error": {"code": "NotFound", "message": "meeting not found"}}
        if method == "PATCH":
            meeting.update(body)
            meeting.update(getattr(self, "meeting_policy", {}))  # a tenant policy keeps its own values
            return 200, {}, meeting
        if method == "DELETE":
            del self.meetings[meeting_id]
            self.deleted_meetings.append(meeting_id)
            return 204, {}, None
        if method == "GET":
            return 200, {}, meeting
        return 405, {}, {"error": {"code": "MethodNotAllowed", "message": method}}

    def _find_meeting(self, query: dict[str, list[str]]) -> tuple[int, dict, Any]:
        """Graph's one list form: ``$filter=JoinWebUrl eq '...'`` (an event's Teams meeting is found too)."""
        m = re.fullmatch(r"JoinWebUrl eq '(.*)'", (query.get("$filter") or [""])[0])
        if not m:
            return 400, {}, {"error": {"code": "BadRequest", "message": "Filter by JoinWebUrl is required"}}
        url = m.group(1).replace("''", "'")
        found = [x for x in self.meetings.values() if x.get("joinWebUrl") == url]
        if not found and any((e.get("onlineMeeting") or {}).get("joinUrl") == url for e in self.events.values()):
            meeting_id = self._new_id("EM")
            self.meetings[meeting_id] = {"id": meeting_id, "joinWebUrl": url,
                                         "lobbyBypassSettings": {"scope": "organization"}}
            found = [self.meetings[meeting_id]]
        return 200, {}, {"value": found}

    def _new_meeting(self, body: dict[str, Any]) -> dict[str, Any]:
        meeting_id = self._new_id("M")
        meeting = {
            "id": meeting_id,
            "subject": body.get("subject"),
            "startDateTime": body.get("startDateTime"),
            "endDateTime": body.get("endDateTime"),
            "creationDateTime": "2026-11-23T08:00:00Z",
            "joinWebUrl": self._join_url(meeting_id[-6:-2] + "m"),
        }
        if body.get("externalId"):
            meeting["externalId"] = body["externalId"]
        self.meetings[meeting_id] = meeting
        return meeting
