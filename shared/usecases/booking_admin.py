"""Host and admin views of bookings (function key, rule 21): link state, reason, next attempt, organizer,
sync and delivery errors, participants and the reconciler's history.

* ``GET /api/workspaces/{ws}/users/{user}/bookings?from=&to=&link_status=``: one single-partition query of
  the host's ``schedule`` partition (booking rows only), filtered by start and link status.
* ``GET /api/workspaces/{ws}/bookings/{id}``: the booking by id alone: the workspace's users (one
  partition query) and a point read per user until the booking row is found (a booking row lives in its
  primary host's partition).
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.domain import google_events
from shared.domain import participants as participant_rules
from shared.domain.model import LinkState
from shared.errors import NotFound, ValidationError
from shared.ports import Entity, EntityStore, iso_utc
from shared.repositories import bookings as repo
from shared.repositories import workspaces as workspaces_repo
from shared.usecases.workspaces import check_id, get_user, require_workspace

_BOOKING_ID = re.compile(r"^[0-9a-f]{32}$")
#: Most bookings one list answers.
MAX_LIST = 500


def _json_list(value: Any) -> list[dict[str, Any]]:
    try:
        parsed = json.loads(str(value or "[]"))
    except ValueError:
        return []
    return parsed if isinstance(parsed, list) else []


def _history(entity: Mapping[str, Any]) -> list[dict[str, Any]]:
    return _json_list(entity.get("history_json"))


def _participants(entity: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The organizer and every co-host with the state of their own calendar event (rule 20,
    ``shared.domain.participants``): a co-host's ``provider`` (the calendar their event is written to, Outlook
    or Google) and, for a failure, its reason as ``error``."""
    try:
        hosts = json.loads(str(entity.get("hosts_json") or "[]"))
    except ValueError:
        hosts = []
    recorded = participant_rules.records(entity.get("participants_json"))
    primary = str(entity.get("host") or "")
    out = []
    for h in hosts if isinstance(hosts, list) else []:
        user = str((h or {}).get("user") or "")
        if user == primary:
            event = "none" if not entity.get("graph_event_id") else (
                "cancelled" if entity.get("graph_cancelled") else "written")
            out.append({"user": user, "role": "organizer", "event": event})
            continue
        record = recorded.get(user, participant_rules.Participant())
        view: dict[str, Any] = {"user": user, "role": "co_host", "event": record.event, "provider": record.provider}
        if record.error:
            view["error"] = record.error
        out.append(view)
    return out


def _google(entity: Mapping[str, Any]) -> dict[str, Any] | None:
    """The booking's event in the host's Google calendar (rule 28); ``None`` when the host keeps none."""
    if not google_events.wanted(entity):
        return None
    event = "cancelled" if entity.get("google_cancelled") else "written" if entity.get("google_event_id") else "none"
    return {"event": event, "event_id": entity.get("google_event_id"), "sync_error": entity.get("google_sync_error")}


def admin_view(entity: Mapping[str, Any]) -> dict[str, Any]:
    """What a workspace admin sees of one booking (never a token; the invitee is the admin's own data)."""
    oid = entity.get("organizer_oid")
    return {
        "id": entity.get("id"),
        "workspace": entity.get("workspace"),
        "host": entity.get("host"),
        "calendar": entity.get("calendar"),
        "status": entity.get("status"),
        "start": entity.get("start_utc"),
        "end": entity.get("end_utc"),
        "revision": entity.get("revision"),
        "invitee": {"name": entity.get("invitee_name"), "email": entity.get("invitee_email")},
        "link_status": entity.get("link_state"),
        "link_reason": entity.get("link_reason"),
        "next_attempt_at": entity.get("next_attempt_at"),
        "meeting_url": entity.get("meeting_url"),
        "organizer": {"upn": entity.get("organizer_upn"), "oid": oid} if oid else None,
        "graph_sync_error": entity.get("graph_sync_error"),
        "delivery_error": entity.get("delivery_error"),
        "google": _google(entity),
        "participants": _participants(entity),
        "history": _history(entity),
        "orphans": _json_list(entity.get("orphans_json")),
        "created_at": entity.get("created_at"),
        "updated_at": entity.get("updated_at"),
    }


def list_host_bookings(store: EntityStore, ws: str, user: str, *, start_from: datetime | None = None,
                       start_to: datetime | None = None, link_status: str | None = None) -> dict[str, Any]:
    """The host's bookings (primary host), earliest first, filtered by start range and link status."""
    get_user(store, ws, user)  # 422 for a bad id, 404 for an unknown user
    lo, hi = start_from, start_to
    if link_status not in (None, "") and link_status not in {s.value for s in LinkState}:
        raise ValidationError("link_status", "must be one of " + ", ".join(s.value for s in LinkState))
    rows = store.query(repo.SCHEDULE, repo.schedule_pk(ws, user), row_key_from=repo.BOOKING_PREFIX,
                       row_key_to=repo.BOOKING_PREFIX[:-1] + "}")
    out = []
    for e in rows:
        start = str(e.get("start_utc") or "")
        if lo is not None and start < iso_utc(lo):
            continue
        if hi is not None and start >= iso_utc(hi):
            continue
        if link_status and e.get("link_state") != link_status:
            continue
        out.append(admin_view(e))
    out.sort(key=lambda v: str(v.get("start") or ""))
    return {"workspace": ws, "user": user, "bookings": out[:MAX_LIST], "truncated": len(out) > MAX_LIST}


def find_booking(store: EntityStore, ws: str, booking_id: str) -> Entity:
    """The booking row of ``booking_id`` in workspace ``ws`` (404 when there is none)."""
    check_id("workspace", ws)
    if not isinstance(booking_id, str) or not _BOOKING_ID.match(booking_id):
        raise ValidationError("id", "must be a booking id (32 hexadecimal characters)")
    require_workspace(store, ws)
    for row in store.query(workspaces_repo.USERS, ws, select=["RowKey"]):
        found = store.get(repo.SCHEDULE, repo.schedule_pk(ws, str(row["RowKey"])), repo.booking_rk(booking_id))
        if found is not None:
            return found
    raise NotFound("no such booking in this workspace")


def get_admin_booking(store: EntityStore, ws: str, booking_id: str) -> dict[str, Any]:
    """``GET /api/workspaces/{ws}/bookings/{id}``."""
    return admin_view(find_booking(store, ws, booking_id))


__all__ = ["admin_view", "find_booking", "get_admin_booking", "list_host_bookings"]
