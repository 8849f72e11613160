"""The signed-in user's mailbox address: ``GET /me?$select=mail,userPrincipalName`` (SPEC rule 23).

Free/busy (``getSchedule``) resolves SMTP addresses. The id token's ``preferred_username`` is the sign-in
name, which need not be a mailbox address ("ID token claims reference": it is mutable and only for display),
so the address is read from Graph: ``mail``, else ``userPrincipalName``.
"""
from __future__ import annotations

from typing import Any

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
