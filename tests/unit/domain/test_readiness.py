"""Can a calendar deliver what it promises (diagnostics' ``ready`` and ``problems``, issue 21)."""
from __future__ import annotations

from shared.domain.readiness import calendar_problems, member_problems
from tests.unit.domain.helpers import config

READABLE = {"readable": True, "reason": None}


def test_a_calendar_stored_without_weekly_hours_is_a_problem() -> None:
    assert calendar_problems(config()) == []
    (problem,) = calendar_problems(config(weekly_hours={}))
    assert "no weekly hours" in problem and "add weekly_hours" in problem


def test_a_teams_member_needs_a_connected_teams_account() -> None:
    assert member_problems("alice", "teams", "connected", READABLE) == []
    for status in ("missing", "needs_reauth", "disconnected"):
        (problem,) = member_problems("alice", "teams", status, READABLE)
        assert f"({status})" in problem and "Teams connect link" in problem
    assert member_problems("bob", "custom", "missing", READABLE) == []  # no Teams promised


def test_unreadable_free_busy_is_a_problem_with_its_reason() -> None:
    (problem,) = member_problems("carol", "none", "missing", {"readable": False, "reason": "not connected"})
    assert "carol's free/busy cannot be read (not connected)" in problem
