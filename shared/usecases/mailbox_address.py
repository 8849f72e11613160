"""The mailbox address stored on a connection (``mailbox``), read from Graph when it is not known yet.

Sign-in stores it (rule 23); a connection made before that is given it the first time its token is used
for free/busy. ``preferred_username`` (the ``upn`` column) is never used as a free/busy address.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shared.errors import BookbridgeError, ConcurrencyConflict, NotFound
from shared.ports import EntityStore, MailboxPort

log = logging.getLogger("bookbridge.connections")

CONNECTIONS_TABLE = "connections"


def mailbox_key(conn: Mapping[str, Any]) -> str:
    """The key of the mailbox a connection acts on (its Microsoft account: tenant and object id), or ``""``.

    The per-mailbox limiter and the free/busy cache use it, so every connection of one account (its Teams
    and calendar connections, in any workspace) shares one mailbox's limits.
    """
    oid = str(conn.get("account_oid") or "")
    return f"{conn.get('account_tid') or ''}|{oid}" if oid else ""


def read_at_sign_in(reader: MailboxPort | None, token: str) -> str:
    """The mailbox address right after sign-in, or ``""`` when it cannot be read now (filled in later)."""
    if reader is None or not token:
        return ""
    try:
        return reader.mailbox(token)
    except BookbridgeError as exc:
        log.info("mailbox address not read at sign-in: %s", exc.code)
        return ""


def mailbox_address(store: EntityStore, reader: MailboxPort | None, row: Mapping[str, Any], token: str) -> str | None:
    """The connection's ``mailbox``; when missing, read with ``token`` and stored on the row (best effort).

    Raises what the reader raises (the caller fails closed); ``None`` when no reader is configured.
    """
    known = str(row.get("mailbox") or "").strip()
    if known:
        return known
    if reader is None:
        return None
    address = reader.mailbox(token)
    patch = {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], "mailbox": address}
    try:
        store.update(CONNECTIONS_TABLE, patch, row.get("_etag"), merge=True)
    except (ConcurrencyConflict, NotFound):
        pass  # the row changed meanwhile (reconnect/disconnect): it is read again next time
    return address
