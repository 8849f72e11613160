"""Recovering what a lapse or a ``missed`` notification hid (rule 19): a delta query over the host's window.

A full ``calendarView/delta`` round over ``[now, now + RECOVERY_WINDOW_DAYS)`` lists the host's upcoming
events as Outlook has them now. Every upcoming booking of the host whose event is watched
(:func:`shared.domain.inbound.watched`) and is missing from the round, cancelled, declined or at other times
gets an ``inbound`` ``change`` message for its event: the same path as a notification, so the event is
re-read and rule 19 applied once.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from shared.domain import inbound as rules
from shared.repositories import bookings as repo
from shared.usecases.inbound.changes import MAX_HOST_BOOKINGS
from shared.usecases.inbound.deps import CALENDAR, INBOUND_QUEUE, RECOVERY_WINDOW_DAYS, InboundDeps

log = logging.getLogger("bookbridge.inbound")


def recover(deps: InboundDeps, workspace: str, user: str) -> int:
    """Queue a ``change`` for each watched booking whose event differs from it; returns how many."""
    now = deps.clock.now()
    token = deps.access_token(workspace, user, CALENDAR)
    events = {str(e.get("id")): e for e in deps.graph.calendar_view_delta(
        token, now, now + timedelta(days=RECOVERY_WINDOW_DAYS)) if e.get("id")}
    prefix = repo.BOOKING_PREFIX
    queued = 0
    for row in deps.store.query(repo.SCHEDULE, repo.schedule_pk(workspace, user), row_key_from=prefix,
                                row_key_to=prefix[:-1] + "}", limit=MAX_HOST_BOOKINGS):
        if rules.watched(row, now) is not None:
            continue
        event_id = str(row["graph_event_id"])
        if rules.decide(row, events.get(event_id), now).action == rules.IGNORE:
            continue
        deps.queue.send(INBOUND_QUEUE, {"op": "change", "workspace": workspace, "user": user,
                                        "event_id": event_id, "change_type": "recovered", "subscription_id": ""})
        queued += 1
    log.info("inbound: recovery ws=%s user=%s events=%d queued=%d", workspace, user, len(events), queued)
    return queued


__all__ = ["recover"]
