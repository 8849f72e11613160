"""Health: does the app reach Table and Queue storage?"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.errors import BookbridgeError
from shared.version import VERSION


def check_health(ping_tables: Callable[[], None], ping_queues: Callable[[], None]) -> dict[str, Any]:
    """``{"status", "version", "storage": {"tables": {...}, "queues": {...}}}``; never raises."""
    storage: dict[str, Any] = {}
    for name, ping in (("tables", ping_tables), ("queues", ping_queues)):
        try:
            ping()
            storage[name] = {"reachable": True}
        except BookbridgeError as exc:
            storage[name] = {"reachable": False, "reason": exc.code}
        except Exception as exc:  # noqa: BLE001 - health must answer whatever failed
            storage[name] = {"reachable": False, "reason": type(exc).__name__}
    healthy = all(s["reachable"] for s in storage.values())
    return {"status": "healthy" if healthy else "unhealthy", "version": VERSION, "storage": storage}
