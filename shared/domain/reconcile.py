"""The reconciler's decisions (rules 16-17), pure: desired state vs recorded state -> the fewest actions.

A booking's *desired* state (rule 17): while it is confirmed and upcoming, a Teams location has exactly
one live meeting organized by the host's connected account, and a linked Microsoft calendar holds an
event with the current times; a cancelled booking has no live meeting and no live event. Its *recorded*
state is what the booking row says was done (``meeting_url``, ``graph_event_id``, ``online_meeting_id``,
``graph_synced_revision``, ``graph_cancelled``, ``organizer_oid/tid``). :func:`decide` compares the two
and names the actions, in the order they must run; the use case (``shared.usecases.reconcile``) runs
them against Graph.

Transient failures back off (:func:`next_attempt_at`): 1 minute, doubling, at most 1 hour, and never
past the booking's start (rule 16). The time-ordered index of due work (:func:`due_row_key`) lets the
sweep read only what is due.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from shared.domain import google_events, participants
from shared.domain.meeting_plan import ConnectionView, plan_create, static_url, wants_dynamic_link
from shared.domain.model import BookingStatus, LinkState
from shared.domain.stored_values import stored_instant, stored_int

#: First retry delay after a transient failure; each further one doubles it ...
RETRY_FIRST_DELAY = timedelta(minutes=1)
#: ... up to this.
RETRY_MAX_DELAY = timedelta(hours=1)
#: The last attempt is scheduled at least this long before the booking starts.
RETRY_BEFORE_START = timedelta(minutes=1)

#: Table of due work (retries, sync repairs): PK :data:`DUE_PK`, RK ``{due_at}|{ws}|{host}|{booking_id}``.
DUE_TABLE = "reconciledue"
DUE_PK = "due"


class Action(str, Enum):
    """One step towards the desired state."""

    CANCEL = "cancel"            # cancel/delete the live event and meeting of a cancelled booking
    CREATE = "create"            # the link (and the event in a linked calendar) a booking still lacks
    SYNC_TIMES = "sync_times"    # move the event / meeting to the booking's current times
    EXPIRE = "expire"            # the start passed before the link could be made: record why
    REPLACE = "replace"          # the meeting's organizer is no longer the host's Teams account (rule 18)
    GOOGLE = "google"            # the event in a Google member's calendar (and its Meet link) lags (rule 28)
    PARTICIPANTS = "participants"  # a collective co-host's own event is behind (rule 20): always last


@dataclass(frozen=True)
class Decision:
    """The actions :func:`decide` chose (empty: the booking has converged) and an id-free reason."""

    actions: tuple[Action, ...]
    reason: str

    @property
    def converged(self) -> bool:
        """True when nothing is left to do."""
        return not self.actions


def has_graph_objects(booking: Mapping[str, Any]) -> bool:
    """True when Graph holds an event or an online meeting of the booking."""
    return bool(booking.get("graph_event_id") or booking.get("online_meeting_id"))


def organizer_replaced(booking: Mapping[str, Any], teams: ConnectionView | None) -> bool:
    """True when the booking's Teams meeting belongs to an account other than the host's connected Teams
    account (both known): it must move to the new account (rule 18)."""
    if not booking.get("meeting_url") or str(booking.get("link_state") or "") != LinkState.CREATED.value:
        return False
    oid, tid = str(booking.get("organizer_oid") or ""), str(booking.get("organizer_tid") or "")
    if teams is None or not teams.connected or not oid or not tid or not teams.account_oid or not teams.account_tid:
        return False
    return (oid, tid) != (teams.account_oid, teams.account_tid)


def orphans_with(orphans_json: Any, orphan: Mapping[str, Any]) -> str:
    """``orphans_json`` with one more meeting left under a previous organizer (for a person to clean up)."""
    import json

    try:
        entries = json.loads(str(orphans_json or "[]"))
    except ValueError:
        entries = []
    if not isinstance(entries, list):
        entries = []
    entries.append(dict(orphan))
    return json.dumps(entries[-HISTORY_LIMIT:], separators=(",", ":"))


def times_behind(booking: Mapping[str, Any]) -> bool:
    """True when Graph objects exist and were written for an older revision than the booking's."""
    return has_graph_objects(booking) and stored_int(booking.get("graph_synced_revision"), -1) < stored_int(
        booking.get("revision"), 0)


def decide(booking: Mapping[str, Any], teams: ConnectionView | None, calendar: ConnectionView | None,
           now: datetime, *, retry_failed: bool = False,
           cohosts: Mapping[str, ConnectionView | None] | None = None) -> Decision:
    """What the booking needs now (see the module doc); ``teams``/``calendar`` are the host's connections,
    ``cohosts`` a collective booking's co-hosts' calendar connections (``None``: not read, the recorded
    participant state alone decides; ``shared.domain.participants``).

    A ``failed`` booking (a permanent cause) is tried again only with ``retry_failed`` (a manual repair, a
    reconnect: the cause may be fixed now); otherwise it waits for a person."""
    decision = _decide_host(booking, teams, calendar, now, retry_failed=retry_failed)
    if not participants.needs_work(booking, cohosts, now):
        return decision
    actions = decision.actions + (Action.PARTICIPANTS,)
    return Decision(actions, "+".join(a.value for a in actions))


def _decide_host(booking: Mapping[str, Any], teams: ConnectionView | None, calendar: ConnectionView | None,
                 now: datetime, *, retry_failed: bool) -> Decision:
    google = (Action.GOOGLE,) if google_events.needs_work(booking, now) else ()
    calendar = google_events.outlook_calendar(booking, calendar)
    if str(booking.get("status") or "") == BookingStatus.CANCELLED.value:
        if has_graph_objects(booking) and not booking.get("graph_cancelled"):
            return Decision((Action.CANCEL, *google), "cancelled: the meeting is still live")
        return Decision(google, "cancelled: the Google event is still live" if google else "cancelled")
    start = stored_instant(booking.get("start_utc"))
    if start is None or start <= now:
        state = str(booking.get("link_state") or "")
        if state in (LinkState.PENDING.value, LinkState.RETRYING.value):
            return Decision((Action.EXPIRE,), "past: no link was made in time")
        return Decision((), "past")
    if organizer_replaced(booking, teams):
        return Decision((Action.REPLACE,), "organizer replaced")
    actions: list[Action] = []
    plan = plan_create(booking, teams, calendar)
    failed = str(booking.get("link_state") or "") == LinkState.FAILED.value
    wants_link = wants_dynamic_link(booking) and (retry_failed or not failed)
    if (wants_link or plan.write_event or plan.update_event_link
            or (static_url(booking) and not booking.get("meeting_url"))):
        actions.append(Action.CREATE)
    if times_behind(booking):
        actions.append(Action.SYNC_TIMES)
    actions.extend(google)
    if not actions:
        return Decision((), "converged")
    return Decision(tuple(actions), "+".join(a.value for a in actions))


# ------------------------------------------------------------------------------ back-off
def retry_delay(failures: int) -> timedelta:
    """The wait after the ``failures``-th failed attempt in a row (1-based): 1, 2, 4, ... minutes, at most 1 h."""
    n = max(1, failures)
    if n > 12:
        return RETRY_MAX_DELAY
    return min(RETRY_MAX_DELAY, RETRY_FIRST_DELAY * (1 << (n - 1)))


def next_attempt_at(failures: int, now: datetime, start: datetime | None) -> datetime | None:
    """When to try again after the ``failures``-th failure; ``None`` when the booking starts before that."""
    due = now + retry_delay(failures)
    if start is None:
        return due
    latest = start - RETRY_BEFORE_START
    if due > latest:
        due = latest
    return due if due > now else None


# ------------------------------------------------------------------------------ the due index
def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def due_row_key(due_at: datetime | str, workspace: str, host: str, booking_id: str) -> str:
    """RowKey of a booking's row in :data:`DUE_TABLE` (ordered by due time)."""
    stamp = due_at if isinstance(due_at, str) else _iso(due_at)
    return f"{stamp}|{workspace}|{host}|{booking_id}"


@dataclass(frozen=True)
class DueRow:
    """A parsed :data:`DUE_TABLE` row."""

    row_key: str
    due_at: str
    workspace: str
    host: str
    booking_id: str
    revision: int = 0
    enqueued_at: str | None = None
    etag: str | None = None

    @classmethod
    def from_entity(cls, e: Mapping[str, Any]) -> DueRow | None:
        """``None`` when the RowKey is not ``{due_at}|{ws}|{host}|{booking_id}``."""
        rk = str(e.get("RowKey") or "")
        parts = rk.split("|")
        if len(parts) != 4 or not all(parts) or stored_instant(parts[0]) is None:
            return None
        return cls(rk, parts[0], parts[1], parts[2], parts[3], stored_int(e.get("revision"), 0),
                   str(e["enqueued_at"]) if e.get("enqueued_at") else None, e.get("_etag"))

    def recently_enqueued(self, now: datetime, after: timedelta) -> bool:
        """True when a sweep enqueued it less than ``after`` ago (left to the worker)."""
        at = stored_instant(self.enqueued_at)
        return at is not None and now - at < after


def due_entity(due_at: datetime, workspace: str, host: str, booking_id: str, revision: int) -> dict[str, Any]:
    """The :data:`DUE_TABLE` row of a booking whose next attempt is at ``due_at``."""
    return {"PartitionKey": DUE_PK, "RowKey": due_row_key(due_at, workspace, host, booking_id),
            "workspace": workspace, "host": host, "booking_id": booking_id, "revision": int(revision)}


__all__ = [
    "Action", "history_with", "DUE_PK", "DUE_TABLE", "Decision", "DueRow", "RETRY_FIRST_DELAY", "RETRY_MAX_DELAY",
    "decide", "due_entity", "due_row_key", "has_graph_objects", "next_attempt_at", "retry_delay", "times_behind",
]


# ------------------------------------------------------------------------------ failures and repairs
#: Why retries ended: the booking starts before the next attempt could run.
REASON_TOO_LATE = "The meeting time came before Microsoft 365 answered again."

_RETRY_FIELDS = ("next_attempt_at", "retry_failures")


def failure_changes(booking: Mapping[str, Any], reason: str, now: datetime, *, link: bool,
                    field: str = "graph_sync_error") -> dict[str, Any]:
    """The booking fields after a transient failure (rule 16): ``retrying`` (``link``) or a sync error in
    ``field`` (``graph_sync_error`` or ``google_sync_error``), with ``next_attempt_at`` and the failure
    count; past the last possible attempt, ``failed`` / the error alone."""
    failures = stored_int(booking.get("retry_failures"), 0) + 1
    due = next_attempt_at(failures, now, stored_instant(booking.get("start_utc")))
    if due is None:
        changes: dict[str, Any] = {"next_attempt_at": None, "retry_failures": None}
        if link:
            changes.update(link_state=LinkState.FAILED.value, link_reason=f"{REASON_TOO_LATE} {reason}")
        else:
            changes[field] = f"{REASON_TOO_LATE} {reason}"
        return changes
    changes = {"next_attempt_at": _iso(due), "retry_failures": failures}
    if link:
        changes.update(link_state=LinkState.RETRYING.value, link_reason=reason)
    else:
        changes[field] = reason
    return changes


def repaired_changes(booking: Mapping[str, Any]) -> dict[str, Any] | None:
    """Fields to clear once nothing is retried any more (``None`` when none is set)."""
    if any(booking.get(k) is not None for k in _RETRY_FIELDS):
        return {k: None for k in _RETRY_FIELDS}
    return None


def still_retrying(booking: Mapping[str, Any]) -> bool:
    """True when the booking waits for a retry: ``retrying``, or a sync error with a next attempt (a cancelled
    booking waits only while its live meeting or event is still to be cancelled)."""
    if (participants.waiting(booking) or booking.get("pending_notices")) and booking.get("next_attempt_at"):
        return True  # a co-host's event (rule 20), or messages the queue did not take (an outbox to flush)
    if str(booking.get("status") or "") == BookingStatus.CANCELLED.value:
        live = has_graph_objects(booking) and not booking.get("graph_cancelled")
        return bool(live and booking.get("next_attempt_at"))
    if str(booking.get("link_state") or "") == LinkState.RETRYING.value:
        return True
    return bool((booking.get("graph_sync_error") or booking.get("google_sync_error"))
                and booking.get("next_attempt_at"))


def own_due_row_key(booking: Mapping[str, Any]) -> str | None:
    """The :data:`DUE_TABLE` RowKey of the booking's scheduled attempt (``None`` when none is scheduled)."""
    due = str(booking.get("next_attempt_at") or "")
    ws, host, bid = (str(booking.get(k) or "") for k in ("workspace", "host", "id"))
    if not due or not ws or not host or not bid:
        return None
    return due_row_key(due, ws, host, bid)


# ------------------------------------------------------------------------------ history
#: Entries of a booking's history kept (the oldest are dropped).
HISTORY_LIMIT = 20


def history_with(history_json: Any, at: str, state: str, cause: str) -> str:
    """``history_json`` with one more entry ``{at, state, cause}`` (at most :data:`HISTORY_LIMIT` kept)."""
    import json

    try:
        entries = json.loads(str(history_json or "[]"))
    except ValueError:
        entries = []
    if not isinstance(entries, list):
        entries = []
    entries.append({"at": at, "state": state, "cause": cause[:300]})
    return json.dumps(entries[-HISTORY_LIMIT:], separators=(",", ":"))
