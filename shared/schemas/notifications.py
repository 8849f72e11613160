"""Bodies Microsoft Graph POSTs to the notification routes (``changeNotificationCollection``), and our answer.

Imported inside handlers only. Graph may add properties: unknown ones are kept out of the way (ignored), so
a new Graph field never turns a notification into a 422 that Graph would retry for hours.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_ITEMS = 100


class ChangeNotificationIn(BaseModel):
    """One ``changeNotification``: a change (``changeType``, ``resource``) or a lifecycle event."""

    model_config = ConfigDict(extra="ignore")

    subscriptionId: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9-]+$")  # noqa: N815 - Graph's
    clientState: str | None = Field(default=None, max_length=256)  # noqa: N815
    changeType: str | None = Field(default=None, max_length=64)  # noqa: N815
    resource: str | None = Field(default=None, max_length=2048)
    lifecycleEvent: str | None = Field(default=None, max_length=64)  # noqa: N815
    tenantId: str | None = Field(default=None, max_length=64)  # noqa: N815
    subscriptionExpirationDateTime: str | None = Field(default=None, max_length=64)  # noqa: N815
    resourceData: dict[str, Any] | None = None  # noqa: N815


class ChangeNotificationCollectionIn(BaseModel):
    """``changeNotificationCollection``: ``value`` (``validationTokens`` only with resource data, unused)."""

    model_config = ConfigDict(extra="ignore")

    value: list[ChangeNotificationIn] = Field(min_length=1, max_length=MAX_ITEMS)


class NotificationsAcceptedOut(BaseModel):
    """202: how many notifications were queued and how many dropped (unknown subscription, wrong clientState)."""

    enqueued: int
    dropped: int
