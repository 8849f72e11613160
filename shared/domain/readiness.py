"""Can a calendar deliver what it promises? Pure rules behind ``GET .../calendars/{calendar}/diagnostics``.

A calendar is *ready* only when it can offer a time at all (weekly hours) and every member can produce
what the calendar promises: free/busy when a calendar provider is set, a Teams meeting when the member's
location is Teams (a connected Teams account). Each problem is one sentence saying what to do.
"""
from __future__ import annotations

from typing import Any

TEAMS = "teams"
CONNECTED = "connected"


def calendar_problems(config: Any) -> list[str]:
    """Problems of the calendar itself (``config``: a ``CalendarConfig``)."""
    if not any(config.weekly_hours.values()):
        return ["the calendar has no weekly hours, so it never offers a time: add weekly_hours"]
    return []


def member_problems(user: str, meeting_location: str, teams_connection: str, free_busy: dict[str, Any],
                    linked_calendar_problem: str | None = None) -> list[str]:
    """Problems of one member: ``teams_connection`` is the Teams connection's status (``missing`` when never
    connected); ``free_busy`` is ``{"readable": bool, "reason": str | None}``; ``linked_calendar_problem``: what
    the last check of the member's linked Outlook calendar found (rule 26: it does not allow Teams meetings)."""
    problems: list[str] = []
    if meeting_location == TEAMS and teams_connection != CONNECTED:
        problems.append(f"{user} meets on Microsoft Teams but has no working Teams connection "
                        f"({teams_connection}): send {user} a Teams connect link; until then bookings get no link")
    if meeting_location == TEAMS and linked_calendar_problem:
        problems.append(f"{user}: {linked_calendar_problem}")
    if not free_busy.get("readable", False):
        problems.append(f"{user}'s free/busy cannot be read ({free_busy.get('reason') or 'unknown reason'}), "
                        "so their times are treated as busy")
    return problems
