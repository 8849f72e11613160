"""What housekeeping may delete, purely: rows that nothing will read again, in the tables that grow with traffic.

* ``ratelimits``: a counter whose fixed window has ended. Its next hit starts the new window at 1 whether
  the row is there or not, so deleting it changes no decision (the limiter re-creates it).
* ``authflows`` and ``connectlinks``: a one-time row (a sign-in flow, a connect or admin-consent link) one
  day past its ``expires_at``. Until then a late visitor is still told the link expired rather than that it
  is unknown; after it, the encrypted sign-in state of a flow nobody finished is gone too.
* ``webhookdeliveries``: an attempt row older than :data:`DELIVERY_RETENTION`, and a delivery's state row
  settled (``delivered`` or ``failed``) that long ago. A pending delivery is never touched.

Bookings, connections, calendars and consents are records, not traffic: nothing here deletes them.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

#: How long an expired one-time row is kept (a late visitor still reads "expired").
EXPIRED_ROW_GRACE = timedelta(days=1)
#: How long ``GET .../webhooks/{id}/deliveries`` can look back.
DELIVERY_RETENTION = timedelta(days=30)
#: Deletes of one housekeeping run (each one storage request); the next run goes on from there.
MAX_DELETES_PER_RUN = 5000
#: Delivery states that will not change again.
SETTLED_DELIVERY_STATES = frozenset({"delivered", "failed"})


def rate_limit_window_over(partition_key: str, window: Any, now: datetime) -> bool:
    """True when the counter row ``{limit}|{period seconds}|{key hash}`` counts a window that has ended.

    A row this module cannot read (another layout, no window) is never judged over.
    """
    parts = partition_key.split("|")
    try:
        period, index = int(parts[1]), int(window)
    except (IndexError, TypeError, ValueError):
        return False
    if period <= 0:
        return False
    return index < int(now.timestamp() // period)


def delivery_row_expired(row: Mapping[str, Any], cutoff: str, *, attempt_prefix: str, delivery_prefix: str) -> bool:
    """True when a ``webhookdeliveries`` row is past retention (``cutoff``: an ISO instant, see the module doc)."""
    row_key = str(row.get("RowKey") or "")
    if row_key.startswith(attempt_prefix):
        return _before(row.get("at"), cutoff)
    if row_key.startswith(delivery_prefix):
        return row.get("status") in SETTLED_DELIVERY_STATES and _before(row.get("last_attempt_at"), cutoff)
    return False


def _before(value: Any, cutoff: str) -> bool:
    return isinstance(value, str) and bool(value) and value < cutoff
