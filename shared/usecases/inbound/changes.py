"""The inbound worker's change: re-read the host's event and apply rule 19 to its booking.

The booking is found by its ``graph_event_id`` (``eventbookings``: point reads,
``shared.repositories.event_index``); nothing is read from Graph for a booking that is not watched now
(cancelled, started, or with our own write to the event still pending: :func:`shared.domain.inbound.watched`).
Then the event is re-read (404: deleted) and :func:`shared.domain.inbound.decide` says what to do: cancel
(the invitee's cancellation goes out), tell the host (``external_delete`` = ``notify_host``: the booking keeps
its time and records ``external_change``), move (the invitee's reschedule notice goes out; the link stays), or
nothing. The booking's history records what the host did. Idempotent: a second delivery finds the booking converged.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from shared.domain import inbound as rules
from shared.domain import reconcile as reconcile_rules
from shared.errors import ConcurrencyConflict
from shared.ports import iso_utc
from shared.repositories import bookings as repo
from shared.repositories import calendars as calendar_repo
from shared.repositories import event_index
from shared.repositories.bookings import Booking
from shared.repositories.optimistic import optimistic_update
from shared.usecases import booking_events
from shared.usecases.booking import host_changes
from shared.usecases.inbound.deps import CALENDAR, InboundDeps

log = logging.getLogger("bookbridge.inbound")

def find_by_event(deps: InboundDeps, workspace: str, host: str, event_id: str) -> Booking | None:
    """The host's booking whose Outlook event is ``event_id`` (``shared.repositories.event_index``: point reads,
    not a scan of the host's bookings, for every change to any event in the host's calendar)."""
    return event_index.lookup(deps.store, workspace, host, event_id)


def external_delete(deps: InboundDeps, booking: Booking) -> str:
    """The calendar's ``external_delete`` (``cancel_booking`` when unset or the calendar is gone)."""
    record = calendar_repo.get_calendar(deps.store, booking.workspace, booking.calendar)
    value = record.config.external_delete if record is not None else None
    return value if value in rules.EXTERNAL_DELETE_CHOICES else rules.DEFAULT_EXTERNAL_DELETE


def apply_change(deps: InboundDeps, workspace: str, host: str, event_id: str) -> str:
    """Rule 19 for the booking whose event changed; returns what was done (for logs and tests)."""
    booking = find_by_event(deps, workspace, host, event_id)
    if booking is None:
        return "no booking"
    now = deps.clock.now()
    skip = rules.watched(booking.as_row(), now)
    if skip is not None:
        return f"ignored: {skip}"
    event = deps.graph.get_event(deps.access_token(workspace, host, CALENDAR), event_id)
    decision = rules.decide(booking.as_row(), event, now, external_delete(deps, booking))
    log.info("inbound: %s -> %s ws=%s booking=%s", decision.reason, decision.action, workspace, booking.id)
    if decision.action == rules.IGNORE:
        return f"ignored: {decision.reason}"
    assert deps.bookings is not None
    if decision.action == rules.CANCEL:
        _note(deps, booking, decision.reason)
        host_changes.cancel_by_host(deps.bookings, repo.get_booking(deps.store, workspace, host, booking.id)
                                    or booking)
        return "cancelled"
    if decision.action == rules.NOTIFY_HOST:
        return _notify_host(deps, booking, decision.reason)
    assert decision.start is not None and decision.end is not None
    moved = host_changes.move_by_host(deps.bookings, booking, decision.start, decision.end)
    if moved is None:
        return _refuse_move(deps, booking)
    _note(deps, moved, decision.reason)
    return "moved"


def _note(deps: InboundDeps, booking: Booking, cause: str, **changes: object) -> Booking:
    """Append ``cause`` to the booking's history (what admins see), with ``changes`` to the booking."""
    at = iso_utc(deps.clock.now())
    table = repo.TableBookings(deps.store)

    def write(current: Booking) -> Booking:
        updated = replace(current, history_json=reconcile_rules.history_with(
            current.history_json, at, current.status, f"outlook: {cause}"), extra={**current.extra, **changes})
        table.save(updated)
        return updated

    return optimistic_update(lambda: table.load(booking.workspace, booking.host, booking.id) or booking, write,
                             what="the booking", races=(ConcurrencyConflict,))


def _refuse_move(deps: InboundDeps, booking: Booking) -> str:
    """The host moved the event onto a time another booking holds (rule 13): the booking keeps its time, and
    nothing stays wrong: its event is marked behind the booking (``graph_synced_revision`` one below its
    revision), so the reconciler puts it back (Outlook tells the invitee), and the host gets one notice why."""
    noted = _note(deps, booking, "the host moved the event onto another booking's time: not moved, the event is "
                  "put back", external_change="move_refused")
    behind = max(int(noted.revision or 0) - 1, 0)
    stored = repo.TableBookings(deps.store)

    def mark(current: Booking) -> Booking:
        updated = replace(current, graph_synced_revision=min(current.graph_synced_revision or 0, behind))
        stored.save(updated)
        return updated

    marked = optimistic_update(lambda: stored.load(noted.workspace, noted.host, noted.id) or noted, mark,
                               what="the booking", races=(ConcurrencyConflict,))
    booking_events.send_meeting(deps.queue, "reconcile", marked.workspace, marked.host, marked.id, marked.revision)
    booking_events.send_communication(deps.queue, "host_notice", marked.workspace, marked.host, marked.id,
                                       marked.revision)
    return "move refused"


def _notify_host(deps: InboundDeps, booking: Booking, reason: str) -> str:
    """``external_delete`` = ``notify_host``: the booking stays as it is; it records ``external_change`` (in its
    history too) once, and the host gets one ``host_notice`` saying the event went (``communications``)."""
    if booking.extra.get("external_change") == "deleted_in_outlook":
        return "already recorded"
    noted = _note(deps, booking, f"{reason}; the booking was kept (external_delete: notify_host)",
                  external_change="deleted_in_outlook")
    booking_events.send_communication(deps.queue, "host_notice", noted.workspace, noted.host, noted.id,
                                       noted.revision)
    return "host told"


MAX_HOST_BOOKINGS = event_index.MAX_HOST_BOOKINGS

__all__ = ["MAX_HOST_BOOKINGS", "apply_change", "external_delete", "find_by_event"]
