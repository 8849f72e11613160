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
from dataclasses import replace

from shared.domain import google_events
from shared.domain import reconcile as rules
from shared.domain.meeting_plan import ConnectionView, meeting_generation, wants_link
from shared.domain.model import LinkState
from shared.errors import GraphRejected, NotConnected, NotFound, ReauthRequired
from shared.ports import iso_utc
from shared.repositories.bookings import Booking
from shared.usecases.meetings.create import run_create
from shared.usecases.meetings.deps import CALENDAR, TEAMS, Job
from shared.usecases.meetings.messages import Outcome
from shared.usecases.meetings.reasons import REASON_PAST
from shared.usecases.meetings.sync import cancel_graph, sync_times
from shared.usecases.meetings.writes import apply, flush_outbox, is_cancelled, notices_for, with_notices
from shared.usecases.reconcile import due, participants
from shared.usecases.reconcile.google import sync_google

log = logging.getLogger("bookbridge.reconcile")

REASON_ORGANIZER_REPLACED = ("The host connected Teams with another Microsoft account: the meeting is being "
                             "created again under it.")
REASON_ORGANIZER_CANCEL = "This meeting moved: the host sends a new Teams link."


def connections_of(job: Job) -> tuple[ConnectionView | None, ConnectionView | None]:
    """The host's ``teams`` and ``microsoft_calendar`` connections (one point read each)."""
    return (ConnectionView.from_row(job.deps.connection(job.ws, job.host, TEAMS)),
            ConnectionView.from_row(job.deps.connection(job.ws, job.host, CALENDAR)))


def expire(job: Job, booking: Booking) -> Outcome:
    """The start passed while the link was still being made: ``failed`` with the reason (no more retries)."""
    def change(current: Booking) -> Booking | None:
        if current.link_state not in (LinkState.PENDING.value, LinkState.RETRYING.value):
            return None
        return replace(current, link_state=LinkState.FAILED.value, link_reason=REASON_PAST)

    stored = apply(job, booking, change)
    return Outcome("skipped", "booking start is past", stored.link_state)


def reconcile(job: Job, booking: Booking, *, retry_failed: bool = False) -> Outcome:
    """Bring ``booking`` to its desired state with the fewest Graph calls, then settle its retry state.

    ``retry_failed``: also a ``failed`` booking (a manual repair, a reconnect)."""
    if job.msg.due_row:
        booking = ensure_first_messages(job, booking)
    teams, calendar = connections_of(job)
    calendar = google_events.outlook_calendar(booking.as_row(), calendar)  # a Google host: Google's event only
    cohosts = participants.cohost_calendars(job, booking)
    decision = rules.decide(booking.as_row(), teams, calendar, job.deps.clock.now(), retry_failed=retry_failed,
                            cohosts=cohosts)
    before = _state(booking)
    outcome = Outcome("converged", decision.reason, booking.link_state)
    for action in decision.actions:
        if action is rules.Action.CANCEL:
            outcome = cancel_graph(job, booking)
        elif action is rules.Action.CREATE:
            outcome = run_create(job, booking, teams, calendar)  # catches up with new times / a cancel itself
        elif action is rules.Action.SYNC_TIMES:
            if rules.times_behind(booking.as_row()) and not is_cancelled(booking):
                outcome = sync_times(job, booking)
        elif action is rules.Action.REPLACE:
            outcome = replace_organizer(job, booking, teams, calendar)
        elif action is rules.Action.GOOGLE:
            booking = sync_google(job, booking)  # after the Microsoft actions: carries their link
        elif action is rules.Action.PARTICIPANTS:
            pass  # below, from the booking as the steps above left it (a link made just now reaches them too)
        else:
            outcome = expire(job, booking)
        booking = job.load() or booking
    if cohosts:  # last: the organizer's link exists; the outcome stays the organizer's
        booking = participants.converge(job, booking, cohosts)
    booking = settle(job, booking)
    if decision.actions and _state(booking) != before:
        _record(job, booking, f"{job.msg.op}: {decision.reason}")
    log.info("reconcile: %s -> %s ws=%s booking=%s", decision.reason, outcome.action, job.ws, job.booking_id)
    return outcome


def ensure_first_messages(job: Job, booking: Booking) -> Booking:
    """A booking the worker sees first (intake's ``create``) or the sweep took over: its confirmation, and
    for ``awaiting_connection`` the host's notice, are put through the outbox (the communications worker
    sends each once). A ``pending`` booking's confirmation comes with its link, as always."""
    state = booking.link_state
    if (is_cancelled(booking) or state == LinkState.PENDING.value
            or booking.confirmation_enqueued_revision is not None):
        return booking
    kinds = ["confirmation"] + (["host_notice"] if state == LinkState.AWAITING_CONNECTION.value else [])
    booking = apply(job, booking, lambda cur: replace(cur, pending_notices=with_notices(cur, kinds)))
    return flush_outbox(job, booking)


def _cancel_old_event(job: Job, booking: Booking, calendar: ConnectionView | None) -> bool:
    """Cancel the old organizer's Outlook event while a calendar connection of that account still works."""
    if calendar is None or not calendar.connected or (calendar.account_oid, calendar.account_tid) != (
            booking.organizer_oid, booking.organizer_tid):
        return False
    event_id = str(booking.graph_event_id)
    try:
        job.call(CALENDAR, lambda t: job.deps.graph.cancel_event(t, event_id, REASON_ORGANIZER_CANCEL))
    except (NotFound, GraphRejected, ReauthRequired, NotConnected):
        return False  # kept as an orphan
    return True


def replace_organizer(job: Job, booking: Booking, teams: ConnectionView | None,
                      calendar: ConnectionView | None) -> Outcome:
    """Rule 18: the host's Teams account changed. The old meeting is cancelled where a token of its account
    still works (its Outlook event, through a calendar connection of that account), else it stays on the
    booking as an orphan (organizer, join URL) for a person; then a new meeting under the new account, and
    the invitee gets one ``link_update`` with the new link."""
    old = {"organizer_oid": booking.organizer_oid, "organizer_tid": booking.organizer_tid,
           "join_url": booking.meeting_url, "online_meeting_id": booking.online_meeting_id,
           "replaced_at": iso_utc(job.deps.clock.now())}
    outlook_event = booking.invitation_channel == "outlook" and bool(booking.graph_event_id)
    cancelled = outlook_event and _cancel_old_event(job, booking, calendar)
    orphan = {**old, "graph_event_id": booking.graph_event_id if outlook_event and not cancelled else None}

    def change(current: Booking) -> Booking | None:
        if current.meeting_url != old["join_url"]:
            return None  # another delivery replaced it already
        updated = replace(
            current, meeting_url=None, online_meeting_id=None, organizer_oid=None, organizer_tid=None,
            link_state=LinkState.RETRYING.value, link_reason=REASON_ORGANIZER_REPLACED,
            meeting_generation=meeting_generation(current.as_row()) + 1,
            history_json=rules.history_with(current.history_json, str(old["replaced_at"]),
                                            LinkState.RETRYING.value, "organizer replaced"))
        if outlook_event:
            updated.graph_event_id = updated.invitation_channel = updated.event_carries_link = None
        elif current.graph_event_id:
            updated.event_carries_link = False  # the event in the linked calendar gets the new link
        if old["online_meeting_id"] or (outlook_event and not cancelled):
            updated.orphans_json = rules.orphans_with(current.orphans_json, orphan)
        return updated

    booking = apply(job, booking, change)
    log.warning("reconcile: organizer replaced, new meeting ws=%s booking=%s event_cancelled=%s", job.ws,
                job.booking_id, cancelled)
    return run_create(job, booking, teams, calendar)


def _repaired(current: Booking) -> Booking | None:
    """``current`` without its retry bookkeeping (``None`` when it has none)."""
    changes = rules.repaired_changes(current.as_row())
    return None if changes is None else replace(current, **changes)


def settle(job: Job, booking: Booking) -> Booking:
    """A booking no longer waiting for a retry loses ``next_attempt_at`` and its due rows (the message's
    ``due_row`` and its own)."""
    stale = {job.msg.due_row}
    row = booking.as_row()
    if rules.still_retrying(row):
        stale.discard(rules.own_due_row_key(row))
    else:
        stale.add(rules.own_due_row_key(row))
        booking = apply(job, booking, _repaired)
    due.drop(job.deps.store, stale)
    return booking


def _state(booking: Booking) -> tuple[str | None, bool, str]:
    return (booking.link_state, bool(booking.graph_sync_error), booking.status)


def _record(job: Job, booking: Booking, cause: str) -> Booking:
    """Append the booking's state now to its history (what admins see)."""
    at = iso_utc(job.deps.clock.now())
    state = booking.link_state or ""
    if booking.graph_sync_error:
        state += " (sync error)"
    return apply(job, booking, lambda cur: replace(cur, history_json=rules.history_with(cur.history_json, at,
                                                                                       state, cause)))


def record_failure(job: Job, booking: Booking, reason: str, *, link: bool, google: bool = False) -> Booking:
    """After a transient failure the queue could not outlast: ``retrying`` (``link``) or a sync error (of
    Microsoft's objects, or ``google``: of the Google event), with the next attempt in the due index (written
    first), the invitee's confirmation if it is still due, and the host told only once a permanent ``failed``
    is reached."""
    now = job.deps.clock.now()
    changes = rules.failure_changes(booking.as_row(), reason, now, link=link,
                                    field="google_sync_error" if google else "graph_sync_error")
    old_row = rules.own_due_row_key(booking.as_row())
    if changes.get("next_attempt_at"):
        due.schedule(job.deps.store, booking, changes["next_attempt_at"])

    def change(current: Booking) -> Booking | None:
        if link and (current.meeting_url or not wants_link(current.as_row()) or is_cancelled(current)):
            return None
        fields = {k: v for k, v in changes.items() if k != "google_sync_error"}
        updated = replace(current, **fields)
        if "google_sync_error" in changes:  # Google's fields ride in ``extra``
            updated.extra = {**current.extra, "google_sync_error": changes["google_sync_error"]}
        updated.history_json = rules.history_with(current.history_json, iso_utc(now), updated.link_state or "",
                                                  f"{job.msg.op}: {reason}")
        if link:
            notices = notices_for(current, updated.link_state or "")
            if notices:
                updated.pending_notices = with_notices(current, notices)
        return updated

    stored = flush_outbox(job, apply(job, booking, change))
    new_row = rules.own_due_row_key(stored.as_row())
    due.drop(job.deps.store, {old_row, job.msg.due_row} - {new_row})
    log.warning("reconcile: transient failure, %s next=%s ws=%s booking=%s",
                stored.link_state if link else "sync error", stored.next_attempt_at or "none",
                job.ws, job.booking_id)
    return stored


__all__ = ["connections_of", "ensure_first_messages", "expire", "reconcile", "record_failure", "settle"]
