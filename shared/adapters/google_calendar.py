"""Google Calendar v3 over ``requests``: free/busy and the events of a booking (the ``GoogleCalendarPort``).

Errors as "Handle API errors" documents them: 401 -> ``GoogleUnauthorized`` (refresh the token once), 403
``rateLimitExceeded`` / ``userRateLimitExceeded``, 429 and 5xx -> ``GoogleThrottled`` (with ``Retry-After`` when
given), 404 and 410 -> ``NotFound``, anything else -> ``GoogleRejected``. An insert whose event id is taken
(409 ``duplicate``: an earlier attempt made it) reads that event. A delete of an event already deleted (410)
is done. ``notify=False`` writes with ``sendUpdates=none`` (a co-host's own event: nobody is told; "Events:
insert", "Events: patch", "Events: delete"), otherwise ``sendUpdates=all`` (Google tells the attendees). Bodies
are held to Google's contract (``devhost/googlestandin/contract``) by the tests.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from shared.errors import GoogleRejected, GoogleThrottled, GoogleUnauthorized, NotFound

log = logging.getLogger("bookbridge.google")

BASE_URL = "https://www.googleapis.com/calendar/v3"
TIMEOUT_SECONDS = 10.0
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}
DEFAULT_RETRY_AFTER = 30.0


def _reason(resp: Any) -> str:
    try:
        errors = resp.json()["error"].get("errors") or [{}]
        return str(errors[0].get("reason") or "")
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return ""


def _retry_after(resp: Any) -> float:
    try:
        return max(1.0, float(resp.headers.get("Retry-After") or DEFAULT_RETRY_AFTER))
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _send_updates(notify: bool) -> str:
    return "all" if notify else "none"


class GoogleCalendarClient:
    """One process's client of Calendar v3 (the account is the access token's)."""

    def __init__(self, base_url: str, session: Any, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.base_url = (base_url or BASE_URL).rstrip("/")
        self.session, self.timeout = session, timeout

    def _call(self, method: str, path: str, token: str, *, params: dict[str, str] | None = None,
              body: dict[str, Any] | None = None, gone_ok: bool = False) -> dict[str, Any]:
        import requests

        try:
            resp = self.session.request(method, f"{self.base_url}{path}", params=params, json=body,
                                        headers={"Authorization": f"Bearer {token}"}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise GoogleThrottled(f"Google Calendar did not answer ({type(exc).__name__})",
                            retry_after=DEFAULT_RETRY_AFTER) from None
        if resp.status_code < 300:
            return resp.json() if resp.content else {}
        reason = _reason(resp)
        log.info("google calendar %s %s -> %s %s", method, path.split("/")[1], resp.status_code, reason)
        if resp.status_code == 401:
            raise GoogleUnauthorized("Google refused the access token")
        if resp.status_code in (429, 500, 502, 503, 504) or (resp.status_code == 403 and reason in RATE_REASONS):
            raise GoogleThrottled(f"Google Calendar is busy ({resp.status_code} {reason})",
                                  retry_after=_retry_after(resp))
        if resp.status_code == 410 and gone_ok:
            return {}
        if resp.status_code in (404, 410):
            raise NotFound(f"the Google event is gone ({resp.status_code})")
        raise GoogleRejected(f"Google Calendar refused the request ({resp.status_code} {reason})",
                             status=resp.status_code, reason=reason)

    def free_busy(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/freeBusy", token, body=body)

    def insert_event(self, token: str, body: dict[str, Any], *, conference: bool,
                     notify: bool = True) -> dict[str, Any]:
        params = {"sendUpdates": _send_updates(notify), **({"conferenceDataVersion": "1"} if conference else {})}
        try:
            return self._call("POST", "/calendars/primary/events", token, params=params, body=body)
        except GoogleRejected as exc:
            if exc.status != 409 or not body.get("id"):
                raise
        log.info("google calendar: the event id exists (an earlier attempt made it), reading it")
        return self._call("GET", f"/calendars/primary/events/{quote(str(body['id']), safe='')}", token)

    def patch_event(self, token: str, event_id: str, body: dict[str, Any], *, notify: bool = True) -> dict[str, Any]:
        return self._call("PATCH", f"/calendars/primary/events/{quote(event_id, safe='')}", token,
                          params={"sendUpdates": _send_updates(notify)}, body=body)

    def delete_event(self, token: str, event_id: str, *, notify: bool = True) -> None:
        self._call("DELETE", f"/calendars/primary/events/{quote(event_id, safe='')}", token,
                   params={"sendUpdates": _send_updates(notify)}, gone_ok=True)
