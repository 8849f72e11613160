"""The host's linked Outlook calendar (SPEC rules 9 and 26): list the connected account's calendars, choose the
one booking events go to, and check that it allows Teams meetings (at connect time and when a calendar with
Teams is saved). What a check finds is kept on the ``microsoft_calendar`` connection row
(``shared.domain.linked_calendar``), shown on the connection and in the calendar's diagnostics; the meeting
worker takes the Teams-only path for a linked calendar that does not allow Teams.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from shared.domain import connections as rules
from shared.domain import linked_calendar as linked
from shared.domain.model import ConnectionKind, ConnectionStatus
from shared.errors import (
    BookbridgeError,
    ConcurrencyConflict,
    ConfigurationError,
    Conflict,
    NotConnected,
    NotFound,
    ReauthRequired,
    ValidationError,
)
from shared.ports import iso_utc
from shared.repositories.optimistic import optimistic_update
from shared.usecases.connections.deps import Deps, check_ids, kind_of, require_user
from shared.usecases.connections.tokens import get_access_token

log = logging.getLogger("bookbridge.connections")

CALENDAR = ConnectionKind.MICROSOFT_CALENDAR


def _calendar_slot(deps: Deps, workspace: str, user: str, kind: Any) -> dict[str, Any]:
    """The user's connected ``microsoft_calendar`` row; 422 for another kind, 404 / 409 when there is none."""
    check_ids(workspace, user)
    if kind_of(kind) is not CALENDAR:
        raise ValidationError("kind", "only a microsoft_calendar connection has calendars")
    require_user(deps.store, workspace, user)
    row = deps.store.get(rules.CONNECTIONS_TABLE, rules.connection_pk(workspace, user), CALENDAR.value)
    if not row or row.get("status") != ConnectionStatus.CONNECTED.value:
        raise Conflict("the user's Microsoft calendar is not connected: send a connect link first")
    return row


def _calendars(deps: Deps, workspace: str, user: str, row: Mapping[str, Any],
               token: str | None = None) -> list[linked.OutlookCalendar]:
    directory = deps.calendar_directory
    if directory is None:
        raise ConfigurationError("no calendar directory is configured")
    try:
        token = token or get_access_token(deps, workspace, user, CALENDAR, connection=row)
    except (NotConnected, ReauthRequired) as exc:
        raise Conflict(f"the user's Microsoft calendar must be connected again ({exc.code})") from None
    return linked.parse_calendars(directory.calendars(token))


def _record(deps: Deps, workspace: str, user: str, row: Mapping[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """Merge ``fields`` into the connection row while it still holds the account that was asked (ETag-guarded)."""
    store, pk = deps.store, rules.connection_pk(workspace, user)

    def write(current: dict[str, Any] | None) -> dict[str, Any]:
        if not current or (current.get("account_oid"), current.get("account_tid")) != (
                row.get("account_oid"), row.get("account_tid")):
            raise Conflict("the Microsoft calendar connection changed meanwhile: ask again")
        store.update(rules.CONNECTIONS_TABLE, {"PartitionKey": pk, "RowKey": CALENDAR.value, **fields},
                     current.get("_etag"), merge=True)
        return {**current, **fields}

    return optimistic_update(lambda: store.get(rules.CONNECTIONS_TABLE, pk, CALENDAR.value), write,
                             what="the connection", races=(ConcurrencyConflict, NotFound))


def list_calendars(deps: Deps, workspace: str, user: str, kind: Any) -> dict[str, Any]:
    """The connected account's calendars (id, name, is_default, can_edit, allows_teams) and which is linked.

    Reading them is also a check of the linked calendar (rule 26): what it finds is kept on the connection.
    """
    row = _calendar_slot(deps, workspace, user, kind)
    calendars = _calendars(deps, workspace, user, row)
    current = linked.linked_of(calendars, str(row.get("linked_calendar_id") or ""))
    if current is not None:
        _record(deps, workspace, user, row, linked.check_fields(current, iso_utc(deps.clock.now())))
    return {"workspace": workspace, "user": user, "linked_calendar_id": current.id if current else None,
            "calendars": [c.view() for c in calendars]}


def link_calendar(deps: Deps, workspace: str, user: str, kind: Any, calendar_id: str) -> dict[str, Any]:
    """Choose the calendar booking events go to; 422 naming ``linked_calendar_id`` for an id the account does not
    have (or one it cannot write to). Returns the connection's view."""
    row = _calendar_slot(deps, workspace, user, kind)
    chosen = next((c for c in _calendars(deps, workspace, user, row) if c.id == calendar_id), None)
    if chosen is None:
        raise ValidationError("linked_calendar_id", "is not a calendar of the connected Microsoft account")
    if not chosen.can_edit:
        raise ValidationError("linked_calendar_id", "is a calendar the connected account cannot write to")
    entity = _record(deps, workspace, user, row, linked.link_fields(chosen, iso_utc(deps.clock.now())))
    log.info("linked calendar chosen ws=%s user=%s allows_teams=%s", workspace, user, chosen.allows_teams)
    return rules.connection_view(CALENDAR, entity)


def check_linked_calendar(deps: Deps, workspace: str, user: str, *, token: str | None = None) -> str | None:
    """Rule 26, best effort: read the linked calendar's providers and keep them on the connection; the problem
    found (``None``: none, or nothing could be checked now). Never raises: a check must not stop a sign-in or
    a calendar save."""
    if deps.calendar_directory is None:
        return None
    try:
        row = deps.store.get(rules.CONNECTIONS_TABLE, rules.connection_pk(workspace, user), CALENDAR.value)
        if not row or row.get("status") != ConnectionStatus.CONNECTED.value:
            return None
        current = linked.linked_of(_calendars(deps, workspace, user, row, token),
                                   str(row.get("linked_calendar_id") or ""))
        if current is None:
            return None
        entity = _record(deps, workspace, user, row, linked.check_fields(current, iso_utc(deps.clock.now())))
    except BookbridgeError as exc:
        log.info("linked calendar not checked ws=%s user=%s: %s", workspace, user, exc.code)
        return None
    return linked.teams_problem(entity)


def check_members(deps: Deps, workspace: str, users: Iterable[str]) -> None:
    """A calendar with Teams was saved: check each member's linked calendar (rule 26)."""
    for user in dict.fromkeys(users):
        check_linked_calendar(deps, workspace, user)
