"""A ``create`` message: the booking's Teams link and its event in a linked Microsoft calendar.

One event call for a same-account Outlook calendar, else ``createOrGet`` of an online meeting. Graph
objects are keyed by the booking (``transactionId`` / ``externalId``) and the stored state is checked
first, so a repeat never makes a second meeting. A backfill sweep's ``create`` is for a candidate only.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from shared.domain import backfill as backfill_rules
from shared.domain.meeting_plan import (
    ConnectionView,
    CreatePlan,
    LinkSource,
    calendar_event_body,
    event_link_patch,
    event_with_teams_body,
    join_url_of_event,
    join_url_of_online_meeting,
    meeting_times_differ,
    online_meeting_body,
    online_meeting_times_patch,
    plan_create,
    static_url,
)
from shared.domain.model import LinkState
from shared.errors import GraphRejected, NotConnected, NotFound, ReauthRequired, TeamsUnavailable, Throttled
from shared.repositories import bookings as bookings_repo
from shared.repositories import event_index
from shared.repositories.bookings import Booking
from shared.usecases.meetings import reasons
from shared.usecases.meetings.deps import CALENDAR, TEAMS, Job
from shared.usecases.meetings.messages import Outcome
from shared.usecases.meetings.options import apply_meeting_options
from shared.usecases.meetings.sync import cancel_graph, sync_times
from shared.usecases.meetings.writes import (
    LinkResult,
    apply,
    drop_backfill_rows,
    flush_outbox,
    has_graph_objects,
    is_cancelled,
    note_sync_error,
    own_backfill_rk,
    revision_of,
    store_link_result,
    synced_revision,
)
from shared.usecases.webhooks import emit as webhook_events

log = logging.getLogger("bookbridge.meetings")

#: Deliveries of a same-account ``create`` that may find the event's join URL missing before the link fails.
JOIN_URL_ATTEMPTS = 3
JOIN_URL_RETRY_SECONDS = 30.0


def backfill_gate(job: Job, booking: Booking) -> Outcome | None:
    """A backfill sweep's ``create``: the sweep decided from the index row alone, so the booking decides
    here (``shared.domain.backfill.candidate_verdict``). Not a candidate (cancelled, past, linked, failed,
    not Teams, another host's, ...): its index rows go, the booking is not touched. A candidate found
    through an outdated row (moved): that row goes, the booking's own row carries it."""
    verdict = backfill_rules.candidate_verdict(booking.as_row(), workspace=job.ws, host=job.host,
                                               now=job.deps.clock.now())
    if verdict.decision is not backfill_rules.Decision.ENQUEUE:
        drop_backfill_rows(job, booking)
        log.info("meetings: backfill create not needed (%s), index row removed ws=%s booking=%s",
                 verdict.reason, job.ws, job.booking_id)
        return Outcome("skipped", f"not a backfill candidate: {verdict.reason}", booking.link_state)
    if job.msg.backfill_row and job.msg.backfill_row != own_backfill_rk(booking):
        job.deps.store.delete(bookings_repo.BACKFILL, bookings_repo.schedule_pk(job.ws, job.host),
                              job.msg.backfill_row)
    return None


def create(job: Job, booking: Booking) -> Outcome:
    """A ``create`` message: checks, then :func:`run_create` with the host's connections."""
    from shared.usecases.reconcile.runner import ensure_first_messages, reconcile

    if job.msg.backfill_row is not None:
        gated = backfill_gate(job, booking)
        if gated is not None:
            return gated
    else:  # intake's: the booking's event, and its confirmation unless it comes with the link
        webhook_events.booking_event(job.deps.queue, "booking.created", job.ws, job.host, job.booking_id,
                                     job.msg.revision, store=job.deps.store)
        booking = ensure_first_messages(job, booking)
    return reconcile(job, booking)


def run_create(job: Job, booking: Booking, teams: ConnectionView | None,
               calendar: ConnectionView | None) -> Outcome:
    """The link, then the event in a linked calendar, then catch up with what changed meanwhile."""
    plan = plan_create(booking.as_row(), teams, calendar)
    if plan.nothing_to_do and plan.link_source is LinkSource.NONE:
        return Outcome("skipped", "nothing to do", booking.link_state)
    snapshot_rev = revision_of(booking)

    # 1. the link
    if plan.link_source is LinkSource.EVENT_WITH_TEAMS:
        made = link_from_event(job, booking, plan, calendar)
        if made is None:  # the calendar connection broke: the meeting without it, the missing event shown
            booking = note_sync_error(job, booking, reasons.REASON_CALENDAR_RECONNECT)
            return run_create(job, booking, teams, None)
        result = made
    else:
        result = _link_without_event(job, booking, plan.link_source, teams)
    booking = store_link_result(job, booking, result, snapshot_rev)
    booking = flush_outbox(job, booking)
    booking = apply_meeting_options(job, booking)  # rule 25: right after the meeting exists

    # 2. the event in a linked Microsoft calendar of another account (or without a meeting)
    if plan.write_event or plan.update_event_link:
        booking = write_calendar_event(job, booking, plan)

    # 3. catch up with what happened meanwhile (rescheduled / cancelled during the calls)
    fresh = job.load() or booking
    if is_cancelled(fresh) and has_graph_objects(fresh) and not fresh.graph_cancelled:
        cancel_graph(job, fresh)
    elif has_graph_objects(fresh) and synced_revision(fresh) < revision_of(fresh):
        sync_times(job, fresh)
    state = fresh.link_state or ""
    return Outcome("event" if result.empty else state, "create handled", state)


def _link_without_event(job: Job, booking: Booking, source: LinkSource,
                        teams: ConnectionView | None) -> LinkResult:
    """The link of every plan but the same-account event: an online meeting, a static link, or why none."""
    if source is LinkSource.ONLINE_MEETING:
        return link_from_online_meeting(job, booking, teams)
    if source is LinkSource.NO_CONNECTION:
        reauth = teams is not None and teams.status == "needs_reauth"
        reason = reasons.REASON_REAUTH if reauth else reasons.REASON_NOT_CONNECTED
        return LinkResult(link_state=LinkState.AWAITING_CONNECTION.value, link_reason=reason)
    if source is LinkSource.STATIC:
        return LinkResult(link_state=LinkState.STATIC.value, meeting_url=static_url(booking.as_row()))
    return LinkResult()


def link_from_event(job: Job, booking: Booking, plan: CreatePlan,
                    calendar: ConnectionView | None) -> LinkResult | None:
    """Rule 8, same account: ONE ``POST .../events`` with ``isOnlineMeeting``; link = ``onlineMeeting.joinUrl``."""
    body = event_with_teams_body(booking.as_row(), job.calendar_name(booking))
    try:
        event = job.call(CALENDAR, lambda t: job.deps.graph.create_event(t, body, calendar_id=plan.calendar_id))
    except (ReauthRequired, NotConnected):
        log.info("meetings: calendar connection unusable, using an online meeting ws=%s booking=%s",
                 job.ws, job.booking_id)
        return None
    except GraphRejected as exc:
        return LinkResult(link_state=LinkState.FAILED.value, link_reason=reasons.reason_rejected(exc))
    event_id = str(event.get("id") or "")
    if event_id:  # before the booking records it: the inbound worker finds the booking by it
        event_index.record(job.deps.store, job.ws, job.host, event_id, job.booking_id)
    join = join_url_of_event(event)
    no_teams = event.get("isOnlineMeeting") is False  # Outlook made no Teams meeting: no join URL ever comes
    if not join and event_id and not no_teams:
        again = job.call(CALENDAR, lambda t: job.deps.graph.get_event_online_meeting(t, event_id))
        join = join_url_of_event(again)
    result = LinkResult(graph_event_id=event_id or None, invitation_channel="outlook", event_carries_link=bool(join))
    if calendar is not None:  # the same account as the Teams connection: the meeting's organizer
        result.organizer_oid, result.organizer_tid = calendar.account_oid or None, calendar.account_tid or None
    if join:
        result.link_state, result.meeting_url = LinkState.CREATED.value, join
    elif no_teams:  # the account cannot organize Teams meetings: flagged on its connection, as on createOrGet's 403
        job.deps.mark_teams_unavailable(job.ws, job.host, reasons.REASON_TEAMS_UNAVAILABLE)
        result.link_state, result.link_reason = LinkState.FAILED.value, reasons.REASON_TEAMS_UNAVAILABLE
    elif job.msg.attempt < JOIN_URL_ATTEMPTS:
        # Outlook adds the Teams meeting to an event asynchronously: ask again later through the queue (the
        # event's transactionId makes the repeated POST return this same event), before anything fails.
        log.info("meetings: event without join URL yet, re-queued (attempt %s) ws=%s booking=%s",
                 job.msg.attempt, job.ws, job.booking_id)
        raise Throttled("the event's Teams join URL is not there yet", retry_after=JOIN_URL_RETRY_SECONDS)
    else:
        log.warning("meetings: event without join URL ws=%s booking=%s", job.ws, job.booking_id)
        result.link_state, result.link_reason = LinkState.FAILED.value, reasons.REASON_NO_JOIN_URL_EVENT
    return result


def link_from_online_meeting(job: Job, booking: Booking, teams: ConnectionView | None) -> LinkResult:
    """``POST /me/onlineMeetings/createOrGet`` with the booking's ``externalId``; link = ``joinWebUrl``."""
    row = booking.as_row()
    body = online_meeting_body(row, job.calendar_name(booking))
    try:
        meeting = job.call(TEAMS, lambda t: job.deps.graph.create_or_get_online_meeting(t, body))
    except ReauthRequired:
        return LinkResult(link_state=LinkState.AWAITING_CONNECTION.value, link_reason=reasons.REASON_REAUTH)
    except NotConnected:
        return LinkResult(link_state=LinkState.AWAITING_CONNECTION.value, link_reason=reasons.REASON_NOT_CONNECTED)
    except TeamsUnavailable:
        job.deps.mark_teams_unavailable(job.ws, job.host, reasons.REASON_TEAMS_UNAVAILABLE)
        return LinkResult(link_state=LinkState.FAILED.value, link_reason=reasons.REASON_TEAMS_UNAVAILABLE)
    except GraphRejected as exc:
        return LinkResult(link_state=LinkState.FAILED.value, link_reason=reasons.reason_rejected(exc))
    join = join_url_of_online_meeting(meeting)
    meeting_id = str(meeting.get("id") or "")
    if meeting_id and meeting_times_differ(row, meeting):
        # createOrGet answers 200 with the meeting of this externalId as it is: move it to the booking's times
        patch = online_meeting_times_patch(row)
        job.call(TEAMS, lambda t: job.deps.graph.update_online_meeting(t, meeting_id, patch))
    result = LinkResult(online_meeting_id=meeting_id or None)
    if teams is not None:
        result.organizer_oid, result.organizer_tid = teams.account_oid or None, teams.account_tid or None
    if join:
        result.link_state, result.meeting_url = LinkState.CREATED.value, join
    else:
        result.link_state, result.link_reason = LinkState.FAILED.value, reasons.REASON_NO_JOIN_URL_MEETING
    return result


def _with_event(event_id: str, link: str, snapshot_rev: int, current: Booking) -> Booking | None:
    """``current`` recording the event made in the linked calendar (``None`` when one is recorded)."""
    if current.graph_event_id or not event_id:
        return None
    prev = synced_revision(current)
    return replace(current, graph_event_id=event_id, invitation_channel="ics", event_carries_link=bool(link),
                   graph_sync_error=None,
                   graph_synced_revision=snapshot_rev if prev < 0 else min(prev, snapshot_rev))


def write_calendar_event(job: Job, booking: Booking, plan: CreatePlan) -> Booking:
    """Create the event in the linked calendar (carrying the link, no attendees), or add the link to it."""
    link = booking.meeting_url or ""
    teams_link = booking.link_state == LinkState.CREATED.value
    row = booking.as_row()
    snapshot_rev = revision_of(booking)
    try:
        if not booking.graph_event_id:
            body = calendar_event_body(row, link, teams_link=teams_link, calendar_name=job.calendar_name(booking))
            event = job.call(CALENDAR, lambda t: job.deps.graph.create_event(t, body, calendar_id=plan.calendar_id))
            event_id = str(event.get("id") or "")
            if event_id:
                event_index.record(job.deps.store, job.ws, job.host, event_id, job.booking_id)
            return apply(job, booking, lambda cur: _with_event(event_id, link, snapshot_rev, cur))
        if link and not booking.event_carries_link:
            patch = event_link_patch(row, link, teams_link=teams_link)
            graph_event_id = booking.graph_event_id
            job.call(CALENDAR, lambda t: job.deps.graph.update_event(t, graph_event_id, patch))
            return apply(job, booking, lambda cur: replace(cur, event_carries_link=True, graph_sync_error=None))
    except (ReauthRequired, NotConnected):
        return note_sync_error(job, booking, reasons.REASON_CALENDAR_RECONNECT)
    except NotFound:
        return note_sync_error(job, booking, "The calendar event of this booking was deleted in Outlook.")
    except GraphRejected as exc:
        return note_sync_error(job, booking, f"Microsoft Graph refused the calendar event "
                                             f"({exc.graph_code or exc.status}).")
    return booking
