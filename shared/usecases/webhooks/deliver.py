"""One delivery attempt: sign the stored body, POST it, record the attempt, and retry later or settle.

At least once, never twice after a success: the state row is read first (a delivered or failed delivery,
or an attempt already made, is acknowledged), then claimed for this attempt (ETag); a copy arriving while
another works on the same attempt waits behind it on the queue. A failure is retried with back-off by
re-queueing the message with a visibility delay (the copy is put before the attempt is recorded, so a lost
write only repeats an attempt) until 24 hours after the first attempt; then the delivery is ``failed``.
A loopback, private or reserved target (outside local development) or an undecryptable secret fails at once.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from shared.domain import webhooks as rules
from shared.errors import ConcurrencyConflict, EntityExists, NotFound, UndecryptableSecret
from shared.ports import Entity, WebhookAnswer, iso_utc, parse_iso_utc
from shared.repositories import webhooks as repo
from shared.usecases.queue_messages import is_json_int
from shared.usecases.webhooks.deps import DELIVERIES_QUEUE, WebhookDeps
from shared.version import VERSION

log = logging.getLogger("bookbridge.webhooks")

#: A claim younger than this is another copy at work: this copy waits as long on the queue.
CLAIM_SECONDS = 60


@dataclass(frozen=True)
class DeliveryMessage:
    """``{"workspace", "webhook", "instance", "delivery", "attempt"}``."""

    workspace: str
    webhook: str
    instance: str
    delivery: str
    attempt: int = 1

    @staticmethod
    def parse(data: Any) -> DeliveryMessage:
        """``ValueError`` naming what is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("message is not a JSON object")
        values = [data.get(k) for k in ("workspace", "webhook", "instance", "delivery")]
        if not all(isinstance(v, str) and v and "|" not in v for v in values):
            raise ValueError("workspace, webhook, instance and delivery must be non-empty strings without '|'")
        attempt = data.get("attempt", 1)
        if not is_json_int(attempt) or attempt < 1:
            raise ValueError("attempt must be a positive integer")
        ws, hook, instance, delivery = (str(v) for v in values)
        return DeliveryMessage(ws, hook, instance, delivery, attempt=attempt)

    def to_dict(self) -> dict[str, Any]:
        """The queue form."""
        return {"workspace": self.workspace, "webhook": self.webhook, "instance": self.instance,
                "delivery": self.delivery, "attempt": self.attempt}


@dataclass(frozen=True)
class Result:
    """One attempt's answer and whether retrying could help."""

    answer: WebhookAnswer
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.answer.status is not None and 200 <= self.answer.status < 300


def target(deps: WebhookDeps, url: str) -> tuple[str | None, str | None]:
    """Why the webhook's URL may not be reached now (SSRF: every address it resolves to must be public
    outside local development), else ``None`` and the checked address to connect to (the POST never resolves
    the name again: no DNS rebinding between the check and the connection; ``None`` in local development)."""
    problem = rules.url_problem(url, local_development=deps.local_development)
    if problem or deps.local_development:
        return problem and "url_refused", None
    parts = urlsplit(url)
    assert deps.transport is not None
    addresses = deps.transport.resolve(parts.hostname or "", parts.port or 443)
    if not addresses:
        return "unresolved", None  # it does not resolve (now): retried
    if not all(rules.address_allowed(a, local_development=False) for a in addresses):
        return "address_refused", None
    return None, addresses[0]


def attempt(deps: WebhookDeps, hook: repo.Webhook, row: Entity, now: datetime) -> Result:
    """Sign and POST the delivery's body once."""
    problem, address = target(deps, hook.url)
    if problem == "unresolved":
        return Result(WebhookAnswer(None, problem))
    if problem:
        return Result(WebhookAnswer(None, problem), permanent=True)
    try:
        secret = deps.cipher.decrypt(hook.secret)
    except UndecryptableSecret:
        return Result(WebhookAnswer(None, "secret_undecryptable"), permanent=True)
    body = str(row.get("body") or "").encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": f"bookbridge-webhooks/{VERSION}",
               rules.SIGNATURE_HEADER: rules.signature_header(secret, int(now.timestamp()), body),
               "Bookbridge-Delivery": str(row["RowKey"]).removeprefix(repo.DELIVERY_PREFIX),
               "Bookbridge-Event": str(row.get("event_type") or "")}
    assert deps.transport is not None
    return Result(deps.transport.post(hook.url, body, headers, address))


def claim(deps: WebhookDeps, msg: DeliveryMessage, row: Entity, now: datetime) -> Entity | None:
    """The row claimed for ``msg.attempt`` (ETag), or ``None`` when another copy holds a fresh claim (this
    one is put back behind it) or won the claim."""
    claimed_at = row.get("claimed_at")
    if row.get("claimed_attempt") == msg.attempt and claimed_at and (
            now - parse_iso_utc(str(claimed_at)) < timedelta(seconds=CLAIM_SECONDS)):
        deps.queue.send(DELIVERIES_QUEUE, msg.to_dict(), visibility_timeout=CLAIM_SECONDS)
        return None
    changes = {"claimed_attempt": msg.attempt, "claimed_at": iso_utc(now),
               "first_attempt_at": row.get("first_attempt_at") or iso_utc(now)}
    claimed = {**row, **changes}
    try:
        claimed["_etag"] = deps.store.update(repo.DELIVERIES, claimed, row.get("_etag"))
    except (ConcurrencyConflict, NotFound):
        return None
    return claimed


def settle(deps: WebhookDeps, msg: DeliveryMessage, row: Entity, result: Result, now: datetime) -> str:
    """Re-queue a retry (first), record the attempt and the delivery's state; the outcome."""
    delay = None
    if not result.ok and not result.permanent:
        delay = rules.retry_delay(parse_iso_utc(str(row["first_attempt_at"])), now, msg.attempt)
    outcome = "delivered" if result.ok else "retrying" if delay is not None else "failed"
    next_at = iso_utc(now + timedelta(seconds=delay)) if delay is not None else None
    if delay is not None:
        deps.queue.send(DELIVERIES_QUEUE, replace(msg, attempt=msg.attempt + 1).to_dict(), visibility_timeout=delay)
    at, answer = iso_utc(now), result.answer
    record = {"status_code": answer.status, "error": answer.error, "next_attempt_at": next_at}
    attempt_row = {"PartitionKey": row["PartitionKey"], "RowKey": repo.attempt_rk(now, msg.delivery, msg.attempt),
                   "delivery_id": msg.delivery, "event_id": row.get("event_id"), "event_type": row.get("event_type"),
                   "attempt": msg.attempt, "at": at, "outcome": outcome, "duration_ms": answer.duration_ms, **record}
    try:
        deps.store.insert(repo.DELIVERIES, attempt_row)
    except EntityExists:
        pass
    state = {**row, "status": "pending" if delay is not None else outcome, "attempts": msg.attempt,
             "last_attempt_at": at, "last_status_code": answer.status, "last_error": answer.error,
             "next_attempt_at": next_at}
    try:
        deps.store.update(repo.DELIVERIES, state, row.get("_etag"))
    except (ConcurrencyConflict, NotFound):
        log.warning("webhooks: delivery %s changed while attempt %d ran", msg.delivery, msg.attempt)
    return outcome


def handle_delivery_message(deps: WebhookDeps, data: Any) -> str:
    """Make one attempt of one delivery (if it is still due); what happened, for logs and tests."""
    try:
        msg = DeliveryMessage.parse(data)
    except ValueError as exc:
        log.error("webhookdeliveries: invalid message dropped: %s", exc)
        return "invalid"
    hook = repo.get_webhook(deps.store, msg.workspace, msg.webhook)
    if hook is None or hook.instance != msg.instance:
        return "webhook deleted"
    row = repo.get_delivery(deps.store, hook, msg.delivery)
    if row is None or row.get("status") != "pending" or int(row.get("attempts") or 0) >= msg.attempt:
        return "already " + str((row or {}).get("status") or "gone")
    now = deps.clock.now()
    claimed = claim(deps, msg, row, now)
    if claimed is None:
        return "in flight"
    outcome = settle(deps, msg, claimed, attempt(deps, hook, claimed, now), now)
    log.info("webhooks: delivery %s attempt %d %s ws=%s webhook=%s", msg.delivery, msg.attempt, outcome,
             msg.workspace, msg.webhook)
    return outcome


def handle_delivery_poison(deps: WebhookDeps, data: Any) -> str:
    """A delivery message the worker kept failing on (storage trouble): the delivery is recorded ``failed``."""
    try:
        msg = DeliveryMessage.parse(data)
    except ValueError:
        return "invalid"
    hook = repo.get_webhook(deps.store, msg.workspace, msg.webhook)
    row = repo.get_delivery(deps.store, hook, msg.delivery) if hook and hook.instance == msg.instance else None
    if row is None or row.get("status") != "pending":
        return "nothing to record"
    row = {**row, "first_attempt_at": row.get("first_attempt_at") or iso_utc(deps.clock.now())}
    return settle(deps, replace(msg, attempt=max(msg.attempt, int(row.get("attempts") or 0) + 1)), row,
                  Result(WebhookAnswer(None, "worker_failed"), permanent=True), deps.clock.now())
