"""Outlook events and Teams online meetings over :class:`shared.adapters.graph_client.GraphClient`.

One method per Graph call the meeting worker makes; bodies come from ``shared.domain.meeting_plan``.
Errors are those of ``GraphClient.request`` (``Throttled``, ``GraphUnauthorized``, ``TeamsUnavailable``
for online-meeting calls, ``NotFound``, ``GraphRejected``, ``TransientError``), except where noted:
deleting or cancelling something already gone is success.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from shared.domain.meeting_plan import cancel_body
from shared.errors import GraphRejected, NotFound

#: ``$select`` of the one read-back of an event whose create response lacked the join URL.
EVENT_ONLINE_MEETING_SELECT = "id,isOnlineMeeting,onlineMeeting"


def _seg(value: str) -> str:
    """A Graph id as one URL path segment (ids may contain '/', '+', '=')."""
    return quote(value, safe="")


class GraphEvents:
    """The Graph calls of the meeting worker. Stateless; safe to share."""

    def __init__(self, client: Any) -> None:
        self._client = client

    # ----------------------------------------------------------------------------- events
    def create_event(self, token: str, body: dict[str, Any], *, calendar_id: str = "") -> dict[str, Any]:
        """``POST /me/calendars/{calendar_id}/events`` (or ``/me/events``); the created event.

        The body carries a ``transactionId``: a retried POST returns the event already created.
        If Graph instead refuses the retry as a duplicate (409), the event is looked up by it.
        """
        path = f"/me/calendars/{_seg(calendar_id)}/events" if calendar_id else "/me/events"
        try:
            _, event = self._client.request("POST", path, token, json_body=body)
        except GraphRejected as exc:
            if exc.status != 409 or not body.get("transactionId"):
                raise
            found = self.find_event_by_transaction_id(token, str(body["transactionId"]))
            if found is None:
                raise
            return found
        return event

    def find_event_by_transaction_id(self, token: str, transaction_id: str) -> dict[str, Any] | None:
        """The event created with ``transaction_id``, if Graph can find it."""
        escaped = transaction_id.replace("'", "''")
        _, page = self._client.request(
            "GET", "/me/events", token,
            params={"$filter": f"transactionId eq '{escaped}'", "$select": EVENT_ONLINE_MEETING_SELECT, "$top": "1"},
        )
        items = page.get("value") or []
        return items[0] if items else None

    def get_event_online_meeting(self, token: str, event_id: str) -> dict[str, Any]:
        """``GET /me/events/{id}?$select=id,isOnlineMeeting,onlineMeeting``."""
        _, event = self._client.request(
            "GET", f"/me/events/{_seg(event_id)}", token, params={"$select": EVENT_ONLINE_MEETING_SELECT}
        )
        return event

    def update_event(self, token: str, event_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """``PATCH /me/events/{id}``; raises ``NotFound`` when the event is gone."""
        _, event = self._client.request("PATCH", f"/me/events/{_seg(event_id)}", token, json_body=patch)
        return event

    def cancel_event(self, token: str, event_id: str, comment: str) -> bool:
        """``POST /me/events/{id}/cancel`` (attendees get Outlook's cancellation). False if already gone."""
        try:
            self._client.request("POST", f"/me/events/{_seg(event_id)}/cancel", token,
                                 json_body=cancel_body(comment))
        except NotFound:
            return False
        return True

    def delete_event(self, token: str, event_id: str) -> bool:
        """``DELETE /me/events/{id}`` (an event without attendees). False if already gone."""
        try:
            self._client.request("DELETE", f"/me/events/{_seg(event_id)}", token)
        except NotFound:
            return False
        return True

    # ----------------------------------------------------------------------------- online meetings
    def create_or_get_online_meeting(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /me/onlineMeetings/createOrGet``: the meeting of ``externalId``, created if needed.

        Never falls back to a plain ``POST /me/onlineMeetings`` (no ``externalId``: a redelivery would make
        a second meeting); createOrGet is GA in v1.0 ("onlineMeeting: createOrGet"). A 403 is
        ``TeamsUnavailable``; a 404/405 is ``GraphRejected`` (the request is wrong, not the meeting gone).
        """
        try:
            _, meeting = self._client.request("POST", "/me/onlineMeetings/createOrGet", token,
                                              json_body=body, teams_call=True)
        except NotFound as exc:
            raise GraphRejected(f"createOrGet was not found: {exc.message}", status=404) from None
        return meeting

    def find_online_meeting_by_join_url(self, token: str, join_url: str) -> dict[str, Any] | None:
        """``GET /me/onlineMeetings?$filter=JoinWebUrl eq '...'`` (the only list Graph allows): the meeting
        behind an event's Teams link, or ``None``."""
        escaped = join_url.replace("'", "''")
        _, page = self._client.request("GET", "/me/onlineMeetings", token,
                                       params={"$filter": f"JoinWebUrl eq '{escaped}'"}, teams_call=True)
        items = page.get("value") or []
        return items[0] if items else None

    def create_online_meeting(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /me/onlineMeetings`` (subject, startDateTime, endDateTime)."""
        _, meeting = self._client.request("POST", "/me/onlineMeetings", token, json_body=body, teams_call=True)
        return meeting

    def update_online_meeting(self, token: str, meeting_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """``PATCH /me/onlineMeetings/{id}``; raises ``NotFound`` when the meeting is gone."""
        _, meeting = self._client.request("PATCH", f"/me/onlineMeetings/{_seg(meeting_id)}", token,
                                          json_body=patch, teams_call=True)
        return meeting

    def delete_online_meeting(self, token: str, meeting_id: str) -> bool:
        """``DELETE /me/onlineMeetings/{id}``. False if already gone."""
        try:
            self._client.request("DELETE", f"/me/onlineMeetings/{_seg(meeting_id)}", token, teams_call=True)
        except NotFound:
            return False
        return True
