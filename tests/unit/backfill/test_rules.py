"""The sweep's selection rules (``shared.domain.backfill``): pure, no storage."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain import backfill as rules
from shared.domain.backfill import Decision, IndexRow

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
START = "2026-11-25T09:00:00Z"


def booking(**over):
    b = {"id": "b1", "workspace": "ws", "host": "alice", "status": "confirmed", "location": "teams",
         "calendar_type": "personal", "link_state": "awaiting_connection", "start_utc": START}
    b.update(over)
    return b


def row(**over):
    e = {"PartitionKey": "ws|alice", "RowKey": f"{START}|b1", "_etag": "e1"}
    e.update(over)
    parsed = IndexRow.from_entity(e)
    assert parsed is not None
    return parsed


def test_an_upcoming_teams_booking_awaiting_a_connection_is_a_candidate():
    assert rules.decide(row(), booking(), workspace="ws", host="alice", now=NOW, generation=2) == \
        rules.Verdict(Decision.ENQUEUE, "candidate")


@pytest.mark.parametrize("calendar_type", ["personal", "round_robin", "collective", "service"])
def test_every_dynamic_link_calendar_type_is_eligible(calendar_type):
    v = rules.candidate_verdict(booking(calendar_type=calendar_type), workspace="ws", host="alice", now=NOW)
    assert v.decision is Decision.ENQUEUE


@pytest.mark.parametrize("over, reason", [
    ({"status": "cancelled"}, "cancelled"),
    ({"meeting_url": "https://teams.microsoft.com/l/meetup-join/x"}, "has_link"),
    ({"location": "none"}, "not_teams"),          # made before Teams was chosen as the location
    ({"location": "custom"}, "not_teams"),
    ({"calendar_type": "class"}, "calendar_type"),
    ({"calendar_type": "event"}, "calendar_type"),
    ({"calendar_type": "bogus"}, "calendar_type"),
    ({"link_state": "created"}, "link_state"),
    ({"link_state": "failed"}, "link_state"),
    ({"link_state": "not_applicable"}, "link_state"),
    ({"link_state": "static"}, "link_state"),
    ({"link_state": "pending"}, "link_state"),
    ({"start_utc": "2026-11-23T08:00:00Z"}, "past"),  # starting right now is too late
    ({"start_utc": "2026-11-22T09:00:00Z"}, "past"),
    ({"workspace": "other"}, "other_host"),
    ({"host": "bob"}, "other_host"),
])
def test_everything_else_is_stale_and_never_touched(over, reason):
    v = rules.candidate_verdict(booking(**over), workspace="ws", host="alice", now=NOW)
    assert v == rules.Verdict(Decision.STALE, reason)


def test_a_missing_booking_is_stale():
    assert rules.decide(row(), None, workspace="ws", host="alice", now=NOW, generation=1).reason == "missing"


def test_a_row_left_behind_by_a_reschedule_is_stale_even_for_a_candidate():
    moved = booking(start_utc="2026-11-26T09:00:00Z")
    assert rules.decide(row(), moved, workspace="ws", host="alice", now=NOW, generation=1) == \
        rules.Verdict(Decision.STALE, "moved")


def test_a_recent_claim_of_the_same_generation_waits_an_older_one_or_another_generation_does_not():
    claimed = row(enqueued_at="2026-11-23T07:55:00Z", enqueued_generation=2)
    v = rules.decide(claimed, booking(), workspace="ws", host="alice", now=NOW, generation=2)
    assert v == rules.Verdict(Decision.WAIT, "recently_enqueued")
    assert rules.decide(claimed, booking(), workspace="ws", host="alice", now=NOW, generation=3).decision \
        is Decision.ENQUEUE  # a new connection since: try again at once
    later = NOW + rules.REENQUEUE_AFTER
    assert rules.decide(claimed, booking(), workspace="ws", host="alice", now=later, generation=2).decision \
        is Decision.ENQUEUE
    assert rules.decide(claimed, booking(), workspace="ws", host="alice", now=NOW, generation=2,
                        reenqueue_after=timedelta(0)).decision is Decision.ENQUEUE


def test_a_claimed_row_that_became_stale_is_stale_not_waiting():
    claimed = row(enqueued_at="2026-11-23T07:55:00Z", enqueued_generation=2)
    v = rules.decide(claimed, booking(status="cancelled"), workspace="ws", host="alice", now=NOW, generation=2)
    assert v.decision is Decision.STALE


@pytest.mark.parametrize("rk", ["", "nobar", "|b1", f"{START}|", f"{START}|b1|x"])
def test_malformed_index_keys_are_not_parsed(rk):
    assert IndexRow.from_entity({"PartitionKey": "ws|alice", "RowKey": rk}) is None


def test_index_row_parts_and_pastness():
    r = row(enqueued_generation=True)  # a bool is not a generation
    assert (r.start_utc, r.booking_id, r.etag, r.enqueued_generation) == (START, "b1", "e1", None)
    assert not rules.index_row_is_past(r, NOW)
    assert rules.index_row_is_past(r, datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    assert rules.index_row_is_past(row(RowKey="not-a-date|b1"), NOW)


def test_connection_helpers():
    assert rules.is_connected({"status": "connected"}) and not rules.is_connected({"status": "needs_reauth"})
    assert not rules.is_connected(None)
    assert rules.generation_of({"connected_generation": 4}) == 4 and rules.generation_of(None) == 0
    assert rules.split_host_key("ws|alice") == ("ws", "alice")
    assert rules.split_host_key("ws") is None and rules.split_host_key("ws|a|b") is None
