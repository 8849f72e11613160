"""Google's freeBusy.query behind ``responses`` for the booking unit tests (answers held to Google's contract)."""
from __future__ import annotations

import json
from typing import Any

import responses

GOOGLE = "https://calendar.google.test/calendar/v3"


class GoogleFreeBusy:
    """``POST {GOOGLE}/freeBusy``: each member's busy periods, by the member's token (``token-{user}``)."""

    def __init__(self, busy: dict[str, list[tuple[str, str]]] | None = None) -> None:
        self.busy = busy or {}
        self.errors: dict[str, str] = {}
        self.unauthorized_once: set[str] = set()
        self.calls: list[dict[str, Any]] = []

    def install(self, rsps: responses.RequestsMock) -> GoogleFreeBusy:
        rsps.add_callback(responses.POST, f"{GOOGLE}/freeBusy", callback=self._answer,
                          content_type="application/json")
        return self

    def _answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        user = request.headers["Authorization"].removeprefix("Bearer token-")
        self.calls.append({"user": user, **body})
        if user in self.unauthorized_once:
            self.unauthorized_once.discard(user)
            item = {"domain": "global", "reason": "authError", "message": "Invalid Credentials"}
            error = {"error": {"errors": [item], "code": 401, "message": "Invalid Credentials"}}
            return 401, {}, json.dumps(error)
        entry: dict[str, Any] = {"busy": [{"start": s, "end": e} for s, e in self.busy.get(user, [])]}
        if user in self.errors:
            entry = {"errors": [{"domain": "global", "reason": self.errors[user]}], "busy": []}
        answer = {"kind": "calendar#freeBusy", "timeMin": body["timeMin"], "timeMax": body["timeMax"],
                  "calendars": {"primary": entry}}
        return 200, {}, json.dumps(answer)
