"""Calendar settings: validation problems named by field, and storage round trips."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import time
from typing import Any

import pytest

from shared.domain.calendar_config import (
    CalendarConfig,
    TimeRange,
    format_hhmm,
    is_valid_timezone,
    parse_hhmm,
    validate_calendar,
)
from shared.domain.link_rules import location_refusal
from shared.domain.model import CalendarProvider, CalendarType, MeetingLocation
from tests.unit.domain.helpers import config, hours, member

USERS = {"alice", "bob", "carol"}
TEAMS = MeetingLocation.TEAMS
CUSTOM = MeetingLocation.CUSTOM


def fields(cfg: CalendarConfig, known: set[str] | None = USERS) -> list[str]:
    return [f for f, _ in validate_calendar(cfg, known)]


def test_the_base_config_is_valid() -> None:
    assert validate_calendar(config(), USERS) == []
    team = config(type=CalendarType.ROUND_ROBIN,
                  members=(member("alice", meeting_location=TEAMS), member("bob", weight=3)))
    assert validate_calendar(team, USERS) == []


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("overlapping ranges", {"weekly_hours": {"monday": hours(("09:00", "12:00"), ("11:30", "13:00"))}},
     "weekly_hours.monday[1]"),
    ("overlap reported on the later range", {"weekly_hours": {"friday": hours(("13:00", "15:00"), ("09:00", "13:30"))}},
     "weekly_hours.friday[0]"),
    ("end before start", {"weekly_hours": {"tuesday": hours(("12:00", "09:00"))}}, "weekly_hours.tuesday[0]"),
    ("end equals start", {"weekly_hours": {"tuesday": hours(("09:00", "09:00"))}}, "weekly_hours.tuesday[0]"),
    ("off-grid time", {"weekly_hours": {"monday": hours(("09:02", "12:00"))}}, "weekly_hours.monday[0]"),
    ("range shorter than duration", {"weekly_hours": {"monday": hours(("09:00", "09:15"))}}, "weekly_hours.monday[0]"),
    ("unknown weekday", {"weekly_hours": {"funday": hours(("09:00", "12:00"))}}, "weekly_hours.funday"),
    ("no weekly hours (never bookable)", {"weekly_hours": {}}, "weekly_hours"),
    ("only empty days (never bookable)", {"weekly_hours": {"monday": ()}}, "weekly_hours"),
    ("teams on class", {"type": CalendarType.CLASS, "members": (member("alice", meeting_location=TEAMS),)},
     "members[0].meeting_location"),
    ("teams on event", {"type": CalendarType.EVENT, "members": (member("alice", meeting_location=TEAMS),)},
     "members[0].meeting_location"),
    ("custom without url", {"members": (member("alice", meeting_location=CUSTOM),)}, "members[0].custom_url"),
    ("custom with non-web url", {"members": (member("alice", meeting_location=CUSTOM, custom_url="ftp://x/y"),)},
     "members[0].custom_url"),
    ("event with two different static links", {"type": CalendarType.EVENT, "members": (
        member("alice", meeting_location=CUSTOM, custom_url="https://meet.example/a"),
        member("bob", meeting_location=CUSTOM, custom_url="https://meet.example/b"))}, "members[1].custom_url"),
    ("unknown user", {"type": CalendarType.ROUND_ROBIN, "members": (member("alice"), member("mallory"))},
     "members[1].user"),
    ("personal with two members", {"members": (member("alice"), member("bob"))}, "members"),
    ("no members", {"members": ()}, "members"),
    ("duplicate member", {"type": CalendarType.COLLECTIVE, "members": (member("alice"), member("alice"))},
     "members[1].user"),
    ("weight zero", {"type": CalendarType.ROUND_ROBIN, "members": (member("alice", weight=0), member("bob"))},
     "members[0].weight"),
    ("duration zero", {"duration_minutes": 0}, "duration_minutes"),
    ("duration negative", {"duration_minutes": -30}, "duration_minutes"),
    ("duration off grid", {"duration_minutes": 7}, "duration_minutes"),
    ("duration too long", {"duration_minutes": 485, "weekly_hours": {"monday": hours(("00:00", "24:00"))}},
     "duration_minutes"),
    ("interval zero", {"slot_interval_minutes": 0}, "slot_interval_minutes"),
    ("interval off grid", {"slot_interval_minutes": 12}, "slot_interval_minutes"),
    ("negative buffer before", {"buffer_before_minutes": -5}, "buffer_before_minutes"),
    ("negative buffer after", {"buffer_after_minutes": -5}, "buffer_after_minutes"),
    ("negative notice", {"minimum_notice_minutes": -1}, "minimum_notice_minutes"),
    ("zero reminder", {"reminder_offsets_minutes": (1440, 0)}, "reminder_offsets_minutes[1]"),
    ("negative reminder", {"reminder_offsets_minutes": (-60,)}, "reminder_offsets_minutes[0]"),
    ("duplicate reminder", {"reminder_offsets_minutes": (60, 1440, 60)}, "reminder_offsets_minutes[2]"),
    ("unknown timezone", {"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ("empty timezone", {"timezone": ""}, "timezone"),
    ("path-like timezone", {"timezone": "../../etc/passwd"}, "timezone"),
    ("padded timezone", {"timezone": " Europe/Berlin"}, "timezone"),
    ("max days zero", {"max_days_ahead": 0}, "max_days_ahead"),
    ("max days too far", {"max_days_ahead": 366}, "max_days_ahead"),
    ("bad slug", {"slug": "Bad Slug"}, "slug"),
    ("empty name", {"name": "  "}, "name"),
]


@pytest.mark.parametrize("label,overrides,field", CASES, ids=[c[0] for c in CASES])
def test_each_problem_is_named_by_its_field(label: str, overrides: dict[str, Any], field: str) -> None:
    problems = validate_calendar(config(**overrides), USERS)
    assert [f for f, _ in problems] == [field], problems
    assert all(reason for _, reason in problems)


def test_teams_refusal_reason_comes_from_link_rules() -> None:
    cfg = config(type=CalendarType.EVENT, members=(member("alice", meeting_location=TEAMS),))
    reason = dict(validate_calendar(cfg, USERS))["members[0].meeting_location"]
    assert reason == location_refusal(CalendarType.EVENT, TEAMS) and "custom" in reason


def test_event_members_sharing_one_static_link_are_fine() -> None:
    url = "https://meet.example/town-hall"
    cfg = config(type=CalendarType.EVENT, members=(
        member("alice", meeting_location=CUSTOM, custom_url=url),
        member("bob", meeting_location=CUSTOM, custom_url=url)))
    assert validate_calendar(cfg, USERS) == []


def test_unknown_user_check_is_skipped_without_a_user_list() -> None:
    cfg = config(members=(member("mallory"),))
    assert fields(cfg, None) == [] and fields(cfg) == ["members[0].user"]


def test_limits_are_inclusive() -> None:
    ok = config(duration_minutes=480, max_days_ahead=365, slot_interval_minutes=5,
                weekly_hours={"monday": hours(("00:00", "24:00"))})
    assert validate_calendar(ok, USERS) == []
    assert fields(replace(ok, max_days_ahead=1)) == []


def test_several_problems_are_all_reported() -> None:
    cfg = config(duration_minutes=7, timezone="Nowhere/City", members=())
    assert sorted(fields(cfg)) == ["duration_minutes", "members", "timezone"]


def test_timezone_helper() -> None:
    assert is_valid_timezone("America/New_York") and is_valid_timezone("UTC")
    assert not is_valid_timezone("America/Gotham") and not is_valid_timezone("")


# ---------------------------------------------------------------- storage round trip
def full_config() -> CalendarConfig:
    return config(
        type=CalendarType.ROUND_ROBIN, buffer_before_minutes=10, buffer_after_minutes=5,
        minimum_notice_minutes=120, max_days_ahead=30, reminder_offsets_minutes=(1440, 60),
        weekly_hours={"monday": hours(("09:00", "12:00"), ("13:00", "17:30")), "saturday": hours(("20:00", "24:00"))},
        members=(member("alice", meeting_location=TEAMS),
                 member("bob", meeting_location=CUSTOM, custom_url="https://meet.example/bob",
                        calendar_provider=CalendarProvider.NONE, weight=3)),
    )


def test_to_dict_is_json_friendly_and_round_trips() -> None:
    cfg = full_config()
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["type"] == "round_robin"
    assert data["weekly_hours"]["saturday"] == [{"start": "20:00", "end": "24:00"}]
    assert data["members"][1] == {"user": "bob", "meeting_location": "custom", "custom_url": "https://meet.example/bob",
                                  "calendar_provider": "none", "weight": 3}
    assert CalendarConfig.from_dict(data) == cfg


def test_from_dict_applies_defaults_for_optional_fields() -> None:
    cfg = CalendarConfig.from_dict({
        "slug": "s", "name": "S", "type": "personal", "timezone": "UTC", "duration_minutes": 30,
        "slot_interval_minutes": 15, "weekly_hours": {"monday": [{"start": "09:00", "end": "10:00"}]},
        "members": [{"user": "alice", "meeting_location": "teams", "calendar_provider": "microsoft"}]})
    assert cfg.members[0].weight == 1 and cfg.members[0].custom_url is None
    assert cfg.members[0].meeting_location is TEAMS and cfg.buffer_before_minutes == 0
    assert cfg.weekly_hours == {"monday": (TimeRange(time(9), time(10)),)}


def test_from_dict_rejects_unknown_enum_values() -> None:
    data = full_config().to_dict()
    data["type"] = "webinar"
    with pytest.raises(ValueError):
        CalendarConfig.from_dict(data)


@pytest.mark.parametrize("text", ["25:00", "24:30", "9:00", "09:60", "noon", ""])
def test_parse_hhmm_rejects_bad_times(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hhmm(text)


def test_midnight_end_is_24_00() -> None:
    assert parse_hhmm("24:00") == time(0) and format_hhmm(time(0), is_end=True) == "24:00"
    assert format_hhmm(time(0)) == "00:00" and TimeRange(time(20), time(0)).end_minutes == 1440


def test_config_is_hashable_and_immutable() -> None:
    cfg = full_config()
    assert hash(cfg) == hash(full_config())
    with pytest.raises(AttributeError):
        cfg.slug = "other"  # type: ignore[misc]
