"""The meeting worker: Teams links and Outlook events through Microsoft Graph, exactly once.

Messages on the ``meetings`` queue are wake-ups: ``{"op": "create"|"reschedule"|"cancel", "workspace",
"host", "booking_id", "revision", "attempt"?}``. The worker reads the booking and brings Graph in line
with its *current* state, so redelivery, reordering and crashes are harmless:

- **create** gives a Teams booking its link (one event call for a same-account Outlook calendar, else
  ``createOrGet`` of an online meeting), writes the event in a linked Microsoft calendar, and tells the
  communications worker. Graph objects are keyed by the booking (``transactionId`` / ``externalId``),
  and the stored state is checked first, so a repeat never makes a second meeting. A backfill sweep's
  ``create`` (``backfill_row``: the index row it came from) is for a candidate only
  (``shared.domain.backfill.candidate_verdict``): anything else is acknowledged untouched and its
  ``backfillindex`` rows are deleted (the sweep decides from the index row alone).
- **reschedule** PATCHes the event / online meeting to the booking's current times when Graph is
  behind (``graph_synced_revision < revision``). An older message still moves Graph to the *current*
  times (never to the message's), a duplicate finds Graph in sync and does nothing.
- **cancel** cancels the event (Outlook tells the attendees) or deletes it / the online meeting once.

Messages for the communications queue are written to the booking first (``pending_notices``, an
outbox in the same ETag-conditional write as the state they announce), then sent, then cleared; a crash
in between re-sends the same kind+revision, which the communications worker de-duplicates.

Failures: 429/503/504 re-queue a copy with ``attempt+1`` and a visibility delay (never a sleep), up to
``max_attempts``; 401 refreshes the token once; a refresh failure or no connection leaves the booking
``awaiting_connection`` for the backfill sweep; 403 on Teams marks it ``failed`` and the connection
``teams_unavailable``; other transient errors are raised for the host to retry, and the poison handler
(:func:`handle_poison_message`) explains the booking as ``failed``.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from shared.domain import backfill as backfill_rules
from shared.domain.meeting_plan import (
    CANCEL_COMMENT,
    ConnectionView,
    CreatePlan,
    LinkSource,
    calendar_event_body,
    event_link_patch,
    event_times_patch,
    event_with_teams_body,
    join_url_of_event,
    join_url_of_online_meeting,
    online_meeting_body,
    online_meeting_times_patch,
    plan_create,
    static_url,
    wants_dynamic_link,
)
from shared.domain.model import BookingStatus, ConnectionKind, LinkState
from shared.errors import (
    ConcurrencyConflict,
    GraphRejected,
    NotConnected,
    NotFound,
    ReauthRequired,
    TeamsUnavailable,
    Throttled,
    TransientError,
)
from shared.ports import Clock, Entity, EntityStore, MessageQueue, iso_utc, parse_iso_utc
from shared.repositories import bookings as bookings_repo
from shared.usecases import booking_events, queue_messages
from shared.usecases.queue_messages import BookingMessage, WorkerOutcome, is_json_int, json_object, parse_envelope

log = logging.getLogger("bookbridge.meetings")

MEETINGS_QUEUE = booking_events.MEETINGS_QUEUE
MEETINGS_POISON_QUEUE = "meetings-poison"
COMMUNICATIONS_QUEUE = booking_events.COMMUNICATIONS_QUEUE
CALENDARS_TABLE = "calendars"

#: Throttled attempts (429/503/504) before a booking is given up as ``failed``.
MAX_ATTEMPTS = 8
#: ``extensions.queues.maxDequeueCount`` of host.json: failed deliveries before ``meetings-poison``.
HOST_MAX_DEQUEUE_COUNT = 5
#: Longest visibility delay of a re-queued copy (seconds).
MAX_DELAY_SECONDS = 300
#: ETag races tolerated on one booking write before giving up (raised as a transient error).
MAX_WRITE_RACES = 5

TEAMS = ConnectionKind.TEAMS.value
CALENDAR = ConnectionKind.MICROSOFT_CALENDAR.value
OPS = ("create", "reschedule", "cancel")
#: Longest ``backfill_row`` accepted (a timestamp, ``|`` and a booking id).
MAX_BACKFILL_ROW = 200

# Reasons a host can act on (stored in ``link_reason`` / ``graph_sync_error``; shown to people).
REASON_NOT_CONNECTED = ("Microsoft Teams is not connected for this host. Connect Teams and the link will be "
                        "added to upcoming bookings automatically.")
REASON_REAUTH = ("The Microsoft Teams connection must be renewed (sign in again). The link will be added "
                 "automatically once it is reconnected.")
REASON_TEAMS_UNAVAILABLE = ("The Microsoft account connected for Teams cannot create Teams meetings: it has no "
                            "Teams licence, or its organisation does not allow Teams meetings. Ask your "
                            "Microsoft 365 administrator, or connect another work account.")
REASON_NO_JOIN_URL_EVENT = ("Outlook created the calendar event but returned no Teams join link: check that "
                            "Microsoft Teams is allowed as the online meeting provider of the linked Outlook "
                            "calendar and that the account has a Teams licence.")
REASON_NO_JOIN_URL_MEETING = "Microsoft Teams created the meeting but returned no join link."
REASON_PAST = "The meeting time passed before a link could be created."


def _reason_throttled(attempts: int) -> str:
    return (f"Microsoft Graph kept asking to slow down (throttling) and the meeting could not be created "
            f"after {attempts} attempts. Retry the booking later.")


def _reason_poison(op: str, attempts: int, *, event_only: bool = False) -> str:
    if op == "create" and not event_only:
        return (f"The meeting could not be created after {attempts} attempts (Microsoft Graph or storage did "
                f"not answer). Retry the booking later, or reconnect Teams.")
    what = {"create": "written to the linked calendar", "reschedule": "moved to the new time",
            "cancel": "cancelled"}.get(op, "updated")
    return f"The calendar event or Teams meeting could not be {what} after {attempts} attempts."


def _reason_rejected(exc: GraphRejected) -> str:
    code = exc.graph_code or f"HTTP {exc.status}"
    return f"Microsoft Graph refused to create the meeting ({code}). Contact support with the booking id."


# ================================================================================ ports
class AccessTokenPort(Protocol):
    """An access token of a host's connection; ``force_refresh`` skips the cache (after a Graph 401).

    Raises ``ReauthRequired`` (refresh failed: the connection is now ``needs_reauth``) or
    ``NotConnected`` (no ``connected`` connection of that kind).
    """

    def __call__(self, workspace: str, user: str, kind: str, *, force_refresh: bool = False) -> str: ...


class ConnectionPort(Protocol):
    """A connection row (``connections`` table) or ``None``."""

    def __call__(self, workspace: str, user: str, kind: str) -> dict[str, Any] | None: ...


class TeamsUnavailablePort(Protocol):
    """Record on the host's ``teams`` connection that the account cannot create Teams meetings."""

    def __call__(self, workspace: str, user: str, reason: str) -> None: ...


class MeetingsGraph(Protocol):
    """The Graph calls of the worker (``shared.adapters.graph_events.GraphEvents``)."""

    def create_event(self, token: str, body: dict[str, Any], *, calendar_id: str = "") -> dict[str, Any]: ...
    def get_event_online_meeting(self, token: str, event_id: str) -> dict[str, Any]: ...
    def update_event(self, token: str, event_id: str, patch: dict[str, Any]) -> dict[str, Any]: ...
    def cancel_event(self, token: str, event_id: str, comment: str) -> bool: ...
    def delete_event(self, token: str, event_id: str) -> bool: ...
    def create_or_get_online_meeting(self, token: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def update_online_meeting(self, token: str, meeting_id: str, patch: dict[str, Any]) -> dict[str, Any]: ...
    def delete_online_meeting(self, token: str, meeting_id: str) -> bool: ...


class BookingRepository(Protocol):
    """Point read and ETag-conditional replace of a booking entity (table ``schedule``)."""

    def load(self, workspace: str, host: str, booking_id: str) -> Entity | None: ...
    def save(self, booking: Entity) -> str:
        """Replace the booking if its ``_etag`` still matches; returns the new ETag.

        Raises ``ConcurrencyConflict`` when it changed since it was read.
        """
        ...


class TableBookings:
    """:class:`BookingRepository` over an ``EntityStore``, with the keys of ``shared.repositories.bookings``.

    The worker keeps the raw entity (a dict) so every field it does not know (and those it adds) is
    written back unchanged by its ETag-conditional replace.
    """

    def __init__(self, store: EntityStore) -> None:
        self._store = store

    def load(self, workspace: str, host: str, booking_id: str) -> Entity | None:
        return self._store.get(bookings_repo.SCHEDULE, bookings_repo.schedule_pk(workspace, host),
                               bookings_repo.booking_rk(booking_id))

    def save(self, booking: Entity) -> str:
        return self._store.update(bookings_repo.SCHEDULE, booking, booking.get("_etag"), merge=False)


def default_backoff(attempt: int, *, cap: float = MAX_DELAY_SECONDS) -> float:
    """Exponential back-off with jitter for ``attempt`` (1-based): 1-2 s, 2-4 s, 4-8 s, ..."""
    base = min(cap, 2.0 ** max(0, attempt - 1) * 2.0)
    return base / 2 + random.uniform(0, base / 2)


@dataclass
class MeetingDeps:
    """Everything the worker needs, passed in (``functions/meetings_worker.py`` builds the real ones)."""

    store: EntityStore
    queue: MessageQueue
    clock: Clock
    graph: MeetingsGraph
    access_token: AccessTokenPort
    connection: ConnectionPort
    mark_teams_unavailable: TeamsUnavailablePort
    bookings: BookingRepository | None = None
    max_attempts: int = MAX_ATTEMPTS
    backoff: Callable[[int], float] = default_backoff

    def __post_init__(self) -> None:
        if self.bookings is None:
            self.bookings = TableBookings(self.store)


# ================================================================================ messages
@dataclass(frozen=True)
class MeetingMessage(BookingMessage):
    """A parsed ``meetings`` queue message: the shared envelope and its ``op``."""

    op: str
    #: The ``backfillindex`` RowKey (``{start_utc}|{booking_id}``) a backfill sweep's ``create`` came from.
    backfill_row: str | None = None

    @classmethod
    def parse(cls, data: Any) -> "MeetingMessage":
        """Validate a message; ``ValueError`` names what is wrong."""
        data = json_object(data)
        op = data.get("op")
        if op not in OPS:
            raise ValueError("op must be create, reschedule or cancel")
        envelope = parse_envelope(data)
        row = data.get("backfill_row")
        if row is not None:
            start, _, booking_id = row.partition("|") if isinstance(row, str) else ("", "", "")
            if op != "create" or not start or booking_id != envelope["booking_id"] or len(row) > MAX_BACKFILL_ROW:
                raise ValueError("backfill_row must be '{start_utc}|{booking_id}' of a create")
        return cls(op=op, backfill_row=row, **envelope)

    def to_dict(self) -> dict[str, Any]:
        """The queue form (``attempt`` only after the first)."""
        return self.queue_dict({"op": self.op},
                               {"backfill_row": self.backfill_row} if self.backfill_row is not None else None)


@dataclass(frozen=True)
class Outcome(WorkerOutcome):
    """What one message did, and the booking's ``link_state`` after it."""

    link_state: str | None = None


# ================================================================================ helpers
def _rev(booking: Mapping[str, Any]) -> int:
    try:
        return int(booking.get("revision") or 0)
    except (TypeError, ValueError):
        return 0


def _synced(booking: Mapping[str, Any]) -> int:
    value = booking.get("graph_synced_revision")
    return int(value) if is_json_int(value) else -1


def _has_graph_objects(booking: Mapping[str, Any]) -> bool:
    return bool(booking.get("graph_event_id") or booking.get("online_meeting_id"))


def _own_backfill_rk(booking: Mapping[str, Any], booking_id: str) -> str | None:
    """The booking's ``backfillindex`` RowKey (as :func:`bookings_repo.backfill_entity` writes it); ``None``
    when its start is unreadable."""
    try:
        start = parse_iso_utc(str(booking.get("start_utc") or ""))
    except ValueError:
        return None
    return bookings_repo.backfill_rk(start, booking_id)


def _is_cancelled(booking: Mapping[str, Any]) -> bool:
    return str(booking.get("status") or "") == BookingStatus.CANCELLED.value


def _kinds(value: Any) -> list[str]:
    return [k for k in str(value or "").split(",") if k]


def _merge_kinds(*groups: list[str]) -> str | None:
    seen: list[str] = []
    for group in groups:
        for kind in group:
            if kind not in seen:
                seen.append(kind)
    return ",".join(seen) or None


def _confirmation_due(booking: Mapping[str, Any]) -> bool:
    """True when the invitee's confirmation has not gone out yet.

    Intake sends the confirmation itself for every state but ``pending`` (``LinkState.is_final_for_now``);
    a ``pending`` booking's confirmation waits for this worker.
    """
    return (str(booking.get("link_state") or "") == LinkState.PENDING.value
            and booking.get("confirmation_enqueued_revision") is None
            and "confirmation" not in _kinds(booking.get("pending_notices")))


def _notices_for(current: Mapping[str, Any], new_state: str) -> list[str]:
    """The communications messages a link-state change announces (from ``current``, as stored now)."""
    prior = str(current.get("link_state") or "")
    due = _confirmation_due(current)
    if new_state in (LinkState.CREATED.value, LinkState.STATIC.value):
        if due:
            return ["confirmation"]
        if prior in (LinkState.AWAITING_CONNECTION.value, LinkState.FAILED.value) and new_state == LinkState.CREATED.value:
            return ["link_update"]
        return []
    if new_state in (LinkState.AWAITING_CONNECTION.value, LinkState.FAILED.value):
        kinds = ["confirmation"] if due else []
        if prior != new_state:  # the host is told once per state, not once per attempt
            kinds.append("host_notice")
        return kinds
    return ["confirmation"] if due else []


class _Worker:
    """One message's worth of work (holds the deps, the message and the current booking)."""

    def __init__(self, deps: MeetingDeps, msg: MeetingMessage) -> None:
        self.deps = deps
        self.msg = msg
        self.ws, self.host, self.booking_id = msg.workspace, msg.host, msg.booking_id
        self._calendar_name: str | None = None

    # ------------------------------------------------------------------ storage
    def load(self) -> Entity | None:
        assert self.deps.bookings is not None
        return self.deps.bookings.load(self.ws, self.host, self.booking_id)

    def apply(self, booking: Entity, compute: Callable[[Entity], dict[str, Any] | None]) -> Entity:
        """Write ``compute(current)`` onto the booking, ETag-conditional, re-reading after a lost race."""
        assert self.deps.bookings is not None
        current = booking
        for _ in range(MAX_WRITE_RACES):
            changes = compute(current)
            if not changes:
                return current
            updated = {**current, **changes, "updated_at": iso_utc(self.deps.clock.now())}
            try:
                etag = self.deps.bookings.save(updated)
            except ConcurrencyConflict:
                fresh = self.load()
                if fresh is None:
                    raise NotFound("the booking was deleted") from None
                current = fresh
                continue
            updated["_etag"] = etag
            return updated
        raise ConcurrencyConflict("the booking kept changing while the meeting worker wrote it")

    def flush_outbox(self, booking: Entity) -> Entity:
        """Send the communications messages recorded on the booking, then clear them."""
        kinds = _kinds(booking.get("pending_notices"))
        if not kinds:
            return booking
        revision = _rev(booking)
        for kind in kinds:
            booking_events.send_communication(self.deps.queue, kind, self.ws, self.host, self.booking_id, revision)
        log.info("meetings: notices %s queued ws=%s booking=%s rev=%s", ",".join(kinds), self.ws,
                 self.booking_id, revision)

        def clear(current: Entity) -> dict[str, Any] | None:
            left = [k for k in _kinds(current.get("pending_notices")) if k not in kinds]
            changes: dict[str, Any] = {"pending_notices": ",".join(left) or None}
            rev = revision  # the revision the messages carried
            for kind in kinds:
                if kind == "confirmation":
                    changes["confirmation_enqueued_revision"] = rev
                if kind == "host_notice":
                    changes["host_notice_revision"] = rev
                if kind == "link_update" or (kind == "confirmation" and current.get("meeting_url")):
                    changes["link_ready_notified_kind"] = kind
                    changes["link_ready_notified_revision"] = rev
            return changes

        return self.apply(booking, clear)

    def calendar_name(self, booking: Mapping[str, Any]) -> str:
        """The calendar's name for the subject (stored on the booking; else one point read, cached)."""
        if self._calendar_name is None:
            name = str(booking.get("calendar_name") or "")
            calendar = str(booking.get("calendar") or "")
            if not name and calendar:
                row = self.deps.store.get(CALENDARS_TABLE, self.ws, calendar)
                name = str((row or {}).get("name") or "")
            self._calendar_name = name or str(booking.get("calendar_slug") or "")
        return self._calendar_name

    def index_awaiting(self, booking: Mapping[str, Any]) -> None:
        """Upsert the ``backfillindex`` row the sweep reads (idempotent; shape of the bookings repository)."""
        bookings_repo.index_awaiting(self.deps.store, bookings_repo.booking_from_entity(booking))

    def unindex_awaiting(self, booking: Mapping[str, Any]) -> None:
        """Remove the ``backfillindex`` row of a booking that got its link (absent is fine)."""
        row = bookings_repo.backfill_entity(bookings_repo.booking_from_entity(booking))
        self.deps.store.delete(bookings_repo.BACKFILL, row["PartitionKey"], row["RowKey"])

    # ------------------------------------------------------------------ Graph with one silent refresh
    def call(self, kind: str, fn: Callable[[str], Any]) -> Any:
        """Run ``fn(token)``; after a 401, refresh the token once (forced) and run it again."""
        token = self.deps.access_token(self.ws, self.host, kind)
        try:
            return fn(token)
        except TransientError as exc:
            # ``GraphUnauthorized`` (an adapter class) is recognised by its code: use cases import no adapters.
            if getattr(exc, "code", "") != "graph_unauthorized":
                raise
            log.info("meetings: graph 401, refreshing the %s token once ws=%s booking=%s", kind, self.ws,
                     self.booking_id)
            token = self.deps.access_token(self.ws, self.host, kind, force_refresh=True)
            return fn(token)

    def drop_backfill_rows(self, booking: Mapping[str, Any] | None) -> None:
        """Delete, in this host's ``backfillindex`` partition only, the row a backfill ``create`` came from
        and the booking's own row (repository keys; absent is fine)."""
        pk = bookings_repo.schedule_pk(self.ws, self.host)
        keys = {self.msg.backfill_row} if self.msg.backfill_row else set()
        own = _own_backfill_rk(booking, self.booking_id) if booking is not None else None
        if own:
            keys.add(own)
        for rk in sorted(keys):
            self.deps.store.delete(bookings_repo.BACKFILL, pk, rk)

    def backfill_gate(self, booking: Entity) -> Outcome | None:
        """A backfill sweep's ``create``: the sweep decided from the index row alone, so the booking decides
        here (``shared.domain.backfill.candidate_verdict``). Not a candidate (cancelled, past, linked, failed,
        not Teams, another host's, ...): its index rows go, the booking is not touched. A candidate found
        through an outdated row (moved): that row goes, the booking's own row carries it."""
        verdict = backfill_rules.candidate_verdict(booking, workspace=self.ws, host=self.host,
                                                   now=self.deps.clock.now())
        if verdict.decision is not backfill_rules.Decision.ENQUEUE:
            self.drop_backfill_rows(booking)
            log.info("meetings: backfill create not needed (%s), index row removed ws=%s booking=%s",
                     verdict.reason, self.ws, self.booking_id)
            return Outcome("skipped", f"not a backfill candidate: {verdict.reason}", booking.get("link_state"))
        if self.msg.backfill_row and self.msg.backfill_row != _own_backfill_rk(booking, self.booking_id):
            self.deps.store.delete(bookings_repo.BACKFILL, bookings_repo.schedule_pk(self.ws, self.host),
                                   self.msg.backfill_row)
        return None

    # ================================================================== create
    def create(self, booking: Entity) -> Outcome:
        if self.msg.backfill_row is not None:
            gated = self.backfill_gate(booking)
            if gated is not None:
                return gated
        if _is_cancelled(booking):
            if _has_graph_objects(booking) and not booking.get("graph_cancelled"):
                return self.cancel_graph(booking)
            return Outcome("skipped", "booking is cancelled", booking.get("link_state"))
        now = self.deps.clock.now()
        start = parse_iso_utc(str(booking["start_utc"]))
        if start <= now:
            if str(booking.get("link_state") or "") == LinkState.PENDING.value:
                booking = self.apply(booking, lambda cur: (
                    {"link_state": LinkState.FAILED.value, "link_reason": REASON_PAST}
                    if cur.get("link_state") == LinkState.PENDING.value else None))
            return Outcome("skipped", "booking start is past", booking.get("link_state"))
        teams = ConnectionView.from_row(self.deps.connection(self.ws, self.host, TEAMS))
        calendar = ConnectionView.from_row(self.deps.connection(self.ws, self.host, CALENDAR))
        return self.run_create(booking, teams, calendar)

    def run_create(self, booking: Entity, teams: ConnectionView | None,
                   calendar: ConnectionView | None) -> Outcome:
        plan = plan_create(booking, teams, calendar)
        if plan.nothing_to_do and plan.link_source is LinkSource.NONE:
            return Outcome("skipped", "nothing to do", booking.get("link_state"))
        snapshot_rev = _rev(booking)

        # 1. the link
        if plan.link_source is LinkSource.EVENT_WITH_TEAMS:
            result = self.link_from_event(booking, plan, calendar)
            if result is None:  # the calendar connection broke: plan again without it
                return self.run_create(booking, teams, None)
        elif plan.link_source is LinkSource.ONLINE_MEETING:
            result = self.link_from_online_meeting(booking, teams)
        elif plan.link_source is LinkSource.NO_CONNECTION:
            reason = REASON_REAUTH if teams is not None and teams.status == "needs_reauth" else REASON_NOT_CONNECTED
            result = {"link_state": LinkState.AWAITING_CONNECTION.value, "link_reason": reason}
        elif plan.link_source is LinkSource.STATIC:
            result = {"link_state": LinkState.STATIC.value, "link_reason": None, "meeting_url": static_url(booking)}
        else:
            result = {}
        booking = self.store_link_result(booking, result, snapshot_rev)
        booking = self.flush_outbox(booking)

        # 2. the event in a linked Microsoft calendar of another account (or without a meeting)
        if plan.write_event or plan.update_event_link:
            booking = self.write_calendar_event(booking, plan)

        # 3. catch up with what happened meanwhile (rescheduled / cancelled during the calls)
        fresh = self.load() or booking
        if _is_cancelled(fresh) and _has_graph_objects(fresh) and not fresh.get("graph_cancelled"):
            self.cancel_graph(fresh)
        elif _has_graph_objects(fresh) and _synced(fresh) < _rev(fresh):
            self.sync_times(fresh)
        state = str(fresh.get("link_state") or "")
        return Outcome(state if result else "event", "create handled", state)

    def link_from_event(self, booking: Entity, plan: CreatePlan,
                        calendar: ConnectionView | None) -> dict[str, Any] | None:
        """Rule 8, same account: ONE ``POST .../events`` with ``isOnlineMeeting``; link = ``onlineMeeting.joinUrl``."""
        body = event_with_teams_body(booking, self.calendar_name(booking))
        try:
            event = self.call(CALENDAR, lambda t: self.deps.graph.create_event(t, body, calendar_id=plan.calendar_id))
        except (ReauthRequired, NotConnected):
            log.info("meetings: calendar connection unusable, using an online meeting ws=%s booking=%s",
                     self.ws, self.booking_id)
            return None
        except GraphRejected as exc:
            return {"link_state": LinkState.FAILED.value, "link_reason": _reason_rejected(exc)}
        event_id = str(event.get("id") or "")
        join = join_url_of_event(event)
        if not join and event_id:
            again = self.call(CALENDAR, lambda t: self.deps.graph.get_event_online_meeting(t, event_id))
            join = join_url_of_event(again)
        result: dict[str, Any] = {
            "graph_event_id": event_id or None,
            "invitation_channel": "outlook",
            "event_carries_link": bool(join),
        }
        if calendar is not None:  # the same account as the Teams connection: the meeting's organizer
            result.update(organizer_oid=calendar.account_oid or None, organizer_tid=calendar.account_tid or None)
        if join:
            result.update(link_state=LinkState.CREATED.value, link_reason=None, meeting_url=join)
        else:
            log.warning("meetings: event without join URL ws=%s booking=%s", self.ws, self.booking_id)
            result.update(link_state=LinkState.FAILED.value, link_reason=REASON_NO_JOIN_URL_EVENT)
        return result

    def link_from_online_meeting(self, booking: Entity, teams: ConnectionView | None) -> dict[str, Any]:
        """``POST /me/onlineMeetings/createOrGet`` with the booking's ``externalId``; link = ``joinWebUrl``."""
        body = online_meeting_body(booking, self.calendar_name(booking))
        try:
            meeting = self.call(TEAMS, lambda t: self.deps.graph.create_or_get_online_meeting(t, body))
        except ReauthRequired:
            return {"link_state": LinkState.AWAITING_CONNECTION.value, "link_reason": REASON_REAUTH}
        except NotConnected:
            return {"link_state": LinkState.AWAITING_CONNECTION.value, "link_reason": REASON_NOT_CONNECTED}
        except TeamsUnavailable:
            self.deps.mark_teams_unavailable(self.ws, self.host, REASON_TEAMS_UNAVAILABLE)
            return {"link_state": LinkState.FAILED.value, "link_reason": REASON_TEAMS_UNAVAILABLE}
        except GraphRejected as exc:
            return {"link_state": LinkState.FAILED.value, "link_reason": _reason_rejected(exc)}
        join = join_url_of_online_meeting(meeting)
        result: dict[str, Any] = {"online_meeting_id": str(meeting.get("id") or "") or None}
        if teams is not None:
            result.update(organizer_oid=teams.account_oid or None, organizer_tid=teams.account_tid or None)
        if join:
            result.update(link_state=LinkState.CREATED.value, link_reason=None, meeting_url=join)
        else:
            result.update(link_state=LinkState.FAILED.value, link_reason=REASON_NO_JOIN_URL_MEETING)
        return result

    def store_link_result(self, booking: Entity, result: dict[str, Any], snapshot_rev: int) -> Entity:
        """Store the link (or why there is none) with its outbox, ETag-conditional."""
        if not result:
            return booking
        new_state = result.get("link_state")
        if new_state == LinkState.AWAITING_CONNECTION.value:
            self.index_awaiting(booking)
        created_ids = any(result.get(k) for k in ("graph_event_id", "online_meeting_id"))

        def compute(current: Entity) -> dict[str, Any] | None:
            changes: dict[str, Any] = {}
            # Graph ids are kept whatever happened meanwhile: a cancel must find them.
            for key in ("graph_event_id", "online_meeting_id", "invitation_channel", "event_carries_link",
                        "organizer_oid", "organizer_tid"):
                if key in result and result[key] is not None and not current.get(key):
                    changes[key] = result[key]
            if created_ids:
                prev = _synced(current)
                changes["graph_synced_revision"] = snapshot_rev if prev < 0 else min(prev, snapshot_rev)
            if current.get("meeting_url"):
                pass  # another delivery stored the link first: keep it
            elif new_state is not None and (new_state != current.get("link_state")
                                            or result.get("link_reason") != current.get("link_reason")
                                            or result.get("meeting_url")):
                changes["link_state"] = new_state
                changes["link_reason"] = result.get("link_reason")
                if result.get("meeting_url"):
                    changes["meeting_url"] = result["meeting_url"]
                notices = _notices_for(current, new_state)
                if notices:
                    changes["pending_notices"] = _merge_kinds(_kinds(current.get("pending_notices")), notices)
            return changes or None

        prior_state = str(booking.get("link_state") or "")
        stored = self.apply(booking, compute)
        if (prior_state in (LinkState.AWAITING_CONNECTION.value, LinkState.FAILED.value)
                and stored.get("link_state") == LinkState.CREATED.value):
            self.unindex_awaiting(stored)
        log.info("meetings: link state %s ws=%s booking=%s", stored.get("link_state"), self.ws, self.booking_id)
        return stored

    def write_calendar_event(self, booking: Entity, plan: CreatePlan) -> Entity:
        """Create the event in the linked calendar (carrying the link, no attendees), or add the link to it."""
        link = str(booking.get("meeting_url") or "")
        teams_link = booking.get("link_state") == LinkState.CREATED.value
        name = self.calendar_name(booking)
        snapshot_rev = _rev(booking)
        try:
            if not booking.get("graph_event_id"):
                body = calendar_event_body(booking, link, teams_link=teams_link, calendar_name=name)
                event = self.call(CALENDAR, lambda t: self.deps.graph.create_event(t, body, calendar_id=plan.calendar_id))
                event_id = str(event.get("id") or "")

                def store_event(current: Entity) -> dict[str, Any] | None:
                    if current.get("graph_event_id") or not event_id:
                        return None
                    prev = _synced(current)
                    return {"graph_event_id": event_id, "invitation_channel": "ics",
                            "event_carries_link": bool(link), "graph_sync_error": None,
                            "graph_synced_revision": snapshot_rev if prev < 0 else min(prev, snapshot_rev)}

                return self.apply(booking, store_event)
            if link and not booking.get("event_carries_link"):
                patch = event_link_patch(booking, link, teams_link=teams_link)
                event_id = str(booking["graph_event_id"])
                self.call(CALENDAR, lambda t: self.deps.graph.update_event(t, event_id, patch))
                return self.apply(booking, lambda cur: {"event_carries_link": True, "graph_sync_error": None})
        except (ReauthRequired, NotConnected):
            return self.note_sync_error(booking, "The linked Microsoft calendar must be reconnected: the booking "
                                                 "was not written to it.")
        except NotFound:
            return self.note_sync_error(booking, "The calendar event of this booking was deleted in Outlook.")
        except GraphRejected as exc:
            return self.note_sync_error(booking, f"Microsoft Graph refused the calendar event "
                                                 f"({exc.graph_code or exc.status}).")
        return booking

    def note_sync_error(self, booking: Entity, reason: str) -> Entity:
        """Record why Graph could not be brought in line (visible to admins)."""
        log.warning("meetings: graph sync problem ws=%s booking=%s", self.ws, self.booking_id)
        return self.apply(booking, lambda cur: None if cur.get("graph_sync_error") == reason
                          else {"graph_sync_error": reason})

    # ================================================================== reschedule
    def reschedule(self, booking: Entity) -> Outcome:
        if _is_cancelled(booking):
            if _has_graph_objects(booking) and not booking.get("graph_cancelled"):
                return self.cancel_graph(booking)
            return Outcome("skipped", "booking is cancelled", booking.get("link_state"))
        if not _has_graph_objects(booking):
            return Outcome("skipped", "no meeting yet: create uses the current times", booking.get("link_state"))
        if _synced(booking) >= _rev(booking):
            return Outcome("stale", "Graph already has the current times", booking.get("link_state"))
        return self.sync_times(booking)

    def sync_times(self, booking: Entity) -> Outcome:
        """PATCH the event / online meeting to the booking's current times (the link is unchanged)."""
        for _ in range(3):
            target = _rev(booking)
            event_id = str(booking.get("graph_event_id") or "")
            meeting_id = str(booking.get("online_meeting_id") or "")
            try:
                if event_id:
                    patch = event_times_patch(booking)
                    self.call(CALENDAR, lambda t: self.deps.graph.update_event(t, event_id, patch))
                if meeting_id:
                    mpatch = online_meeting_times_patch(booking)
                    self.call(TEAMS, lambda t: self.deps.graph.update_online_meeting(t, meeting_id, mpatch))
            except (ReauthRequired, NotConnected):
                booking = self.note_sync_error(booking, "The Microsoft connection must be renewed: the calendar "
                                                        "event or Teams meeting still has the old time.")
                return Outcome("sync_error", "connection", booking.get("link_state"))
            except NotFound:
                booking = self.note_sync_error(booking, "The calendar event or Teams meeting of this booking "
                                                        "was deleted in Microsoft 365.")
                return Outcome("sync_error", "gone", booking.get("link_state"))
            except (GraphRejected, TeamsUnavailable) as exc:
                booking = self.note_sync_error(booking, f"Microsoft Graph refused to move the meeting "
                                                        f"({getattr(exc, 'graph_code', '') or exc.code}).")
                return Outcome("sync_error", "rejected", booking.get("link_state"))
            booking = self.apply(booking, lambda cur: None if _synced(cur) >= target
                                 else {"graph_synced_revision": target, "graph_sync_error": None})
            log.info("meetings: times synced ws=%s booking=%s rev=%s", self.ws, self.booking_id, target)
            if _rev(booking) <= target or _is_cancelled(booking):
                break
        if _is_cancelled(booking) and not booking.get("graph_cancelled"):
            return self.cancel_graph(booking)
        return Outcome("rescheduled", "times synced", booking.get("link_state"))

    # ================================================================== cancel
    def cancel(self, booking: Entity) -> Outcome:
        if not _is_cancelled(booking):
            return Outcome("stale", "booking is not cancelled", booking.get("link_state"))
        if booking.get("graph_cancelled"):
            return Outcome("stale", "already cancelled in Graph", booking.get("link_state"))
        if not _has_graph_objects(booking):
            return Outcome("skipped", "nothing to cancel", booking.get("link_state"))
        return self.cancel_graph(booking)

    def cancel_graph(self, booking: Entity) -> Outcome:
        """Cancel the event (Outlook notifies attendees) or delete it; delete the online meeting. 404 = done."""
        event_id = str(booking.get("graph_event_id") or "")
        meeting_id = str(booking.get("online_meeting_id") or "")
        try:
            if event_id:
                if booking.get("invitation_channel") == "outlook":
                    self.call(CALENDAR, lambda t: self.deps.graph.cancel_event(t, event_id, CANCEL_COMMENT))
                else:
                    self.call(CALENDAR, lambda t: self.deps.graph.delete_event(t, event_id))
            if meeting_id:
                self.call(TEAMS, lambda t: self.deps.graph.delete_online_meeting(t, meeting_id))
        except (ReauthRequired, NotConnected):
            booking = self.note_sync_error(booking, "The Microsoft connection must be renewed: the calendar "
                                                    "event or Teams meeting was not cancelled.")
            return Outcome("sync_error", "connection", booking.get("link_state"))
        except (GraphRejected, TeamsUnavailable) as exc:
            booking = self.note_sync_error(booking, f"Microsoft Graph refused to cancel the meeting "
                                                    f"({getattr(exc, 'graph_code', '') or exc.code}).")
            return Outcome("sync_error", "rejected", booking.get("link_state"))
        rev = _rev(booking)
        booking = self.apply(booking, lambda cur: None if cur.get("graph_cancelled")
                             else {"graph_cancelled": True, "graph_synced_revision": rev, "graph_sync_error": None})
        log.info("meetings: cancelled in Graph ws=%s booking=%s", self.ws, self.booking_id)
        return Outcome("cancelled", "cancelled in Graph", booking.get("link_state"))

    # ================================================================== giving up
    def give_up(self, reason_for: Callable[[Entity], str]) -> Outcome:
        """Explain a booking whose message will not be retried: ``failed`` (create) or ``graph_sync_error``."""
        booking = self.load()
        if booking is None:
            return Outcome("skipped", "booking not found")
        booking = self.flush_outbox(booking)
        if self.msg.op == "create" and not _is_cancelled(booking) and wants_dynamic_link(booking):
            reason = reason_for(booking)

            def fail(current: Entity) -> dict[str, Any] | None:
                if current.get("meeting_url") or not wants_dynamic_link(current):
                    return None
                changes: dict[str, Any] = {"link_state": LinkState.FAILED.value, "link_reason": reason}
                notices = _notices_for(current, LinkState.FAILED.value)
                if notices:
                    changes["pending_notices"] = _merge_kinds(_kinds(current.get("pending_notices")), notices)
                return changes

            booking = self.flush_outbox(self.apply(booking, fail))
            log.warning("meetings: gave up, booking failed ws=%s booking=%s", self.ws, self.booking_id)
            return Outcome("failed", "given up", booking.get("link_state"))
        booking = self.note_sync_error(booking, reason_for(booking))
        return Outcome("sync_error", "given up", booking.get("link_state"))

    def requeue(self, exc: Throttled) -> Outcome:
        """Put a copy back with ``attempt+1``, invisible for the Retry-After delay (no sleep)."""
        attempt = self.msg.attempt
        if attempt >= self.deps.max_attempts:
            return self.give_up(lambda b: _reason_throttled(attempt) if self.msg.op == "create"
                                else _reason_poison(self.msg.op, attempt, event_only=bool(b.get("meeting_url"))))
        # Retry-After alone on the first attempt; later ones back off exponentially (with jitter) beyond it.
        backoff = self.deps.backoff(attempt) if attempt > 1 or exc.retry_after is None else 0.0
        seconds = queue_messages.retry_delay(exc.retry_after, backoff, cap=MAX_DELAY_SECONDS)
        queue_messages.requeue(self.deps.queue, MEETINGS_QUEUE, self.msg, seconds)
        log.info("meetings: throttled, re-queued attempt %s in %ss ws=%s booking=%s", attempt + 1, seconds,
                 self.ws, self.booking_id)
        return Outcome("requeued", "throttled", requeue_delay=seconds)


# ================================================================================ entry points
def handle_meeting_message(deps: MeetingDeps, message: Any, *, dequeue_count: int = 1) -> Outcome:
    """Process one ``meetings`` message. Returns normally = acknowledge; raises = let the host retry."""
    try:
        msg = MeetingMessage.parse(message)
    except ValueError as exc:
        log.error("meetings: invalid message dropped: %s", exc)
        return Outcome("invalid", str(exc))
    worker = _Worker(deps, msg)
    booking = worker.load()
    if booking is None:
        log.warning("meetings: booking not found ws=%s booking=%s", msg.workspace, msg.booking_id)
        if msg.backfill_row is not None:
            worker.drop_backfill_rows(None)
        return Outcome("skipped", "booking not found")
    if msg.revision > _rev(booking):
        raise TransientError("the booking's revision is older than the message's: not visible yet")
    log.info("meetings: %s ws=%s booking=%s rev=%s attempt=%s dequeue=%s", msg.op, msg.workspace, msg.booking_id,
             msg.revision, msg.attempt, dequeue_count)
    try:
        booking = worker.flush_outbox(booking)
        if msg.op == "create":
            outcome = worker.create(booking)
        elif msg.op == "reschedule":
            outcome = worker.reschedule(booking)
        else:
            outcome = worker.cancel(booking)
    except Throttled as exc:
        outcome = worker.requeue(exc)
    log.info("meetings: %s -> %s ws=%s booking=%s", msg.op, outcome.action, msg.workspace, msg.booking_id)
    return outcome


def handle_poison_message(deps: MeetingDeps, message: Any, *,
                          max_dequeue_count: int = HOST_MAX_DEQUEUE_COUNT) -> Outcome:
    """A ``meetings`` message that failed ``max_dequeue_count`` times: explain the booking, never retry."""
    try:
        msg = MeetingMessage.parse(message)
    except ValueError as exc:
        log.error("meetings-poison: invalid message dropped: %s", exc)
        return Outcome("invalid", str(exc))
    worker = _Worker(deps, msg)
    return worker.give_up(lambda b: _reason_poison(msg.op, max_dequeue_count, event_only=bool(b.get("meeting_url"))))


__all__ = [
    "AccessTokenPort", "BookingRepository", "ConnectionPort", "MeetingDeps", "MeetingMessage", "MeetingsGraph",
    "Outcome", "TableBookings", "TeamsUnavailablePort", "handle_meeting_message", "handle_poison_message",
    "MEETINGS_QUEUE", "MEETINGS_POISON_QUEUE", "COMMUNICATIONS_QUEUE", "MAX_ATTEMPTS", "HOST_MAX_DEQUEUE_COUNT",
]
