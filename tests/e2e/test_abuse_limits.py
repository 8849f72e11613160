"""Issue 17: a bounded abuse run against the local stack (loopback only) shows the limits hold.

The local host appends the peer to ``X-Forwarded-For`` and sets ``X-Client-IP`` like Azure's front end,
so two clients are told apart by their own source address (127.0.0.2 and 127.0.0.3, both loopback),
and a client cannot choose its own address by writing the header. Every loop is bounded.
"""
from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

from devhost.smoke import Client

STACK_OVERRIDES = {"values": {"RATE_LIMIT_BOOKINGS_PER_CLIENT": "10/10m",
                              "RATE_LIMIT_CONFIRMATIONS_PER_INVITEE": "3/1h"}}
MAX_REQUESTS = 30


def _calendar(user: str) -> dict[str, Any]:
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    return {"name": "Abuse", "type": "personal", "timezone": "UTC", "duration_minutes": 15,
            "slot_interval_minutes": 15, "weekly_hours": {d: [{"start": "00:00", "end": "24:00"}] for d in days},
            "minimum_notice_minutes": 60, "max_days_ahead": 30, "reminder_offsets_minutes": [],
            "members": [{"user": user, "meeting_location": "none", "calendar_provider": "none"}]}


def _post(base: str, source: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
          ) -> tuple[int, dict[str, str], Any]:
    """One POST to the local host (127.0.0.1) from the loopback address ``source``."""
    parts = urlsplit(base)
    assert parts.hostname == "127.0.0.1"
    conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=60, source_address=(source, 0))
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json",
                                                                  "Origin": "https://shop.example", **(headers or {})})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def _inside_one_window(period_seconds: int, margin: float = 60.0) -> None:
    """The limits count in fixed windows aligned to the epoch (``shared.domain.rate_limits``): a run that
    crossed a window's end would start counting again. Near an end, wait for the next window to begin, so the
    requests below always share one window (the host reads the same machine clock)."""
    left = period_seconds - time.time() % period_seconds
    if left < margin:
        time.sleep(left + 0.5)


def test_one_clients_11th_booking_is_429_and_another_client_is_limited_separately(client: Client, new_workspace):
    ws = new_workspace("abuse")
    host = ws.user("host")
    slug = ws.calendar("abuse", _calendar(host))
    starts = client.slots(slug, days=3)[:MAX_REQUESTS]
    path = f"/api/calendars/{slug}/bookings"

    def book(source: str, i: int, **headers: str) -> tuple[int, dict[str, str], Any]:
        return _post(client.base, source, path, {"start": starts[i], "name": f"Guest {i}",
                                                 "email": f"guest{i}@abuse.example", "timezone": "UTC"}, headers)

    _inside_one_window(600)
    statuses = [book("127.0.0.2", i)[0] for i in range(10)]
    assert statuses == [201] * 10
    status, headers, body = book("127.0.0.2", 10, **{"X-Forwarded-For": "198.51.100.77"})  # a forged entry
    assert status == 429, body
    assert 0 < int(headers["retry-after"]) <= 600
    assert body["error"]["limit"] == "RATE_LIMIT_BOOKINGS_PER_CLIENT"
    assert headers.get("access-control-allow-origin")   # errors carry CORS too
    assert book("127.0.0.3", 11)[0] == 201            # another address: its own count
    booked = [s for s in client.slots(slug, days=3) if s in starts[:12]]
    assert len(booked) == 1                           # only the refused start is still free


def test_a_4th_confirmation_to_one_address_within_an_hour_is_refused(client: Client, new_workspace):
    ws = new_workspace("invitee")
    host = ws.user("host")
    slug = ws.calendar("inv", _calendar(host))
    starts = client.slots(slug, days=3)[:4]
    path = f"/api/calendars/{slug}/bookings"
    _inside_one_window(3600)
    results = [_post(client.base, f"127.0.0.{20 + i}", path, {"start": starts[i], "name": "Ivy",
                                                             "email": "ivy@abuse.example", "timezone": "UTC"})
               for i in range(4)]
    assert [r[0] for r in results] == [201, 201, 201, 429]
    assert results[3][2]["error"]["limit"] == "RATE_LIMIT_CONFIRMATIONS_PER_INVITEE"
    assert starts[3] in client.slots(slug, days=3)
