"""The stand-in refuses what Microsoft Graph refuses (issue 16); each test names the Microsoft page."""
from __future__ import annotations

from typing import Any

import pytest

from .conftest import ALICE, BOB, Graph


def event(tz: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": "Intro", "start": {"dateTime": "2030-01-07T10:00:00", "timeZone": tz},
        "end": {"dateTime": "2030-01-07T10:30:00", "timeZone": tz},
    }
    body.update(over)
    return body


@pytest.mark.parametrize("tz", ["Europe/Amsterdam", "Europe/Madrid", "Europe/Zurich", "America/Toronto",
                                "Etc/UTC", "Mars/Olympus"])
def test_unsupported_time_zone_names_are_refused(graph: Graph, tz: str) -> None:
    """Page "dateTimeTimeZone resource type": Windows names plus a list of additional IANA names only."""
    resp = graph.post(ALICE, "/me/events", json=event(tz))
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "TimeZoneNotSupportedException"
    moved = graph.post(ALICE, "/me/events", json=event("UTC")).json()
    patch = graph.patch(ALICE, f"/me/events/{moved['id']}", json={"start": event(tz)["start"]})
    assert patch.json()["error"]["code"] == "TimeZoneNotSupportedException"
    schedule = graph.post(BOB, "/me/calendar/getSchedule", json={
        "schedules": [ALICE], "startTime": {"dateTime": "2030-01-07T00:00:00", "timeZone": tz},
        "endTime": {"dateTime": "2030-01-08T00:00:00", "timeZone": tz}})
    assert schedule.json()["error"]["code"] == "TimeZoneNotSupportedException"


@pytest.mark.parametrize("tz, utc_hour", [("W. Europe Standard Time", "09"), ("Eastern Standard Time", "15"),
                                          ("UTC", "10"), ("Europe/Berlin", "09"), ("America/New_York", "15"),
                                          ("Romance Standard Time", "09")])
def test_windows_names_utc_and_documented_iana_names_pass(graph: Graph, tz: str, utc_hour: str) -> None:
    """Page "dateTimeTimeZone resource type": Europe/Berlin and America/New_York are documented additions."""
    resp = graph.post(ALICE, "/me/events", json=event(tz))
    assert resp.status_code == 201, resp.text
    assert resp.json()["start"]["dateTime"][11:13] == utc_hour
    assert resp.json()["originalStartTimeZone"] == tz

