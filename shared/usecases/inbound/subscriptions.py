"""A Graph subscription per connected ``microsoft_calendar`` (rule 19): create, renew, remove.

Table ``graphsubscriptions``:

* ``{ws}|{user}`` / ``microsoft_calendar``: ``subscription_id``, ``expires_at``, ``renew_at``, ``created_at``,
  ``renewed_at``, ``last_error`` (the host's subscription);
* ``sub|{subscription_id}`` / ``sub``: ``workspace``, ``user``, ``client_state`` (random per subscription,
  encrypted with the token cipher, never logged): what a notification is checked against (one point read);
* ``renew`` / ``{renew_at}|{ws}|{user}``: the renewal index. The timer reads only the rows due now (a RowKey
  range ending at now), so a subscription far from its expiry costs no request to Graph.

Created when the calendar connects (a ``subscribe`` message from the sign-in), removed on disconnect (before
the tokens go: deleting needs the host's token), renewed by the timer ``renew_before_minutes`` before it
expires. A renewal answered 404 means the subscription lapsed: a new one is made and the changes made
meanwhile are recovered with a delta query (``recover``).
"""
from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.errors import (
    GraphRejected,
    NotConnected,
    NotFound,
    ReauthRequired,
    TransientError,
)
from shared.ports import Entity, iso_utc, parse_iso_utc
from shared.usecases.inbound.deps import (
    CALENDAR,
    INBOUND_QUEUE,
    MAX_LIFETIME_MINUTES,
    MAX_RENEWALS_PER_RUN,
    RENEW_PK,
    TABLE,
    InboundDeps,
    connection_pk,
    lookup_pk,
)

log = logging.getLogger("bookbridge.inbound")
CHANGE_TYPES = "created,updated,deleted"
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def request_subscription(queue: Any, workspace: str, user: str) -> None:
    """Ask the inbound worker to (re)create the host's subscription (the sign-in of a calendar connection)."""
    queue.send(INBOUND_QUEUE, {"op": "subscribe", "workspace": workspace, "user": user})


def _lifetime(deps: InboundDeps) -> int:
    """The lifetime asked for, never past Graph's maximum for Outlook events (a larger one is refused)."""
    return max(1, min(deps.lifetime_minutes, MAX_LIFETIME_MINUTES))


def current(deps: InboundDeps, workspace: str, user: str) -> Entity | None:
    """The host's subscription row, or ``None``."""
    return deps.store.get(TABLE, connection_pk(workspace, user), CALENDAR)


def _renew_rk(renew_at: str, workspace: str, user: str) -> str:
    return f"{renew_at}|{workspace}|{user}"


def _record(deps: InboundDeps, workspace: str, user: str, sub: dict[str, Any], created: bool) -> Entity:
    """Write the host's row and its renewal index row (the old index row goes)."""
    now = deps.clock.now()
    expires = parse_iso_utc(str(sub["expirationDateTime"]))
    renew_at = iso_utc(max(now, expires - timedelta(minutes=deps.renew_before_minutes)))
    previous = current(deps, workspace, user)
    row = {"PartitionKey": connection_pk(workspace, user), "RowKey": CALENDAR, "subscription_id": str(sub["id"]),
           "expires_at": iso_utc(expires), "renew_at": renew_at, "renewed_at": iso_utc(now), "last_error": "",
           "created_at": iso_utc(now) if created or previous is None else str(previous.get("created_at") or "")}
    deps.store.upsert(TABLE, {"PartitionKey": RENEW_PK, "RowKey": _renew_rk(renew_at, workspace, user),
                              "subscription_id": row["subscription_id"]})
    deps.store.upsert(TABLE, row)
    if previous is not None and previous.get("renew_at") and previous.get("renew_at") != renew_at:
        deps.store.delete(TABLE, RENEW_PK, _renew_rk(str(previous["renew_at"]), workspace, user))
    return row


def subscribe(deps: InboundDeps, workspace: str, user: str) -> Entity:
    """A new subscription on the host's events (a previous one is removed). Graph first validates the
    notification URLs against our routes; errors propagate (the queue retries)."""
    assert deps.cipher is not None, "subscribing needs the token cipher"
    token = deps.access_token(workspace, user, CALENDAR)
    client_state = secrets.token_urlsafe(48)
    expires = deps.clock.now() + timedelta(minutes=_lifetime(deps))
    sub = deps.graph.create_subscription(token, {
        "changeType": CHANGE_TYPES, "notificationUrl": deps.notification_url,
        "lifecycleNotificationUrl": deps.lifecycle_url, "resource": "me/events",
        "expirationDateTime": iso_utc(expires), "clientState": client_state})
    deps.store.upsert(TABLE, {"PartitionKey": lookup_pk(str(sub["id"])), "RowKey": "sub", "workspace": workspace,
                              "user": user, "client_state": deps.cipher.encrypt(client_state),
                              "created_at": iso_utc(deps.clock.now())})
    previous = current(deps, workspace, user)
    row = _record(deps, workspace, user, sub, created=True)
    if previous is not None and previous.get("subscription_id") != row["subscription_id"]:
        _forget(deps, str(previous["subscription_id"]), token)
    log.info("inbound: subscribed ws=%s user=%s sub=%s expires=%s", workspace, user, row["subscription_id"],
             row["expires_at"])
    return row


def _forget(deps: InboundDeps, subscription_id: str, token: str | None) -> None:
    """Delete a subscription at Graph (best effort: it expires by itself) and its lookup row."""
    if token:
        try:
            deps.graph.delete_subscription(token, subscription_id)
        except (GraphRejected, TransientError) as exc:
            log.warning("inbound: old subscription not deleted at Graph (%s) sub=%s", exc.code, subscription_id)
    deps.store.delete(TABLE, lookup_pk(subscription_id), "sub")


def unsubscribe(deps: InboundDeps, workspace: str, user: str) -> bool:
    """Remove the host's subscription (at Graph while the token still works) and its rows; False if none."""
    row = current(deps, workspace, user)
    if row is None:
        return False
    try:
        token: str | None = deps.access_token(workspace, user, CALENDAR)
    except (NotConnected, ReauthRequired, TransientError):
        token = None
    _forget(deps, str(row.get("subscription_id") or ""), token)
    if row.get("renew_at"):
        deps.store.delete(TABLE, RENEW_PK, _renew_rk(str(row["renew_at"]), workspace, user))
    deps.store.delete(TABLE, connection_pk(workspace, user), CALENDAR)
    log.info("inbound: unsubscribed ws=%s user=%s sub=%s", workspace, user, row.get("subscription_id"))
    return True


def renew(deps: InboundDeps, workspace: str, user: str) -> str:
    """Extend the host's subscription; one that lapsed is made anew and the gap recovered. Returns what
    happened: ``renewed``, ``recreated``, ``gone`` (no subscription, or the calendar is not connected)."""
    from shared.usecases.inbound.recover import recover

    row = current(deps, workspace, user)
    if row is None:
        return "gone"
    try:
        token = deps.access_token(workspace, user, CALENDAR)
    except (NotConnected, ReauthRequired):
        unsubscribe(deps, workspace, user)  # a reconnect subscribes anew
        return "gone"
    expires = iso_utc(deps.clock.now() + timedelta(minutes=_lifetime(deps)))
    try:
        sub = deps.graph.renew_subscription(token, str(row["subscription_id"]), expires)
    except NotFound:
        log.warning("inbound: subscription lapsed ws=%s user=%s sub=%s", workspace, user, row["subscription_id"])
        subscribe(deps, workspace, user)
        recover(deps, workspace, user)
        return "recreated"
    _record(deps, workspace, user, {"id": row["subscription_id"], **sub}, created=False)
    return "renewed"


def disconnect(deps: InboundDeps, connection_deps: Any, workspace: str, user: str, kind: str) -> dict[str, Any]:
    """``DELETE .../connections/{kind}``: for ``microsoft_calendar`` the subscription goes first (deleting it
    at Graph needs the host's token, which the disconnect deletes), best effort; then the disconnect."""
    from shared.usecases.connections import disconnect as disconnect_connection

    if kind == CALENDAR and all(ID.match(v) for v in (workspace, user)):
        try:
            unsubscribe(deps, workspace, user)
        except (TransientError, GraphRejected) as exc:  # it expires by itself; notifications find no host
            log.warning("inbound: subscription not removed (%s) ws=%s user=%s", exc.code, workspace, user)
    return disconnect_connection(connection_deps, workspace, user, kind)


@dataclass
class RenewRun:
    """What one timer run did."""

    due: int = 0
    renewed: int = 0
    recreated: int = 0
    gone: int = 0
    failed: int = 0


def renew_due(deps: InboundDeps) -> RenewRun:
    """The timer: renew every subscription whose ``renew_at`` passed (and only those)."""
    now: datetime = deps.clock.now()
    run = RenewRun()
    rows = list(deps.store.query(TABLE, RENEW_PK, row_key_to=iso_utc(now) + "}", limit=MAX_RENEWALS_PER_RUN))
    for row in rows:
        renew_at, workspace, user = (str(row["RowKey"]).split("|") + ["", ""])[:3]
        mine = current(deps, workspace, user)
        if mine is None or mine.get("renew_at") != renew_at:
            deps.store.delete(TABLE, RENEW_PK, str(row["RowKey"]))  # stale: its subscription moved on or went
            continue
        run.due += 1
        try:
            outcome = renew(deps, workspace, user)
        except (TransientError, GraphRejected) as exc:
            run.failed += 1  # the row stays due: the next run tries again
            log.warning("inbound: renewal failed (%s) ws=%s user=%s", exc.code, workspace, user)
            continue
        setattr(run, outcome, getattr(run, outcome) + 1)
        if outcome == "gone":
            deps.store.delete(TABLE, RENEW_PK, str(row["RowKey"]))
    log.info("inbound: renewal run due=%d renewed=%d recreated=%d gone=%d failed=%d", run.due, run.renewed,
             run.recreated, run.gone, run.failed)
    return run


__all__ = ["RenewRun", "current", "disconnect", "renew", "renew_due", "request_subscription", "subscribe",
           "unsubscribe"]
