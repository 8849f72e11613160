"""Rules 10-12: bookings, buffers and provider free/busy remove slots; round robin and collective."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from shared.domain.availability import (
    BusyBlock,
    Interval,
    MemberAvailability,
    SlotOffer,
    candidate_slots,
    free_slots,
    member_is_free,
    window_utc,
)
from shared.domain.calendar_config import CalendarConfig
from shared.domain.model import CalendarProvider, CalendarType
from tests.unit.domain.helpers import BERLIN, config, member, utc

MONDAY = date(2025, 6, 2)  # Berlin is UTC+2: 09:00-12:00 local = 07:00Z-10:00Z


def at(hour: int, minute: int = 0) -> datetime:
    return utc(2025, 6, 2, hour, minute)


def iv(h1: int, m1: int, h2: int, m2: int) -> Interval:
    return Interval(at(h1, m1), at(h2, m2))


def monday_candidates(cfg: CalendarConfig) -> list[Interval]:
    return candidate_slots(cfg, window_utc(MONDAY, MONDAY, BERLIN), utc(2025, 1, 1))


def offered(cfg: CalendarConfig, availability: dict[str, MemberAvailability],
            bookings: dict[str, list[Interval]] | None = None) -> list[SlotOffer]:
    return free_slots(cfg, monday_candidates(cfg), availability, bookings or {})


def offered_starts(offers: list[SlotOffer]) -> list[tuple[int, int]]:
    return [(o.interval.start.hour, o.interval.start.minute) for o in offers]


ALL_STARTS = [(7, 0), (7, 30), (8, 0), (8, 30), (9, 0), (9, 30)]


def free(user: str, *busy: Interval) -> MemberAvailability:
    return MemberAvailability(user, busy)


# ---------------------------------------------------------------- provider statuses
@pytest.mark.parametrize("status", ["busy", "tentative", "oof"])
def test_blocking_statuses_remove_the_slot(status: str) -> None:
    avail = MemberAvailability.from_blocks("alice", [BusyBlock(at(7, 30), at(8, 0), status)])
    assert offered_starts(offered(config(), {"alice": avail})) == [(7, 0), (8, 0), (8, 30), (9, 0), (9, 30)]


@pytest.mark.parametrize("status", ["free", "workingElsewhere", "unknown"])
def test_non_blocking_statuses_keep_the_slot(status: str) -> None:
    avail = MemberAvailability.from_blocks("alice", [BusyBlock(at(7, 30), at(8, 0), status)])
    assert avail.busy == ()
    assert offered_starts(offered(config(), {"alice": avail})) == ALL_STARTS


@pytest.mark.parametrize("status", ["Free", "WorkingElsewhere", "FREE", " free "])
def test_free_busy_statuses_are_read_without_case(status: str) -> None:
    """Page "calendar: getSchedule": its example answers statuses capitalised ("Busy", "Free")."""
    avail = MemberAvailability.from_blocks("alice", [BusyBlock(at(7, 30), at(8, 0), status)])
    assert avail.busy == ()
    assert MemberAvailability.from_blocks("alice", [BusyBlock(at(7, 30), at(8, 0), "Busy")]).busy != ()


@pytest.mark.parametrize("status", [None, "somethingNew"])
def test_null_or_unrecognised_status_blocks(status: str | None) -> None:
    avail = MemberAvailability.from_blocks("alice", [BusyBlock(at(7, 30), at(8, 0), status)])
    assert (7, 30) not in offered_starts(offered(config(), {"alice": avail}))


def test_outlook_busy_block_removes_every_slot_it_touches_but_not_neighbours() -> None:
    avail = free("alice", iv(7, 40, 7, 50), iv(8, 30, 9, 15))
    assert offered_starts(offered(config(), {"alice": avail})) == [(7, 0), (8, 0), (9, 30)]


def test_busy_block_touching_a_slot_does_not_remove_it() -> None:
    avail = free("alice", iv(6, 0, 7, 0), iv(10, 0, 11, 0))
    assert offered_starts(offered(config(), {"alice": avail})) == ALL_STARTS


def test_zero_length_items_are_ignored_and_blocks_merge() -> None:
    avail = MemberAvailability.from_blocks("alice", [
        BusyBlock(at(7, 0), at(7, 0), "busy"), BusyBlock(at(8, 0), at(8, 30), "busy"),
        BusyBlock(at(8, 15), at(9, 0), "oof")])
    assert avail.busy == (iv(8, 0, 9, 0),)


# ---------------------------------------------------------------- bookings and buffers
def test_existing_booking_removes_its_slot() -> None:
    offers = offered(config(), {"alice": free("alice")}, {"alice": [iv(8, 0, 8, 30)]})
    assert offered_starts(offers) == [(7, 0), (7, 30), (8, 30), (9, 0), (9, 30)]


def test_another_members_booking_does_not_matter() -> None:
    offers = offered(config(), {"alice": free("alice")}, {"bob": [iv(8, 0, 8, 30)]})
    assert offered_starts(offers) == ALL_STARTS


def test_buffer_after_protects_time_after_an_existing_booking() -> None:
    cfg = config(slot_interval_minutes=15, buffer_after_minutes=15)
    offers = offered(cfg, {"alice": free("alice")}, {"alice": [iv(8, 0, 8, 30)]})
    starts = offered_starts(offers)
    # 07:15-07:45 + 15 after = 08:00: fits; 08:30 sits in the booking's own after-buffer
    assert (7, 15) in starts and (8, 45) in starts
    assert not {(7, 30), (7, 45), (8, 0), (8, 15), (8, 30)} & set(starts)


def test_buffer_before_protects_time_before_the_new_slot() -> None:
    cfg = config(slot_interval_minutes=15, buffer_before_minutes=15)
    offers = offered(cfg, {"alice": free("alice")}, {"alice": [iv(8, 0, 8, 30)]})
    starts = offered_starts(offers)
    # 08:30 needs 08:15-08:30 free: taken; 08:45 fine; 07:30-08:00 sits in the booking's before-buffer
    assert (7, 15) in starts and (8, 45) in starts
    assert not {(7, 30), (7, 45), (8, 0), (8, 15), (8, 30)} & set(starts)


def test_buffers_around_outlook_busy_pad_only_the_new_slot() -> None:
    cfg = config(slot_interval_minutes=15, buffer_after_minutes=15)
    starts = offered_starts(offered(cfg, {"alice": free("alice", iv(8, 0, 8, 30))}))
    # slot end + 15 must not reach into the meeting; right after it is fine
    assert (7, 15) in starts and (8, 30) in starts
    assert not {(7, 30), (7, 45), (8, 0), (8, 15)} & set(starts)


def test_without_buffers_adjacent_slots_stay() -> None:
    starts = offered_starts(offered(config(slot_interval_minutes=15), {"alice": free("alice")},
                                    {"alice": [iv(8, 0, 8, 30)]}))
    assert (7, 30) in starts and (8, 30) in starts and (7, 45) not in starts


# ---------------------------------------------------------------- fail closed
def test_unreadable_member_is_entirely_busy() -> None:
    avail = MemberAvailability.unreadable("alice", "needs_reauth: refresh token expired")
    assert offered(config(), {"alice": avail}) == []
    assert avail.reason == "needs_reauth: refresh token expired" and not avail.readable


def test_missing_availability_fails_closed_for_a_microsoft_member() -> None:
    assert offered(config(), {}) == []


def test_missing_availability_is_fine_for_a_member_without_provider() -> None:
    cfg = config(members=(member("alice", calendar_provider=CalendarProvider.NONE),))
    assert offered_starts(offered(cfg, {})) == ALL_STARTS
    assert offered_starts(offered(cfg, {}, {"alice": [iv(7, 0, 7, 30)]}))[0] == (7, 30)


# ---------------------------------------------------------------- round robin / collective
TEAM = (member("alice"), member("bob"))
SPLIT = {"alice": free("alice", iv(7, 0, 8, 0), iv(9, 0, 9, 30)), "bob": free("bob", iv(8, 0, 9, 30))}


def test_round_robin_offers_the_union_with_the_free_members() -> None:
    offers = offered(config(type=CalendarType.ROUND_ROBIN, members=TEAM), SPLIT)
    assert [(offered_starts([o])[0], o.free_members) for o in offers] == [
        ((7, 0), ("bob",)), ((7, 30), ("bob",)), ((8, 0), ("alice",)), ((8, 30), ("alice",)),
        ((9, 30), ("alice", "bob"))]


def test_collective_offers_only_the_intersection() -> None:
    offers = offered(config(type=CalendarType.COLLECTIVE, members=TEAM), SPLIT)
    assert [(offered_starts([o])[0], o.free_members) for o in offers] == [((9, 30), ("alice", "bob"))]


def test_round_robin_with_an_unreadable_member_offers_only_the_readable_one() -> None:
    avail = {"alice": free("alice", iv(7, 0, 8, 0)), "bob": MemberAvailability.unreadable("bob", "disconnected")}
    offers = offered(config(type=CalendarType.ROUND_ROBIN, members=TEAM), avail)
    assert offered_starts(offers) == [(8, 0), (8, 30), (9, 0), (9, 30)]
    assert {o.free_members for o in offers} == {("alice",)}


def test_collective_with_an_unreadable_member_offers_nothing() -> None:
    avail = {"alice": free("alice"), "bob": MemberAvailability.unreadable("bob", "needs_reauth")}
    assert offered(config(type=CalendarType.COLLECTIVE, members=TEAM), avail) == []


@pytest.mark.parametrize("kind", [CalendarType.SERVICE, CalendarType.CLASS, CalendarType.EVENT])
def test_other_multi_member_types_need_any_member(kind: CalendarType) -> None:
    offers = offered(config(type=kind, members=TEAM), SPLIT)
    assert len(offers) == 5 and offered_starts(offers)[0] == (7, 0)


def test_calendar_without_members_offers_nothing() -> None:
    assert offered(config(members=()), {}) == []


# ---------------------------------------------------------------- re-check at confirmation
def test_member_is_free_rechecks_one_member() -> None:
    cfg = config(buffer_after_minutes=15)
    slot = iv(8, 0, 8, 30)
    assert member_is_free(cfg, "alice", slot, free("alice"), [])
    assert not member_is_free(cfg, "alice", slot, free("alice", iv(8, 20, 8, 40)), [])
    assert not member_is_free(cfg, "alice", slot, free("alice"), [iv(8, 30, 9, 0)])  # after-buffer
    assert not member_is_free(cfg, "alice", slot, MemberAvailability.unreadable("alice", "x"), [])
    assert not member_is_free(cfg, "alice", slot, None, [])

