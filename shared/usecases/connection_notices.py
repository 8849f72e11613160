"""Connection notices (rule 21): a host is emailed when one of their connections needs a new sign-in.

A booking's host notice tells the host about one booking; this one is about the connection itself and is
sent once per transition to ``needs_reauth`` (whether or not a booking waits for it). The token code puts a
``hostnotices`` message when it marks the slot (:func:`announce_needs_reauth`, never failing it); the worker
(:func:`handle_connection_notice`) sends it at most once per transition: its sent-record (table
``commsent``, partition ``{ws}|connection|{user}``, row ``needs_reauth|{kind}|{needs_reauth_at}``) is
claimed before the send. A slot that was connected again before the message is handled gets no email.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.domain.model import ConnectionKind, ConnectionStatus
from shared.errors import DeliveryRejected
from shared.ports import EntityExists, MessageQueue, iso_utc
from shared.repositories import workspaces as workspaces_repo
from shared.repositories.connection_reads import get_connection_row
from shared.usecases.queue_messages import json_object

if TYPE_CHECKING:
    from shared.usecases.communications.deps import CommsDeps

log = logging.getLogger("bookbridge.communications")

CONNECTION_NOTICES_QUEUE = "hostnotices"
COMMSENT = "commsent"
_KINDS = tuple(k.value for k in ConnectionKind)


@dataclass(frozen=True)
class ConnectionNotice:
    """A ``hostnotices`` message: ``{"workspace", "user", "kind", "at"}`` (``at`` the slot's ``needs_reauth_at``)."""

    workspace: str
    user: str
    kind: str
    at: str

    @classmethod
    def parse(cls, data: Any) -> ConnectionNotice:
        """Validate a message; ``ValueError`` names what is wrong."""
        data = json_object(data)
        values = {f: data.get(f) for f in ("workspace", "user", "kind", "at")}
        for name, value in values.items():
            if not isinstance(value, str) or not value or len(value) > 200:
                raise ValueError(f"{name} must be a non-empty string of at most 200 characters")
        if values["kind"] not in _KINDS:
            raise ValueError(f"kind must be one of {', '.join(_KINDS)}")
        return cls(**values)

    def ids(self) -> str:
        """The message's ids, for logs."""
        return f"ws={self.workspace} user={self.user} kind={self.kind}"


def announce_needs_reauth(queue: MessageQueue | None, entity: dict[str, Any]) -> None:
    """Put the ``hostnotices`` message of the connection row just marked ``needs_reauth``; never raises."""
    ws, _, user = str(entity.get("PartitionKey") or "").partition("|")
    message = {"workspace": ws, "user": user, "kind": str(entity.get("RowKey") or ""),
               "at": str(entity.get("needs_reauth_at") or "")}
    try:
        if queue is None:
            raise RuntimeError("no queue configured")
        queue.send(CONNECTION_NOTICES_QUEUE, message)
    except Exception as exc:  # noqa: BLE001 - the notice must never fail the token code that marks the slot
        log.warning("connection notice not queued ws=%s kind=%s (%s)", ws, message["kind"], type(exc).__name__)


def handle_connection_notice(deps: CommsDeps, message: Any) -> str:
    """Send the notice of one ``hostnotices`` message (at most once); returns what was done."""
    try:
        msg = ConnectionNotice.parse(message)
    except ValueError as exc:
        log.error("%s: invalid message dropped: %s", CONNECTION_NOTICES_QUEUE, exc)
        return "invalid"
    conn = get_connection_row(deps.store, msg.workspace, msg.user, msg.kind)
    if not conn or conn.get("status") != ConnectionStatus.NEEDS_REAUTH.value or conn.get("needs_reauth_at") != msg.at:
        log.info("connection notice skipped: the slot changed since %s", msg.ids())
        return "skipped"
    row = {"PartitionKey": f"{msg.workspace}|connection|{msg.user}", "RowKey": f"needs_reauth|{msg.kind}|{msg.at}",
           "state": "sending", "kind": "connection_notice", "claimed_at": iso_utc(deps.clock.now())}
    try:
        deps.store.insert(COMMSENT, row)
    except EntityExists:
        existing = deps.store.get(COMMSENT, row["PartitionKey"], row["RowKey"]) or {}
        if existing.get("state") != "sending":
            return "duplicate"  # sent (or refused) already; a ``sending`` one crashed: send it again
    state = _send(deps, msg, conn, row)
    deps.store.upsert(COMMSENT, {**row, "state": state, "done_at": iso_utc(deps.clock.now())})
    log.info("connection notice %s %s", state, msg.ids())
    return state


def _send(deps: CommsDeps, msg: ConnectionNotice, conn: dict[str, Any], row: dict[str, Any]) -> str:
    """Render and send; ``sent``, or ``failed`` when the address is refused (a transient error raises)."""
    from shared.mail.message import OutgoingMessage
    from shared.mail.notice_texts import connection_notice_text
    from shared.mail.templates import render_connection_notice
    from shared.usecases.connections.notice_links import notice_link_url

    host = workspaces_repo.get_user(deps.store, msg.workspace, msg.user) or {}
    to, name = str(host.get("email") or ""), str(host.get("name") or "") or None
    if not to:
        log.warning("connection notice: the host has no email address %s", msg.ids())
        return "failed"
    link = notice_link_url(deps.signer, deps.public_base_url, msg.workspace, msg.user, ConnectionKind(msg.kind),
                           deps.clock.now())
    texts = connection_notice_text(msg.kind, consent_required=bool(conn.get("consent_required")))
    rendered = render_connection_notice(texts, reason=str(conn.get("last_error") or ""), link_url=link,
                                        recipient_name=name)
    try:
        deps.mail.send(OutgoingMessage(to=to, to_name=name, subject=rendered.subject, text=rendered.text,
                                       html=rendered.html, headers={"X-Bookbridge-Kind": "connection_notice"},
                                       idempotency_key=f"{row['PartitionKey']}|{row['RowKey']}"))
    except DeliveryRejected as exc:
        log.warning("connection notice refused (%s) %s", exc.code, msg.ids())
        return "failed"
    return "sent"
