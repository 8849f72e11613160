"""Running the reconciler's decisions for one booking, inside a meeting worker's job.

:func:`reconcile` reads the host's connections, asks ``shared.domain.reconcile.decide`` what the booking
needs, runs those actions with the meeting worker's Graph steps (``create``/``sync``), and settles the
retry bookkeeping: a booking that no longer waits for a retry loses ``next_attempt_at`` and its due rows.
:func:`record_failure` is the other half: a transient failure the queue could not outlast leaves the
booking ``retrying`` (or its ``graph_sync_error``) with the next attempt in the due index (rule 16).

Imported by ``shared.usecases.meetings.worker`` / ``failure`` (never by this package's ``__init__``: the
meetings package imports this module while it initialises).
"""
from __future__ import annotations

import logging
from typing import Any

from shared.domain import reconcile as rules
from shared.domain.meeting_plan import ConnectionView, meeting_generation, wants_dynamic_link
from shared.domain.model import LinkState
from shared.errors import GraphRejected, NotConnected, NotFound, ReauthRequired
from shared.ports import Entity, iso_utc
from shared.usecases.meetings.create import run_create
from shared.usecases.meetings.deps import CALENDAR, TEAMS, Job
from shared.usecases.meetings.messages import Outcome
from shared.usecases.meetings.reasons import REASON_PAST
from shared.usecases.meetings.sync import cancel_graph, sync_times
from shared.usecases.meetings.writes import apply, flush_outbox, is_cancelled, kinds_of, merge_kinds, notices_for
from shared.usecases.reconcile import due

log = logging.getLogger("bookbridge.reconcile")

REASON_ORGANIZER_REPLACED = ("The host connected Teams with another Microsoft account: the meeting is being "
                             "created again under it.")
REASON_ORGANIZER_CANCEL = "This meeting moved: the host sends a new Teams link."


def connections_of(job: Job) -> tuple[ConnectionView | None, ConnectionView | None]:
    """The host's ``teams`` and ``microsoft_calendar`` connections (one point read each)."""
    return (ConnectionView.from_row(job.deps.connection(job.ws, job.host, TEAMS)),
            ConnectionView.from_row(job.deps.connection(job.ws, job.host, CALENDAR)))


def expire(job: Job, booking: Entity) -> Outcome:
    """The start passed while the link was still being made: ``failed`` with the reason (no more retries)."""
    def compute(current: Entity) -> dict[str, Any] | None:
        if current.get("link_state") not in (LinkState.PENDING.value, LinkState.RETRYING.value):
            return None
        return {"link_state": LinkState.FAILED.value, "link_reason": REASON_PAST}

    stored = apply(job, booking, compute)
    return Outcome("skipped", "booking start is past", stored.get("link_state"))


def reconcile(job: Job, booking: Entity, *, retry_failed: bool = False) -> Outcome:
    """Bring ``booking`` to its desired state with the fewest Graph calls, then settle its retry state.

    ``retry_failed``: also a ``failed`` booking (a manual repair, a reconnect)."""
    if getattr(job.msg, "due_row", None):
        booking = ensure_first_messages(job, booking)
    teams, calendar = connections_of(job)
    decision = rules.decide(booking, teams, calendar, job.deps.clock.now(), retry_failed=retry_failed)
    before = _state(booking)
    outcome = Outcome("converged", decision.reason, booking.get("link_state"))
    for action in decision.actions:
        if action is rules.Action.CANCEL:
            outcome = cancel_graph(job, booking)
        elif action is rules.Action.CREATE:
            outcome = run_create(job, booking, teams, calendar)  # catches up with new times / a cancel itself
        elif action is rules.Action.SYNC_TIMES:
            if rules.times_behind(booking) and not is_cancelled(booking):
                outcome = sync_times(job, booking)
        elif action is rules.Action.REPLACE:
            outcome = replace_organizer(job, booking, teams, calendar)
        else:
            outcome = expire(job, booking)
        booking = job.load() or booking
    booking = settle(job, booking)
    if decision.actions and _state(booking) != before:
        _record(job, booking, f"{job.msg.op}: {decision.reason}")
    log.info("reconcile: %s -> %s ws=%s booking=%s", decision.reason, outcome.action, job.ws, job.booking_id)
    return outcome


def ensure_first_messages(job: Job, booking: Entity) -> Entity:
    """A booking the sweep took over (intake's messages may be lost: a queue outage, a crash after the
    commit): its confirmation, and for ``awaiting_connection`` the host's notice, are put again through the
    outbox (the communications worker sends each once). A ``pending`` booking's confirmation comes with its
    link, as always."""
    state = str(booking.get("link_state") or "")
    if (is_cancelled(booking) or state == LinkState.PENDING.value
            or booking.get("confirmation_enqueued_revision") is not None):
        return booking
    kinds = ["confirmation"] + (["host_notice"] if state == LinkState.AWAITING_CONNECTION.value else [])
    booking = apply(job, booking, lambda cur: {"pending_notices": merge_kinds(kinds_of(cur.get("pending_notices")),
                                                                              kinds)})
    return flush_outbox(job, booking)


def _cancel_old_event(job: Job, booking: Entity, calendar: ConnectionView | None) -> bool:
    """Cancel the old organizer's Outlook event while a calendar connection of that account still works."""
    if calendar is None or not calendar.connected or (calendar.account_oid, calendar.account_tid) != (
            booking.get("organizer_oid"), booking.get("organizer_tid")):
        return False
    event_id = str(booking["graph_event_id"])
    try:
        job.call(CALENDAR, lambda t: job.deps.graph.cancel_event(t, event_id, REASON_ORGANIZER_CANCEL))
    except (NotFound, GraphRejected, ReauthRequired, NotConnected):
        return False  # kept as an orphan
    return True


def replace_organizer(job: Job, booking: Entity, teams: ConnectionView | None,
                      calendar: ConnectionView | None) -> Outcome:
    """Rule 18: the host's Teams account changed. The old meeting is cancelled where a token of its account
    still works (its Outlook event, through a calendar connection of that account), else it stays on the
    booking as an orphan (organizer, join URL) for a person; then a new meeting under the new account, and
    the invitee gets one ``link_update`` with the new link."""
    old = {"organizer_oid": booking.get("organizer_oid"), "organizer_tid": booking.get("organizer_tid"),
           "join_url": booking.get("meeting_url"), "online_meeting_id": booking.get("online_meeting_id"),
           "replaced_at": iso_utc(job.deps.clock.now())}
    outlook_event = booking.get("invitation_channel") == "outlook" and booking.get("graph_event_id")
    cancelled = bool(outlook_event) and _cancel_old_event(job, booking, calendar)
    orphan = {**old, "graph_event_id": None if cancelled else (booking.get("graph_event_id") if outlook_event
                                                                 else None)}

    def compute(current: Entity) -> dict[str, Any] | None:
        if current.get("meeting_url") != old["join_url"]:
            return None  # another delivery replaced it already
        changes: dict[str, Any] = {
            "meeting_url": None, "online_meeting_id": None, "organizer_oid": None, "organizer_tid": None,
            "link_state": LinkState.RETRYING.value, "link_reason": REASON_ORGANIZER_REPLACED,
            "meeting_generation": meeting_generation(current) + 1,
            "history_json": rules.history_with(current.get("history_json"), str(old["replaced_at"]),
                                               LinkState.RETRYING.value, "organizer replaced"),
        }
        if outlook_event:
            changes.update(graph_event_id=None, invitation_channel=None, event_carries_link=None)
        elif current.get("graph_event_id"):
            changes["event_carries_link"] = False  # the event in the linked calendar gets the new link
        if old["online_meeting_id"] or (outlook_event and not cancelled):
            changes["orphans_json"] = rules.orphans_with(current.get("orphans_json"), orphan)
        return changes

    booking = apply(job, booking, compute)
    log.warning("reconcile: organizer replaced, new meeting ws=%s booking=%s event_cancelled=%s", job.ws,
                job.booking_id, cancelled)
    return run_create(job, booking, teams, calendar)


def settle(job: Job, booking: Entity) -> Entity:
    """A booking no longer waiting for a retry loses ``next_attempt_at`` and its due rows (the message's
    ``due_row`` and its own)."""
    stale = {getattr(job.msg, "due_row", None)}
    if rules.still_retrying(booking):
        stale.discard(rules.own_due_row_key(booking))
    else:
        stale.add(rules.own_due_row_key(booking))
        booking = apply(job, booking, rules.repaired_changes)
    due.drop(job.deps.store, stale)
    return booking


def _state(booking: Entity) -> tuple[Any, ...]:
    return (booking.get("link_state"), bool(booking.get("graph_sync_error")), booking.get("status"))


def _record(job: Job, booking: Entity, cause: str) -> Entity:
    """Append the booking's state now to its history (what admins see)."""
    at = iso_utc(job.deps.clock.now())
    state = str(booking.get("link_state") or "")
    if booking.get("graph_sync_error"):
        state += " (sync error)"
    return apply(job, booking, lambda cur: {"history_json": rules.history_with(cur.get("history_json"), at,
                                                                                 state, cause)})


def record_failure(job: Job, booking: Entity, reason: str, *, link: bool) -> Entity:
    """After a transient failure the queue could not outlast: ``retrying`` (``link``) or a sync error, with
    the next attempt in the due index (written first), the invitee's confirmation if it is still due, and
    the host told only once a permanent ``failed`` is reached."""
    now = job.deps.clock.now()
    changes = rules.failure_changes(booking, reason, now, link=link)
    old_row = rules.own_due_row_key(booking)
    if changes.get("next_attempt_at"):
        due.schedule(job.deps.store, booking, changes["next_attempt_at"])

    def compute(current: Entity) -> dict[str, Any] | None:
        if link and (current.get("meeting_url") or not wants_dynamic_link(current) or is_cancelled(current)):
            return None
        out = dict(changes)
        state = str(out.get("link_state") or current.get("link_state") or "")
        out["history_json"] = rules.history_with(current.get("history_json"), iso_utc(now), state,
                                                 f"{job.msg.op}: {reason}")
        if link:
            notices = notices_for(current, str(out["link_state"]))
            if notices:
                out["pending_notices"] = merge_kinds(kinds_of(current.get("pending_notices")), notices)
        return out

    stored = flush_outbox(job, apply(job, booking, compute))
    new_row = rules.own_due_row_key(stored)
    due.drop(job.deps.store, {old_row, getattr(job.msg, "due_row", None)} - {new_row})
    log.warning("reconcile: transient failure, %s next=%s ws=%s booking=%s",
                stored.get("link_state") if link else "sync error", stored.get("next_attempt_at") or "none",
                job.ws, job.booking_id)
    return stored


__all__ = ["connections_of", "expire", "reconcile", "record_failure", "settle"]
