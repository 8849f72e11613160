"""The communications worker: confirmation, reminders, link updates, reschedule/cancel notices and host
notices, each sent exactly once per booking and kind.

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
"""
from __future__ import annotations

import hashlib
import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Protocol
from urllib.parse import quote

from shared.domain import reminders as reminder_rules
from shared.domain.model import BookingStatus, LinkState
from shared.errors import ConcurrencyConflict, DeliveryRejected, NotFound, TransientError
from shared.ports import Clock, Entity, EntityExists, EntityStore, MessageQueue, iso_utc, parse_iso_utc
from shared.repositories import bookings as bookings_repo
from shared.repositories import calendars as calendars_repo
from shared.repositories import workspaces as workspaces_repo
from shared.repositories.bookings import Booking
from shared.usecases import booking_events, queue_messages
from shared.usecases.queue_messages import BookingMessage, WorkerOutcome, is_json_int, json_object, parse_envelope

log = logging.getLogger("bookbridge.communications")

COMMUNICATIONS_QUEUE = booking_events.COMMUNICATIONS_QUEUE
COMMUNICATIONS_POISON_QUEUE = "communications-poison"
COMMSENT = "commsent"

KINDS = ("confirmation", "reminder", "link_update", "reschedule", "cancellation", "host_notice")
#: Kinds sent to the invitee that carry the current link and times (and may carry the .ics REQUEST).
_INVITEE_UPDATES = ("confirmation", "link_update", "reschedule")

#: A ``sending`` claim older than this belongs to an attempt that crashed (> functionTimeout of 5 min).
STALE_CLAIM = timedelta(minutes=10)
#: Delivery attempts (transient failures, busy claims) before a message counts as undeliverable.
MAX_ATTEMPTS = 8
#: Longest back-off of a re-queued copy after a transient failure (seconds).
MAX_BACKOFF_SECONDS = 3600
#: ETag races tolerated when writing ``delivery_error`` on a booking.
MAX_WRITE_RACES = 5

SENDING, SENT, FAILED, SCHEDULED = "sending", "sent", "failed", "scheduled"

#: Added to the reason of a host notice about a missing connection (how to reconnect).
HOST_NOTICE_FIX = ("Reconnect Microsoft Teams in your bookbridge settings; if you cannot, ask your "
                   "workspace admin for a new connect link.")


# ================================================================================ ports
class TokenSigner(Protocol):
    """``shared.adapters.signing.Signer``."""

    def sign(self, purpose: str, payload: dict[str, Any]) -> str: ...


class MailSender(Protocol):
    """``shared.mail.transport.MailTransport``: raises ``DeliveryRejected`` or ``TransientError``."""

    def send(self, message: Any) -> None: ...


def default_backoff(attempt: int) -> float:
    """Back-off after ``attempt`` (1-based) failed: 30 s, 60 s, 120 s, ... (+ up to 20 % jitter), capped."""
    base = min(float(MAX_BACKOFF_SECONDS), 30.0 * 2.0 ** max(0, attempt - 1))
    return base + random.uniform(0, base / 5)


@dataclass
class CommsDeps:
    """Everything the worker needs (``functions/communications_worker.py`` builds the real ones)."""

    store: EntityStore
    queue: MessageQueue
    mail: MailSender
    clock: Clock
    signer: TokenSigner
    public_base_url: str = "http://127.0.0.1:7071"
    mail_from: str = "bookings@bookbridge.local"
    stale_claim: timedelta = STALE_CLAIM
    max_attempts: int = MAX_ATTEMPTS
    backoff: Callable[[int], float] = default_backoff


# ================================================================================ messages
@dataclass(frozen=True)
class CommsMessage(BookingMessage):
    """A parsed ``communications`` queue message: the shared envelope, its ``kind`` and, for a
    ``reminder``, ``offset_minutes`` and ``due_at``."""

    kind: str
    offset_minutes: int | None = None
    due_at: str | None = None

    @classmethod
    def parse(cls, data: Any) -> "CommsMessage":
        """Validate a message; ``ValueError`` names what is wrong."""
        data = json_object(data)
        kind = data.get("kind")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        envelope = parse_envelope(data, max_id_length=200)
        offset, due = data.get("offset_minutes"), data.get("due_at")
        if kind == "reminder":
            if not is_json_int(offset) or offset <= 0:
                raise ValueError("a reminder needs a positive offset_minutes")
            if not isinstance(due, str):
                raise ValueError("a reminder needs due_at")
            try:
                parse_iso_utc(due)
            except ValueError:
                raise ValueError("due_at must be an ISO-8601 instant") from None
        else:
            offset, due = None, None
        return cls(kind=kind, offset_minutes=offset, due_at=due, **envelope)

    def to_dict(self) -> dict[str, Any]:
        """The queue form (``attempt`` only after the first)."""
        optional: dict[str, Any] = {}
        if self.offset_minutes is not None:
            optional["offset_minutes"] = self.offset_minutes
        if self.due_at is not None:
            optional["due_at"] = self.due_at
        return self.queue_dict({"kind": self.kind}, optional)


@dataclass(frozen=True)
class Outcome(WorkerOutcome):
    """What one message did, and the kind it sent (or would have sent)."""

    sent_kind: str | None = None


# ================================================================================ keys and records
def sent_pk(workspace: str, booking_id: str) -> str:
    """Partition of a booking's sent-records."""
    return f"{workspace}|{booking_id}"


def sent_rk(kind: str, revision: int, suffix: str | int | None = None) -> str:
    """Row key of a sent-record: ``{kind}|{revision}[|{suffix}]``."""
    return f"{kind}|{int(revision)}" + (f"|{suffix}" if suffix not in (None, "") else "")


def reminders_rk(revision: int) -> str:
    """Row key of the marker saying a revision's reminders were queued."""
    return f"reminders|{int(revision)}"


def idempotency_key(workspace: str, booking_id: str, row_key: str) -> str:
    """The idempotency key of one message (its Message-ID and ACS Operation-Id derive from it)."""
    return f"{workspace}|{booking_id}|{row_key}"


def link_fingerprint(url: str | None) -> str:
    """A short hash of a link (what a sent-record keeps to know the invitee has this link)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:24] if url else ""


def _rows_of(rows: Iterable[Entity], kind: str, state: str | None = SENT) -> list[Entity]:
    return [r for r in rows if str(r.get("RowKey", "")).startswith(f"{kind}|")
            and (state is None or r.get("state") == state)]


# ================================================================================ booking helpers
def _link_of(b: Booking) -> str | None:
    """The meeting link the messages show: the stored one, for ``created`` and ``static`` links."""
    if b.meeting_url and b.link_state in (LinkState.CREATED.value, LinkState.STATIC.value):
        return b.meeting_url
    return None


def _graph_invited(b: Booking) -> bool:
    """True when Outlook (Graph) sent the invitee the invitation (rule 8): then no .ics of ours."""
    extra = b.extra
    return extra.get("invitation_sent_by_graph") is True or extra.get("invitation_channel") == "outlook"


def _is_cancelled(b: Booking) -> bool:
    return b.status == BookingStatus.CANCELLED.value


def manage_url(deps: CommsDeps, b: Booking) -> str:
    """``{PUBLIC_BASE_URL}/api/bookings/{id}?token={manage token}`` (the booking API's token)."""
    from shared.usecases.booking import manage_token

    token = manage_token(deps.signer, b)
    base = (deps.public_base_url or "").rstrip("/")
    return f"{base}/api/bookings/{quote(b.id, safe='')}?token={quote(token, safe='')}"


# ================================================================================ decisions
@dataclass(frozen=True)
class _Send:
    kind: str            # the kind rendered and recorded (may differ from the message's kind)
    row_key: str
    to_host: bool = False


@dataclass(frozen=True)
class _Skip:
    reason: str
    action: str = "skipped"


@dataclass(frozen=True)
class _Later:
    delay: int
    reason: str
    count_attempt: bool = False


def _decide(msg: CommsMessage, b: Booking, rows: list[Entity], now: datetime,
            stale_claim: timedelta) -> _Send | _Skip | _Later:
    """What to do with ``msg`` given the booking and its sent-records (pure)."""
    rev = msg.revision
    confirmation_sent = bool(_rows_of(rows, "confirmation"))

    if msg.kind == "cancellation":
        if not _is_cancelled(b):
            return _Skip("booking is not cancelled")
        return _Send("cancellation", sent_rk("cancellation", rev))
    if _is_cancelled(b):
        return _Skip("booking is cancelled")

    if msg.kind == "confirmation":
        if b.link_state == LinkState.PENDING.value:
            return _Skip("link pending: the meeting worker sends the confirmation")
        if confirmation_sent:
            return _Skip("confirmation already sent", "duplicate")
        return _Send("confirmation", sent_rk("confirmation", rev))

    if msg.kind == "reminder":
        assert msg.offset_minutes is not None and msg.due_at is not None
        if b.revision != rev:
            return _Skip("booking moved: reminders of the new revision replace this one")
        if reminder_rules.is_too_late(b.start_utc, now):
            return _Skip("meeting already started")
        delay = reminder_rules.requeue_delay(parse_iso_utc(msg.due_at), now)
        if delay is not None:
            return _Later(delay, "reminder not due yet")
        return _Send("reminder", sent_rk("reminder", rev, msg.offset_minutes))

    if msg.kind == "link_update":
        link = _link_of(b)
        if not link:
            return _Skip("no link to announce")
        if not confirmation_sent:
            busy = _fresh_claims(_rows_of(rows, "confirmation", SENDING), now, stale_claim)
            if busy:
                return _Later(busy, "confirmation being sent", count_attempt=True)
            return _Send("confirmation", sent_rk("confirmation", rev))
        fingerprint = link_fingerprint(link)
        if any(r.get("link_sha") == fingerprint for r in rows if r.get("state") == SENT):
            return _Skip("the invitee already has this link")
        return _Send("link_update", sent_rk("link_update", rev))

    if msg.kind == "reschedule":
        if rev < b.revision:
            return _Skip("a newer change follows")
        if not confirmation_sent:
            if b.link_state == LinkState.PENDING.value:
                return _Skip("link pending: the meeting worker's confirmation carries the new time")
            return _Send("confirmation", sent_rk("confirmation", rev))
        return _Send("reschedule", sent_rk("reschedule", rev))

    # host_notice
    if b.link_state not in (LinkState.AWAITING_CONNECTION.value, LinkState.FAILED.value):
        return _Skip("the link problem is resolved")
    return _Send("host_notice", sent_rk("host_notice", rev, b.link_state), to_host=True)


def _fresh_claims(claims: list[Entity], now: datetime, stale_claim: timedelta) -> int:
    """Seconds until the youngest of ``claims`` goes stale (0 when none is fresh)."""
    waits = []
    for claim in claims:
        age = _claim_age(claim, now)
        if age < stale_claim:
            waits.append(int((stale_claim - age).total_seconds()) + 5)
    return max(waits, default=0)


def _claim_age(claim: Mapping[str, Any], now: datetime) -> timedelta:
    try:
        return now - parse_iso_utc(str(claim.get("claimed_at") or ""))
    except ValueError:
        return timedelta.max


# ================================================================================ the worker
@dataclass
class _Mail:
    """A rendered message ready for the transport, plus what its sent-record keeps."""

    message: Any
    link_sha: str = ""
    ics_method: str = ""


@dataclass(frozen=True)
class _Claim:
    """``claimed`` (``row`` is ours, ``etag`` its ETag), ``done`` (``row`` is sent or failed) or ``busy``
    (another delivery holds a fresh claim: try again in ``wait`` seconds)."""

    status: str
    row: Entity
    etag: str = ""
    wait: int = 0


@dataclass
class _Worker:
    deps: CommsDeps
    msg: CommsMessage
    rows: list[Entity] = field(default_factory=list)

    @property
    def pk(self) -> str:
        return sent_pk(self.msg.workspace, self.msg.booking_id)

    def ids(self) -> str:
        return f"ws={self.msg.workspace} booking={self.msg.booking_id} kind={self.msg.kind} rev={self.msg.revision}"

    # ------------------------------------------------------------------ storage
    def load_booking(self) -> Booking | None:
        return bookings_repo.get_booking(self.deps.store, self.msg.workspace, self.msg.host, self.msg.booking_id)

    def load_rows(self) -> list[Entity]:
        self.rows = list(self.deps.store.query(COMMSENT, self.pk))
        return self.rows

    def claim(self, send: _Send) -> _Claim:
        """Claim the sent-record of ``send`` (see the module doc)."""
        now = self.deps.clock.now()
        row: Entity = {"PartitionKey": self.pk, "RowKey": send.row_key, "state": SENDING, "kind": send.kind,
                       "revision": self.msg.revision, "claimed_at": iso_utc(now),
                       "claim_id": uuid.uuid4().hex, "attempt": self.msg.attempt}
        for _ in range(3):
            try:
                return _Claim("claimed", row, etag=self.deps.store.insert(COMMSENT, row))
            except EntityExists:
                pass
            existing = self.deps.store.get(COMMSENT, self.pk, send.row_key)
            if existing is None:
                continue  # released in between: claim again
            if existing.get("state") in (SENT, FAILED):
                return _Claim("done", existing)
            age = _claim_age(existing, now)
            if age < self.deps.stale_claim:
                return _Claim("busy", existing, wait=int((self.deps.stale_claim - age).total_seconds()) + 5)
            takeover = {**row, "takeovers": int(existing.get("takeovers") or 0) + 1}
            try:
                etag = self.deps.store.update(COMMSENT, takeover, existing.get("_etag"))
            except (ConcurrencyConflict, NotFound):
                continue
            log.warning("communications: stale claim taken over (resend with the same Message-ID) %s", self.ids())
            return _Claim("claimed", takeover, etag=etag)
        return _Claim("busy", row, wait=30)

    def mark(self, row: Entity, state: str, **fields: Any) -> None:
        """Record the outcome of a claim (unconditional merge: the send happened either way)."""
        entity = {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], "state": state, **fields}
        try:
            self.deps.store.update(COMMSENT, entity, merge=True)
        except NotFound:
            self.deps.store.upsert(COMMSENT, {**row, **entity})

    def release(self, row: Entity, etag: str) -> None:
        """Give a claim back after a transient failure (only if it is still ours)."""
        try:
            self.deps.store.delete(COMMSENT, row["PartitionKey"], row["RowKey"], etag)
        except ConcurrencyConflict:
            pass

    def record_delivery_error(self, kind: str, code: str) -> bool:
        return record_delivery_error(self.deps, self.msg.workspace, self.msg.host, self.msg.booking_id, kind, code)

    # ------------------------------------------------------------------ reminders
    def ensure_reminders(self, b: Booking) -> int:
        """Queue the reminders of the booking's current revision once; returns how many were queued."""
        if _is_cancelled(b):
            return 0
        marker = reminders_rk(b.revision)
        if any(r.get("RowKey") == marker for r in self.rows) or \
                self.deps.store.get(COMMSENT, self.pk, marker) is not None:
            return 0
        now = self.deps.clock.now()
        record = calendars_repo.get_calendar(self.deps.store, b.workspace, b.calendar)
        offsets = list(record.config.reminder_offsets_minutes) if record is not None else list(b.reminder_offsets)
        planned = reminder_rules.plan_reminders(b.start_utc, offsets, now)
        for item in planned:
            booking_events.send_communication(self.deps.queue, "reminder", b.workspace, b.host, b.id, b.revision,
                                              offset_minutes=item.offset_minutes, due_at=iso_utc(item.due_at),
                                              visibility_timeout=item.delay_seconds)
        try:
            self.deps.store.insert(COMMSENT, {
                "PartitionKey": self.pk, "RowKey": marker, "state": SCHEDULED, "revision": b.revision,
                "offsets": ",".join(str(p.offset_minutes) for p in planned), "scheduled_at": iso_utc(now)})
        except EntityExists:
            pass
        log.info("communications: %d reminder(s) queued ws=%s booking=%s rev=%s", len(planned),
                 b.workspace, b.id, b.revision)
        return len(planned)

    # ------------------------------------------------------------------ composing
    def compose(self, send: _Send, b: Booking) -> _Mail:
        from shared.mail.message import OutgoingMessage
        from shared.mail.templates import BookingView, render

        host_row = workspaces_repo.get_user(self.deps.store, b.workspace, b.host) or {}
        link = _link_of(b)
        host_names = [str(h.get("name") or h.get("user") or "") for h in b.hosts] or \
            [str(host_row.get("name") or b.host)]
        view = BookingView(
            calendar_name=b.calendar_name or b.calendar_slug or "Meeting",
            host_names=host_names,
            invitee_name=b.invitee_name,
            invitee_email=b.invitee_email,
            invitee_timezone=b.invitee_timezone or b.calendar_timezone,
            start_utc=b.start_utc,
            end_utc=b.end_utc,
            meeting_url=link,
            link_state=b.link_state,
            link_reason=self._reason(send, b),
            manage_url=None if send.to_host or send.kind == "cancellation" else manage_url(self.deps, b),
            notes=b.notes,
            previous_start_utc=_instant(b.extra.get("previous_start_utc")) if send.kind == "reschedule" else None,
            previous_end_utc=_instant(b.extra.get("previous_end_utc")) if send.kind == "reschedule" else None,
            host_timezone=str(host_row.get("timezone") or "") or b.calendar_timezone,
        )
        key = idempotency_key(b.workspace, b.id, send.row_key)
        headers = {"X-Bookbridge-Kind": send.kind}
        if send.to_host:
            to = str(host_row.get("email") or "")
            if not to:
                raise DeliveryRejected("the host has no email address", code="no_recipient")
            rendered = render("host_notice", view, recipient_name=str(host_row.get("name") or "") or None)
            message = OutgoingMessage(to=to, to_name=str(host_row.get("name") or "") or None,
                                      subject=rendered.subject, text=rendered.text, html=rendered.html,
                                      headers=headers, idempotency_key=key)
            return _Mail(message)

        method = self._ics_method(send, b)
        rendered = render(send.kind, view, offset_minutes=self.msg.offset_minutes if send.kind == "reminder" else None,
                          invitation_attached=bool(method))
        attachments = [self._invitation(method, b, link, host_row)] if method else []
        message = OutgoingMessage(to=b.invitee_email, to_name=b.invitee_name, subject=rendered.subject,
                                  text=rendered.text, html=rendered.html, attachments=attachments,
                                  headers=headers, idempotency_key=key)
        carries_link = link if send.kind != "cancellation" else None
        return _Mail(message, link_sha=link_fingerprint(carries_link), ics_method=method)

    def _reason(self, send: _Send, b: Booking) -> str | None:
        if not send.to_host:
            return b.link_reason
        reason = (b.link_reason or "").strip()
        if b.link_state == LinkState.AWAITING_CONNECTION.value:
            return f"{reason} {HOST_NOTICE_FIX}".strip()
        return reason or None

    def _ics_method(self, send: _Send, b: Booking) -> str:
        """``REQUEST``/``CANCEL`` when this message carries our .ics, else ``""``.

        Our .ics goes out when Outlook did not invite the invitee (rule 8), and also whenever an .ics
        of ours was sent before (that event in the invitee's calendar must follow the changes).
        """
        if send.kind not in (*_INVITEE_UPDATES, "cancellation"):
            return ""
        ours_before = any(r.get("ics") for r in self.rows if r.get("state") == SENT)
        if _graph_invited(b) and not ours_before:
            return ""
        return "CANCEL" if send.kind == "cancellation" else "REQUEST"

    def _invitation(self, method: str, b: Booking, link: str | None, host_row: Mapping[str, Any]) -> Any:
        from shared.mail.ics import booking_uid, build_invitation, invitation_attachment
        from shared.mail.message import parse_sender

        organizer_email = str(host_row.get("email") or "")
        organizer_name = str(host_row.get("name") or "") or None
        if not organizer_email:
            organizer_email, organizer_name = parse_sender(self.deps.mail_from)
        hosts = ", ".join(str(h.get("name") or "") for h in b.hosts if h.get("name"))
        summary = b.calendar_name or b.calendar_slug or "Meeting"
        description = f"{summary} with {hosts}." if hosts else summary
        if method == "CANCEL":
            description = f"Cancelled: {description}"
        ics = build_invitation(
            method=method,  # type: ignore[arg-type]
            uid=booking_uid(b.id),
            sequence=max(0, int(b.revision)),
            start_utc=b.start_utc,
            end_utc=b.end_utc,
            summary=summary,
            organizer=(organizer_email, organizer_name),
            attendee=(b.invitee_email, b.invitee_name),
            dtstamp=self.deps.clock.now(),
            description=description,
            url=link if method == "REQUEST" else None,
        )
        return invitation_attachment(ics, method)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ one message
    def run(self) -> Outcome:
        b = self.load_booking()
        if b is None:
            log.warning("communications: booking not found %s", self.ids())
            return Outcome("skipped", "booking not found")
        if self.msg.revision > b.revision:
            raise TransientError("the booking's revision is older than the message's: not visible yet")
        now = self.deps.clock.now()
        self.load_rows()
        decision = _decide(self.msg, b, self.rows, now, self.deps.stale_claim)
        if isinstance(decision, _Skip):
            return Outcome(decision.action, decision.reason)
        if isinstance(decision, _Later):
            if decision.count_attempt:
                return self.retry_later(decision.delay, decision.reason)
            queue_messages.requeue(self.deps.queue, COMMUNICATIONS_QUEUE, self.msg, decision.delay,
                                   count_attempt=False)
            return Outcome("requeued", decision.reason, requeue_delay=decision.delay)
        return self.send(decision, b)

    def send(self, send: _Send, b: Booking) -> Outcome:
        claim = self.claim(send)
        if claim.status == "done":
            if claim.row.get("state") == SENT and send.kind in _INVITEE_UPDATES:
                self.ensure_reminders(b)  # the attempt that sent it may have died before queuing them
            return Outcome("duplicate", f"already {claim.row.get('state')}", send.kind)
        if claim.status == "busy":
            return self.retry_later(claim.wait, "another delivery is sending it")
        row = claim.row
        try:
            mail = self.compose(send, b)
            self.deps.mail.send(mail.message)
        except DeliveryRejected as exc:
            code = _safe_code(exc.code)
            self.mark(row, FAILED, error_code=code, failed_at=iso_utc(self.deps.clock.now()))
            self.record_delivery_error(send.kind, code)
            log.warning("communications: delivery refused (%s) %s", code, self.ids())
            return Outcome("rejected", code, send.kind)
        except TransientError as exc:
            self.release(row, claim.etag)
            return self.retry_later(self._backoff(exc), "transient send failure", kind=send.kind)
        except Exception:
            self.release(row, claim.etag)
            raise
        # Sent: record it first (a later failure must never resend), then queue the reminders (a
        # redelivery finds the record ``sent`` and queues them if the marker row is missing).
        self.mark(row, SENT, sent_at=iso_utc(self.deps.clock.now()), link_sha=mail.link_sha, ics=mail.ics_method,
                  message_id=self.message_id(mail.message.idempotency_key))
        log.info("communications: sent %s %s", send.kind, self.ids())
        if send.kind in _INVITEE_UPDATES:
            self.ensure_reminders(b)
        return Outcome("sent", "", send.kind)

    def message_id(self, key: str | None) -> str:
        """The Message-ID header the transport derives from ``key`` (kept on the sent-record)."""
        from shared.mail.message import message_id_for, parse_sender

        try:
            domain = parse_sender(self.deps.mail_from)[0].rsplit("@", 1)[1]
        except DeliveryRejected:
            domain = "bookbridge"
        return message_id_for(key or "", domain)

    def _backoff(self, exc: TransientError) -> int:
        return queue_messages.retry_delay(exc.retry_after, self.deps.backoff(self.msg.attempt),
                                          cap=MAX_BACKOFF_SECONDS)

    def retry_later(self, delay: int, reason: str, *, kind: str | None = None) -> Outcome:
        """Re-queue with ``attempt+1``; after ``max_attempts`` give up and explain it on the booking."""
        if self.msg.attempt >= self.deps.max_attempts:
            kind = kind or self.msg.kind
            self.record_delivery_error(kind, "retries_exhausted")
            log.warning("communications: gave up after %d attempts %s", self.msg.attempt, self.ids())
            return Outcome("gave_up", reason, kind)
        queue_messages.requeue(self.deps.queue, COMMUNICATIONS_QUEUE, self.msg, delay)
        log.info("communications: re-queued attempt %d in %ds (%s) %s", self.msg.attempt + 1, delay, reason,
                 self.ids())
        return Outcome("requeued", reason, kind, requeue_delay=delay)


def _instant(value: Any) -> datetime | None:
    """An optional stored instant (``None`` when absent or unreadable)."""
    try:
        return parse_iso_utc(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def _safe_code(code: str | None) -> str:
    cleaned = "".join(ch for ch in str(code or "") if ch.isalnum() or ch in "._-")[:64]
    return cleaned or "delivery_rejected"


# ================================================================================ delivery errors
def record_delivery_error(deps: CommsDeps, workspace: str, host: str, booking_id: str, kind: str,
                          code: str) -> bool:
    """Write ``delivery_error = "{kind}:{code}"`` (and ``delivery_error_at``) on the booking, ETag-guarded.

    Returns False when the booking does not exist.
    """
    pk, rk = bookings_repo.schedule_pk(workspace, host), bookings_repo.booking_rk(booking_id)
    value = f"{kind}:{_safe_code(code)}"
    for _ in range(MAX_WRITE_RACES):
        current = deps.store.get(bookings_repo.SCHEDULE, pk, rk)
        if current is None:
            return False
        if current.get("delivery_error") == value:
            return True
        patch = {"PartitionKey": pk, "RowKey": rk, "delivery_error": value,
                 "delivery_error_at": iso_utc(deps.clock.now())}
        try:
            deps.store.update(bookings_repo.SCHEDULE, patch, current.get("_etag"), merge=True)
            log.warning("communications: delivery_error %s recorded ws=%s booking=%s", value, workspace, booking_id)
            return True
        except ConcurrencyConflict:
            continue
        except NotFound:
            return False
    raise ConcurrencyConflict("the booking kept changing while delivery_error was written")


# ================================================================================ entry points
def handle_communication(deps: CommsDeps, message: Any) -> Outcome:
    """Process one ``communications`` message. Returns normally = acknowledge; raises = let the host retry."""
    try:
        msg = CommsMessage.parse(message)
    except ValueError as exc:
        log.error("communications: invalid message dropped: %s", exc)
        return Outcome("invalid", str(exc))
    worker = _Worker(deps, msg)
    outcome = worker.run()
    log.info("communications: %s -> %s (%s) %s", msg.kind, outcome.action, outcome.detail, worker.ids())
    return outcome


def handle_poison_message(deps: CommsDeps, message: Any) -> Outcome:
    """A message that failed ``maxDequeueCount`` times: record ``delivery_error`` on the booking (unless it
    was sent after all, or is a reminder that no longer applies)."""
    try:
        msg = CommsMessage.parse(message)
    except ValueError as exc:
        log.error("communications-poison: invalid message dropped: %s", exc)
        return Outcome("invalid", str(exc))
    worker = _Worker(deps, msg)
    prefix = sent_rk(msg.kind, msg.revision, msg.offset_minutes)
    if any(r.get("state") == SENT and (r["RowKey"] == prefix or r["RowKey"].startswith(prefix + "|"))
           for r in worker.load_rows()):
        return Outcome("skipped", "sent after all", msg.kind)
    if msg.kind == "reminder":
        b = worker.load_booking()
        if b is None or b.revision != msg.revision or _is_cancelled(b):
            return Outcome("skipped", "reminder no longer relevant")
    # A ``sending`` claim the failed attempts may have left is taken over by the next message of
    # that key once stale; the claim is not closed here, so a later link update can still be sent.
    found = worker.record_delivery_error(msg.kind, "retries_exhausted")
    log.warning("communications-poison: %s %s", "delivery_error recorded" if found else "booking gone",
                worker.ids())
    return Outcome("failed", "poison", msg.kind)


__all__ = [
    "COMMSENT", "COMMUNICATIONS_QUEUE", "COMMUNICATIONS_POISON_QUEUE", "CommsDeps", "CommsMessage", "KINDS",
    "MAX_ATTEMPTS", "Outcome", "STALE_CLAIM", "handle_communication",
    "handle_poison_message", "idempotency_key", "link_fingerprint", "manage_url", "record_delivery_error",
    "sent_pk", "sent_rk",
]
