"""Calendar v3 of ONE Google account behind ``responses`` (Google's behaviour as the stand-in has it: a taken
event id answers 409 ``duplicate``, a Meet conference only with ``conferenceDataVersion=1`` and one per
``requestId``, a deleted event answers 410 ``deleted``)."""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import responses

GOOGLE_BASE = "https://calendar.google.test/calendar/v3"


def _error(status: int, reason: str) -> tuple[int, dict[str, str], str]:
    body = {"error": {"errors": [{"domain": "global", "reason": reason, "message": reason}], "code": status,
                      "message": reason}}
    return status, {}, json.dumps(body)


class FakeGoogleCalendar:
    """Events by id; ``requests``: (method, event id, query, body) of each call; ``tokens``: each call's bearer
    token (whose account it was: ``FakeTokens`` names the user)."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.tokens: list[str] = []
        self.meet_pending = False
        self.outage = 0  # the next calls answered 503 backendError ("Handle API errors")
        url = re.compile(re.escape(GOOGLE_BASE) + r"/calendars/primary/events(/[^/?]+)?(\?.*)?$")
        for method in ("GET", "POST", "PATCH", "DELETE"):
            rsps.add_callback(method, url, callback=self._handle, content_type="application/json")

    def calls(self, method: str) -> list[tuple[str, str, dict[str, str], Any]]:
        return [r for r in self.requests if r[0] == method]

    def _handle(self, request: Any) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(request.url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        tail = parts.path.rsplit("/events", 1)[1]
        event_id = unquote(tail.lstrip("/"))
        body = json.loads(request.body) if request.body else None
        self.requests.append((request.method, event_id or str((body or {}).get("id")), query, body))
        self.tokens.append(str(request.headers.get("Authorization") or "").removeprefix("Bearer "))
        if self.outage:
            self.outage -= 1
            return _error(503, "backendError")
        if request.method == "POST":
            return self._insert(body, query)
        event = self.events.get(event_id)
        if event is None:
            return _error(404, "notFound")
        if request.method == "DELETE":
            if event["status"] == "cancelled":
                return _error(410, "deleted")
            event["status"] = "cancelled"
            return 204, {}, ""
        if request.method == "PATCH":
            event.update(body or {})
        create = (event.get("conferenceData") or {}).get("createRequest") or {}
        if create.get("status", {}).get("statusCode") == "pending" and not self.meet_pending:
            self._make_meet(event, create)  # the conference Google was making is there now
        return 200, {}, json.dumps(event)

    @staticmethod
    def _make_meet(event: dict[str, Any], request: dict[str, Any]) -> None:
        code = hashlib.sha256(request["requestId"].encode()).hexdigest()
        uri = f"https://meet.google.com/{code[:3]}-{code[3:7]}-{code[7:10]}"
        event["conferenceData"] = {"createRequest": {**request, "status": {"statusCode": "success"}},
                                   "entryPoints": [{"entryPointType": "video", "uri": uri}]}
        event["hangoutLink"] = uri

    def _insert(self, body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        if body["id"] in self.events:
            return _error(409, "duplicate")
        event = {k: v for k, v in body.items() if k != "conferenceData"}
        event.update(kind="calendar#event", status="confirmed")
        request = (body.get("conferenceData") or {}).get("createRequest")
        if request and query.get("conferenceDataVersion") == "1":
            if self.meet_pending:
                event["conferenceData"] = {"createRequest": {**request, "status": {"statusCode": "pending"}}}
            else:
                self._make_meet(event, request)
        self.events[body["id"]] = event
        return 200, {}, json.dumps(event)
