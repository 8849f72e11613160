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
``awaiting_connection`` for the backfill sweep; 403 on Teams (or, on the same-account event path, an event
Outlook made without a Teams meeting: ``isOnlineMeeting`` false) marks it ``failed`` and the connection
``teams_unavailable``; other transient errors are raised for the host to retry, and the poison handler
(:func:`handle_poison_message`) leaves the booking ``retrying`` with its next attempt in the due index
(``shared.usecases.reconcile``), or its ``graph_sync_error`` with one. ``create`` and the sweep's
``reconcile`` go through the reconciler (``shared.usecases.reconcile.runner``), and so do ``reschedule`` and
``cancel`` (rule 17: every trigger; the steps above are the reconciler's ``sync_times`` / ``cancel_graph``).

Layout: ``deps`` (ports, limits, :class:`Job`), ``messages``, ``reasons``, ``writes`` (the ``Booking``),
``create``, ``sync`` (reschedule, cancel), ``failure`` (re-queue, give up), ``worker`` (entry points).
"""
from __future__ import annotations

from shared.domain.backoff import default_backoff
from shared.ports import AccessTokenPort, BookingRepository, ConnectionPort, MeetingsGraph, TeamsUnavailablePort
from shared.repositories.bookings import TableBookings
from shared.usecases.meetings.deps import (
    COMMUNICATIONS_QUEUE,
    HOST_MAX_DEQUEUE_COUNT,
    MAX_ATTEMPTS,
    MEETINGS_QUEUE,
    MeetingDeps,
)
from shared.usecases.meetings.messages import MeetingMessage, Outcome
from shared.usecases.meetings.reasons import (
    REASON_NO_JOIN_URL_EVENT,
    REASON_NO_JOIN_URL_MEETING,
    REASON_NOT_CONNECTED,
    REASON_PAST,
    REASON_REAUTH,
    REASON_TEAMS_UNAVAILABLE,
)
from shared.usecases.meetings.worker import handle_meeting_message, handle_poison_message

__all__ = [
    "AccessTokenPort", "BookingRepository", "ConnectionPort", "MeetingDeps", "MeetingMessage", "MeetingsGraph",
    "Outcome", "TableBookings", "TeamsUnavailablePort", "handle_meeting_message", "handle_poison_message",
    "MEETINGS_QUEUE", "COMMUNICATIONS_QUEUE", "MAX_ATTEMPTS", "HOST_MAX_DEQUEUE_COUNT",
    "REASON_NO_JOIN_URL_EVENT", "REASON_NO_JOIN_URL_MEETING", "REASON_NOT_CONNECTED", "REASON_PAST",
    "REASON_REAUTH", "REASON_TEAMS_UNAVAILABLE", "default_backoff",
]
