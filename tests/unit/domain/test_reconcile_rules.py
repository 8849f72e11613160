"""``shared.domain.reconcile``: desired vs recorded state -> actions, the back-off, the due index (pure)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain import reconcile as rc
from shared.domain.meeting_plan import ConnectionView
from shared.domain.reconcile import Action

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TEAMS = ConnectionView("connected", "oid-1", "tid-1")
CAL_SAME = ConnectionView("connected", "oid-1", "tid-1", "cal-1")
CAL_OTHER = ConnectionView("connected", "oid-2", "tid-1", "")


def booking(**overrides: Any) -> dict[str, Any]:
    base = {"id": "b1", "workspace": "ws1", "calendar_type": "personal", "calendar_timezone": "UTC",
            "location": "teams", "link_state": "pending", "start_utc": "2026-03-08T14:00:00Z",
            "end_utc": "2026-03-08T14:45:00Z", "status": "confirmed", "revision": 1}
    base.update(overrides)
    return base


LINKED = {"link_state": "created", "meeting_url": "https://teams.example/j/1", "online_meeting_id": "m1",
          "graph_synced_revision": 1}


@pytest.mark.parametrize("name,b,teams,cal,expected", [
    ("pending booking needs its link", booking(), TEAMS, None, (Action.CREATE,)),
    ("retrying booking is tried again", booking(link_state="retrying"), TEAMS, None, (Action.CREATE,)),
    ("awaiting: still create (it records why there is no link)", booking(link_state="awaiting_connection"),
     None, None, (Action.CREATE,)),
    ("linked and in sync: converged", booking(**LINKED), TEAMS, None, ()),
    ("linked, times behind after a reschedule", booking(**{**LINKED, "revision": 2}), TEAMS, None,
     (Action.SYNC_TIMES,)),
    ("linked, a calendar connected later misses its event", booking(**LINKED), TEAMS, CAL_OTHER,
     (Action.CREATE,)),
    ("cancelled with a live meeting", booking(**LINKED, status="cancelled"), TEAMS, None, (Action.CANCEL,)),
    ("cancelled, already cancelled in Graph", booking(**LINKED, status="cancelled", graph_cancelled=True),
     TEAMS, None, ()),
    ("cancelled before any meeting existed", booking(status="cancelled"), TEAMS, None, ()),
    ("past and still pending: explained", booking(start_utc="2026-03-01T14:00:00Z"), TEAMS, None,
     (Action.EXPIRE,)),
    ("past and linked: never touched", booking(**{**LINKED, "revision": 2}, start_utc="2026-03-01T14:00:00Z"),
     TEAMS, None, ()),
    ("failed (a permanent cause) waits for a person", booking(link_state="failed"), TEAMS, None, ()),
    ("no Teams location, no calendar: nothing", booking(location="none", link_state="not_applicable"),
     None, None, ()),
    ("custom link not stored yet", booking(location="custom", custom_url="https://x.example/r",
                                           link_state="static"), None, None, (Action.CREATE,)),
])
def test_decide(name: str, b: dict[str, Any], teams: Any, cal: Any, expected: tuple[Action, ...]) -> None:
    decision = rc.decide(b, teams, cal, NOW)
    assert decision.actions == expected, name
    assert decision.converged is (expected == ())


@pytest.mark.parametrize("failures,minutes", [(1, 1), (2, 2), (3, 4), (4, 8), (6, 32), (7, 60), (8, 60),
                                              (40, 60), (0, 1)])
def test_back_off_doubles_from_one_minute_to_one_hour(failures: int, minutes: int) -> None:
    assert rc.retry_delay(failures) == timedelta(minutes=minutes)


def test_next_attempt_is_never_after_the_start_and_stops_once_it_is_too_late() -> None:
    far = NOW + timedelta(days=3)
    assert rc.next_attempt_at(3, NOW, far) == NOW + timedelta(minutes=4)
    soon = NOW + timedelta(minutes=10)
    assert rc.next_attempt_at(5, NOW, soon) == soon - rc.RETRY_BEFORE_START
    assert rc.next_attempt_at(1, NOW, NOW + timedelta(seconds=30)) is None
    assert rc.next_attempt_at(1, NOW, None) == NOW + timedelta(minutes=1)


def test_due_row_key_orders_by_time_and_parses_back() -> None:
    early = rc.due_entity(NOW, "ws1", "h1", "b1", 3)
    late = rc.due_entity(NOW + timedelta(minutes=1), "ws1", "a0", "a0", 1)
    assert early["RowKey"] < late["RowKey"]
    row = rc.DueRow.from_entity({**early, "_etag": "e"})
    assert row is not None and (row.workspace, row.host, row.booking_id, row.revision) == ("ws1", "h1", "b1", 3)
    assert row.due_at == "2026-03-02T08:00:00Z" and row.etag == "e"
    assert not row.recently_enqueued(NOW, timedelta(minutes=10))
    claimed = rc.DueRow.from_entity({**early, "enqueued_at": "2026-03-02T07:55:00Z"})
    assert claimed is not None and claimed.recently_enqueued(NOW, timedelta(minutes=10))
    for bad in ("x|ws|h|b", "2026-03-02T08:00:00Z|ws|h", "2026-03-02T08:00:00Z|ws||b"):
        assert rc.DueRow.from_entity({"RowKey": bad}) is None
