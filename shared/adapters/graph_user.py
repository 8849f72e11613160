"""The signed-in user's mailbox address: ``GET /me?$select=mail,userPrincipalName`` (SPEC rule 23), and the
calendars of that mailbox: ``GET /me/calendars?$select=...`` (rules 9 and 26).

Free/busy (``getSchedule``) resolves SMTP addresses. The id token's ``preferred_username`` is the sign-in
name, which need not be a mailbox address ("ID token claims reference": it is mutable and only for display),
so the address is read from Graph: ``mail``, else ``userPrincipalName``.
"""
from __future__ import annotations

from typing import Any

from shared.domain.linked_calendar import CALENDAR_SELECT
from shared.errors import GraphRejected

ME_SELECT = "mail,userPrincipalName"


class MailboxReader:
    """Reads the mailbox address of the account behind an access token (one Graph call)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def mailbox(self, token: str) -> str:
        """``mail`` of ``/me``, else its ``userPrincipalName``; ``GraphRejected`` when Graph gives neither."""
        _, me = self._client.request("GET", "/me", token, params={"$select": ME_SELECT})
        address = str((me or {}).get("mail") or (me or {}).get("userPrincipalName") or "").strip()
        if not address:
            raise GraphRejected("Graph answered /me without mail or userPrincipalName")
        return address[:256]


#: Pages of ``/me/calendars`` followed at most (Graph pages a collection with ``@odata.nextLink``).
MAX_CALENDAR_PAGES = 20


class CalendarDirectory:
    """Lists the calendars of the account behind an access token ("List calendars": ``GET /me/calendars``)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def calendars(self, token: str) -> list[dict[str, Any]]:
        """Every calendar (id, name, isDefaultCalendar, canEdit, allowedOnlineMeetingProviders), all pages."""
        items: list[dict[str, Any]] = []
        path: str | None = "/me/calendars"
        params: dict[str, str] | None = {"$select": CALENDAR_SELECT}
        for _ in range(MAX_CALENDAR_PAGES):
            if not path:
                break
            _, page = self._client.request("GET", path, token, params=params)
            values = (page or {}).get("value")
            items += [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []
            path, params = (page or {}).get("@odata.nextLink") or None, None  # the next link carries its query
        return items
