"""The communications worker: confirmation, reminders, link updates, reschedule/cancel notices, host
notices and the e-mailed .ics of collective co-hosts without a calendar (``cohost_invite``: ``cohosts``), each
sent exactly once per booking and kind (and co-host).

Messages on the ``communications`` queue are wake-ups (docs/architecture.md): ``{"kind", "workspace",
"host", "booking_id", "revision", "offset_minutes"?, "due_at"?, "attempt"?}``. The worker reads the
booking and renders every message from its *current* state, so the link in a message is always the
one stored on the booking (rule 14).

**Sent-records** (table ``commsent``, PK ``{ws}|{booking_id}``, RK ``{kind}|{revision}[|{suffix}]``;
the suffix is the offset of a reminder and the link state of a host notice). A send is claimed before
it happens:

1. insert a ``sending`` row (conditional insert). ``EntityExists``: if the row is ``sent`` (or
   ``failed``: permanently refused) the message is a duplicate and is acknowledged; if it is a
   ``sending`` claim younger than :data:`STALE_CLAIM` another delivery is sending right now: a copy
   of the message is re-queued for when the claim would be stale; if the claim is older, the attempt
   that made it crashed mid-send and this one takes it over (ETag-conditional, so one taker wins);
2. send the mail. Its Message-ID (and ACS ``Operation-Id``) is derived from the idempotency key
   ``{ws}|{booking_id}|{row key}``, so the one case where a message can reach the server twice (a
   crash after the server accepted it and before step 3, or a timeout after acceptance) carries the
   same Message-ID both times and is recognisable as one message;
3. mark the row ``sent`` and (confirmation, reschedule, link update) queue the reminders; a
   redelivery that finds the row ``sent`` queues them again if their marker row is missing.

Transient send failures release the claim and re-queue a copy with ``attempt+1`` after
``max(Retry-After, back-off)`` (no sleep); after :data:`MAX_ATTEMPTS` they count as permanent.
Permanent failures (``DeliveryRejected``) mark the row ``failed`` and record ``delivery_error``
(``{kind}:{code}``, never the address) on the booking. Storage errors propagate: the host retries, and
the poison handler (:func:`handle_poison_message`) records ``delivery_error`` on the booking.

**Which message is sent**: ``confirmation`` once per booking, when the link state is final (for
``pending`` the meeting worker sends it later); ``link_update`` and ``reschedule`` send the confirmation
instead while none went out; a ``link_update`` whose link some sent message already carried (kept as
a hash, ``link_sha``) sends nothing; ``reminder`` only for the booking's current revision, before
the start; ``reschedule`` only for the current revision; ``cancellation`` only for a cancelled
booking (nothing else is sent once cancelled); ``host_notice`` to the host user while the link is
``awaiting_connection``/``failed``. The .ics (REQUEST; CANCEL for a cancellation; UID per booking,
SEQUENCE = revision) is attached unless Outlook invited the invitee (``invitation_channel ==
"outlook"`` or ``invitation_sent_by_graph``) and no .ics of ours went out before.

**Reminders** are scheduled without a sweep: after the confirmation / reschedule notice, one
``reminder`` message per calendar offset is queued, invisible until it is due (capped: see
``shared.domain.reminders``); an early arrival re-queues itself with the remaining delay. A marker
row ``reminders|{revision}`` in ``commsent`` keeps a revision's reminders from being queued twice.

Layout: ``deps`` (ports, limits, :class:`Job`), ``messages``, ``decide`` (pure: which message to send),
``sent_records`` (claims, keys, ``delivery_error``), ``compose`` (rendering), ``reminders``, ``worker``
(entry points).
"""
from __future__ import annotations

from shared.usecases.communications.compose import manage_url
from shared.usecases.communications.deps import (
    COMMSENT,
    COMMUNICATIONS_QUEUE,
    MAX_ATTEMPTS,
    STALE_CLAIM,
    CommsDeps,
    comms_backoff,
    sent_pk,
)
from shared.usecases.communications.messages import KINDS, CommsMessage, Outcome
from shared.usecases.communications.sent_records import (
    idempotency_key,
    link_fingerprint,
    record_delivery_error,
    reminders_rk,
    sent_rk,
)
from shared.usecases.communications.worker import handle_communication, handle_poison_message

__all__ = [
    "COMMSENT", "COMMUNICATIONS_QUEUE", "CommsDeps", "CommsMessage", "KINDS",
    "MAX_ATTEMPTS", "Outcome", "STALE_CLAIM", "comms_backoff", "handle_communication",
    "handle_poison_message", "idempotency_key", "link_fingerprint", "manage_url", "record_delivery_error",
    "reminders_rk", "sent_pk", "sent_rk",
]
