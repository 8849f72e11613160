"""Request and response bodies of the webhooks API, validated with pydantic.

Imported inside handlers only. The rules (which URLs, which events, how long a secret) live in
``shared.domain.webhooks``; the use case checks them too (the URL rule depends on local development).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from shared.domain.webhooks import EVENT_TYPES, MAX_SECRET_LENGTH, MAX_URL_LENGTH, MIN_SECRET_LENGTH

EventType = Literal["booking.created", "booking.rescheduled", "booking.cancelled", "meeting_link.created",
                    "meeting_link.changed", "meeting_link.failed", "connection.connected",
                    "connection.needs_reauth", "connection.disconnected"]
assert tuple(EventType.__args__) == EVENT_TYPES  # type: ignore[attr-defined]


class WebhookIn(BaseModel):
    """``PUT /api/workspaces/{workspace}/webhooks/{webhook}``: ``secret`` is required when the webhook is
    created; a replacement without it keeps the stored one. It is never returned."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: StrictStr = Field(min_length=1, max_length=MAX_URL_LENGTH,
                           description="https URL receiving the POSTs (http too in local development)")
    events: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES))
    secret: StrictStr | None = Field(default=None, min_length=MIN_SECRET_LENGTH, max_length=MAX_SECRET_LENGTH,
                                     description="signs every delivery (Bookbridge-Signature); write-only")


class WebhookOut(BaseModel):
    """A webhook (never its secret)."""

    workspace: str
    webhook: str
    url: str
    events: list[EventType]
    secret_set: bool
    created_at: str
    updated_at: str


class DeliveryAttemptOut(BaseModel):
    """One delivery attempt."""

    delivery_id: str
    event_id: str | None = None
    event_type: str | None = None
    attempt: int
    at: str
    outcome: Literal["delivered", "retrying", "failed"]
    status_code: int | None = Field(default=None, description="the receiver's HTTP status; null: no answer")
    error: str | None = Field(default=None, description="why there was no answer (timeout, refused, ...)")
    duration_ms: int | None = None
    next_attempt_at: str | None = None


class DeliveriesOut(BaseModel):
    """The newest delivery attempts of a webhook, newest first (at most 50)."""

    workspace: str
    webhook: str
    deliveries: list[DeliveryAttemptOut]
