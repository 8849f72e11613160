"""Collective co-hosts (rule 20): each co-host's own calendar event, written, moved, given the link and cancelled
with the co-host's own calendar connection (``shared.domain.participants`` decides, per co-host): Graph with
``microsoft_calendar``, or, for a co-host whose record's provider is ``google``, Calendar v3 with
``google_calendar`` (``participant_google``). A co-host with no connected calendar of their provider is recorded
``emailed`` (or ``cancelled``) and the booking's outbox gets ``cohost_invite``: the communications worker e-mails
the .ics (``shared.usecases.communications.cohosts``).

Runs as the reconciler's last action (``Action.PARTICIPANTS``), after the organizer's link exists. A co-host's
failure is recorded on that co-host alone (``participants_json``): a broken calendar connection or a refusal is
``failed`` with the fix (a reconnect repairs it), a transient one is ``retrying`` and gives the booking a
``next_attempt_at`` in the due index (1 minute doubling, as rule 16). Nothing here raises for a co-host: the
booking's link and its messages never wait for one.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from shared.domain import participants as rules
from shared.domain import reconcile as reconcile_rules
from shared.domain.meeting_plan import ConnectionView, calendar_event_body, event_link_patch, event_times_patch
from shared.domain.model import LinkState
from shared.errors import (
    BookbridgeError,
    GoogleRejected,
    GraphRejected,
    NotConnected,
    NotFound,
    ReauthRequired,
    TransientError,
)
from shared.ports import iso_utc
from shared.repositories.bookings import Booking
from shared.usecases.meetings.deps import CALENDAR, Job
from shared.usecases.meetings.writes import apply, flush_outbox, revision_of, with_notices
from shared.usecases.reconcile import due
from shared.usecases.reconcile.participant_google import run_google

log = logging.getLogger("bookbridge.reconcile")

_NAMES = {rules.MICROSOFT: ("Outlook calendar", "Outlook", "Microsoft 365"),
          rules.GOOGLE: ("Google Calendar", "Google Calendar", "Google Calendar")}
REASON_RECONNECT = {p: (f"The co-host's {n[0]} connection must be reconnected (the co-host connects their {n[0]} "
                        "again): their calendar event of this booking is not up to date.") for p, n in _NAMES.items()}
REASON_DELETED = {p: f"The co-host's calendar event was deleted in {n[1]}: it is written again at the next repair."
                  for p, n in _NAMES.items()}
REASON_TRANSIENT = {p: f"{n[2]} did not answer for the co-host's calendar event; it is tried again automatically."
                    for p, n in _NAMES.items()}


def cohost_calendars(job: Job, booking: Booking) -> dict[str, ConnectionView | None]:
    """Each co-host's connection of their record's provider (``microsoft_calendar``, or ``google_calendar`` for
    a Google co-host): one point read per co-host; none for one host."""
    recorded = rules.records(booking.participants_json)
    return {user: ConnectionView.from_row(job.deps.connection(
                job.ws, user, recorded.get(user, rules.Participant()).connection_kind))
            for user in rules.cohosts(booking.as_row())}


def _run(job: Job, booking: Booking, user: str, record: rules.Participant, step: rules.Step,
         calendar: ConnectionView | None) -> rules.Participant:
    """One call for ``user``'s event (Graph, or Calendar v3 for a Google co-host); the record after it. The
    e-mail steps call nothing: the record says what the co-host is e-mailed (the outbox's ``cohost_invite``)."""
    if step is rules.Step.EMAIL:
        return replace(record, event=rules.EMAILED, revision=revision_of(booking),
                       link=rules.current_link(booking.as_row()), error="")
    if step is rules.Step.EMAIL_CANCEL:
        return replace(record, event=rules.CANCELLED, error="")
    if record.provider == rules.GOOGLE:
        return run_google(job, booking, user, record, step)
    row = booking.as_row()
    link = rules.current_link(row)
    if step is rules.Step.CREATE:
        body = calendar_event_body(row, link, teams_link=row.get("link_state") == LinkState.CREATED.value,
                                   calendar_name=job.calendar_name(booking))
        body["transactionId"] = rules.transaction_id(job.ws, job.booking_id, user)
        calendar_id = calendar.linked_calendar_id if calendar else ""
        event = job.call_as(user, CALENDAR, lambda t: job.deps.graph.create_event(t, body, calendar_id=calendar_id))
        return replace(record, event=rules.WRITTEN, event_id=str(event.get("id") or ""), calendar_id=calendar_id,
                       revision=revision_of(booking), link=link, error="")
    if step is rules.Step.CANCEL:
        job.call_as(user, CALENDAR, lambda t: job.deps.graph.delete_event(t, record.event_id))  # gone = done
        return replace(record, event=rules.CANCELLED, error="")
    if step is rules.Step.TIMES:
        patch = event_times_patch(row)
        job.call_as(user, CALENDAR, lambda t: job.deps.graph.update_event(t, record.event_id, patch))
        return replace(record, event=rules.WRITTEN, revision=revision_of(booking), error="")
    # the event was written by us without a Teams meeting: its body may be replaced (rule 24 is about Teams events)
    patch = event_link_patch({**row, "invitation_channel": "ics"}, link,
                             teams_link=row.get("link_state") == LinkState.CREATED.value)
    job.call_as(user, CALENDAR, lambda t: job.deps.graph.update_event(t, record.event_id, patch))
    return replace(record, event=rules.WRITTEN, link=link, error="")


def _converge_one(job: Job, booking: Booking, user: str, record: rules.Participant,
                  calendar: ConnectionView | None) -> tuple[rules.Participant, float | None]:
    """Every step ``user`` needs; the record after them and, for a transient failure, its Retry-After."""
    for step in rules.steps(booking.as_row(), record, calendar, job.deps.clock.now()):
        try:
            record = _run(job, booking, user, record, step, calendar)
        except (ReauthRequired, NotConnected):
            return record.failing(rules.FAILED, REASON_RECONNECT[record.provider]), None
        except NotFound:
            return replace(record, event_id="").failing(rules.FAILED, REASON_DELETED[record.provider]), None
        except GraphRejected as exc:
            return record.failing(rules.FAILED, f"Microsoft Graph refused the co-host's calendar event "
                                                f"({exc.graph_code or exc.status})."), None
        except GoogleRejected as exc:
            return record.failing(rules.FAILED, f"Google Calendar refused the co-host's calendar event "
                                                f"({exc.status} {exc.reason})."), None
        except TransientError as exc:
            return record.failing(rules.RETRYING, REASON_TRANSIENT[record.provider]), float(exc.retry_after or 0)
        except BookbridgeError as exc:  # anything else is the co-host's alone, shown on them
            return record.failing(rules.FAILED, f"The co-host's calendar event failed ({exc.code})."), None
    return record, None


def converge(job: Job, booking: Booking, calendars: dict[str, ConnectionView | None]) -> Booking:
    """Bring every co-host's event in line with the booking; record each one's state on the booking."""
    recorded = rules.records(booking.participants_json)
    changed: dict[str, rules.Participant] = {}
    retry_after: list[float] = []
    for user in rules.cohosts(booking.as_row()):
        before = recorded.get(user, rules.Participant())
        after, wait = _converge_one(job, booking, user, before, calendars.get(user))
        if after != before:
            changed[user] = after
        if wait is not None:
            retry_after.append(wait)
    if not changed:
        return booking
    log.info("reconcile: co-hosts %s ws=%s booking=%s", ",".join(sorted(f"{r.event}" for r in changed.values())),
             job.ws, job.booking_id)
    return _store(job, booking, changed, max(retry_after) if retry_after else None)


def _retry_at(booking: Booking, now: datetime, retry_after: float) -> str | None:
    """When a co-host's transient failure is tried again (rule 16's curve, at least Retry-After later)."""
    failures = (booking.retry_failures or 0) + 1
    due_at = reconcile_rules.next_attempt_at(failures, now, booking.start_utc)
    if due_at is None:
        return None
    return iso_utc(max(due_at, now + timedelta(seconds=retry_after)))


def _store(job: Job, booking: Booking, changed: dict[str, rules.Participant], retry_after: float | None) -> Booking:
    """Write the co-hosts' records (and, for a retry, the next attempt: its due row first)."""
    next_at = _retry_at(booking, job.deps.clock.now(), retry_after) if retry_after is not None else None
    if retry_after is not None and next_at is None:  # the booking starts before another attempt could run
        changed = {u: r.failing(rules.FAILED, f"{reconcile_rules.REASON_TOO_LATE} {r.error}")
                   if r.event == rules.RETRYING else r for u, r in changed.items()}
    old_row = reconcile_rules.own_due_row_key(booking.as_row())
    mails = any(r.event == rules.EMAILED or r.event == rules.CANCELLED and not r.event_id for r in changed.values())
    if next_at:
        due.schedule(job.deps.store, booking, next_at)

    def change(current: Booking) -> Booking:
        updated = replace(current)
        for user, record in changed.items():
            updated.participants_json = rules.with_record(updated.participants_json, user, record)
        if next_at:
            updated.next_attempt_at, updated.retry_failures = next_at, (current.retry_failures or 0) + 1
        if mails:  # the co-hosts' e-mails go through the outbox, in the same write as their records
            updated.pending_notices = with_notices(current, [rules.COHOST_INVITE])
        return updated

    stored = apply(job, booking, change)
    if next_at:
        due.drop(job.deps.store, {old_row} - {reconcile_rules.own_due_row_key(stored.as_row())})
    return flush_outbox(job, stored) if mails else stored


__all__ = ["cohost_calendars", "converge"]
