"""The reconciler (rules 16-17): one use case that brings a booking's Graph objects in line with it.

Every trigger goes through it: the ``meetings`` messages of intake, reschedule and cancel, a reconnect
(the backfill sweep's ``create``), the timer sweep's due retries (``due``), and a manual repair. The
decisions are ``shared.domain.reconcile`` (pure); this package runs them and keeps the index of due work.
"""
from __future__ import annotations

from shared.usecases.reconcile.due import MAX_DUE_ROWS, DueRun, drop, enqueue_due, schedule

__all__ = ["DueRun", "MAX_DUE_ROWS", "drop", "enqueue_due", "schedule"]
