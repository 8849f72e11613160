"""Graph subscriptions on a host's events, the event re-read and ``calendarView/delta`` (issue 19).

Over :class:`shared.adapters.graph_client.GraphClient`; errors are its translations (``Throttled``,
``GraphUnauthorized``, ``NotFound``, ``GraphRejected``, ``TransientError``).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from shared.errors import NotFound
from shared.ports import iso_utc

#: Read back in UTC: the times compare with the booking's as they are (rule 22 concerns what we send).
PREFER_UTC = {"Prefer": 'outlook.timezone="UTC"'}
EVENT_SELECT = "id,start,end,isCancelled,responseStatus,isOrganizer,lastModifiedDateTime"
#: Pages of one delta round read at most (a host's upcoming window; 100 events a page).
MAX_DELTA_PAGES = 50


def _seg(value: str) -> str:
    return quote(value, safe="")


class GraphSubscriptions:
    """The Graph calls of inbound sync. Stateless; safe to share."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def create_subscription(self, token: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /subscriptions``."""
        _, sub = self._client.request("POST", "/subscriptions", token, json_body=dict(body))
        return dict(sub)

    def renew_subscription(self, token: str, subscription_id: str, expiration: str) -> dict[str, Any]:
        """``PATCH /subscriptions/{id}``; ``NotFound`` when it lapsed."""
        _, sub = self._client.request("PATCH", f"/subscriptions/{_seg(subscription_id)}", token,
                                      json_body={"expirationDateTime": expiration})
        return dict(sub)

    def delete_subscription(self, token: str, subscription_id: str) -> None:
        """``DELETE /subscriptions/{id}``; gone is fine."""
        try:
            self._client.request("DELETE", f"/subscriptions/{_seg(subscription_id)}", token)
        except NotFound:
            return

    def get_event(self, token: str, event_id: str) -> dict[str, Any] | None:
        """``GET /me/events/{id}?$select=...`` in UTC; ``None`` on 404."""
        try:
            _, event = self._client.request("GET", f"/me/events/{_seg(event_id)}", token,
                                            params={"$select": EVENT_SELECT}, headers=PREFER_UTC)
        except NotFound:
            return None
        return dict(event)

    def calendar_view_delta(self, token: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Every item of a full ``/me/calendarView/delta`` round (``@odata.nextLink`` followed)."""
        items: list[dict[str, Any]] = []
        url: str | None = "/me/calendarView/delta"
        params: dict[str, str] | None = {"startDateTime": iso_utc(start), "endDateTime": iso_utc(end)}
        headers = {**PREFER_UTC, "Prefer": 'outlook.timezone="UTC", odata.maxpagesize=100'}
        for _ in range(MAX_DELTA_PAGES):
            if url is None:
                break
            _, page = self._client.request("GET", url, token, params=params, headers=headers)
            items.extend(dict(i) for i in page.get("value") or [])
            url, params = page.get("@odata.nextLink"), None
        return items
