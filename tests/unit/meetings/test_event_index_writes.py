"""The meeting worker records each Outlook event it makes in ``eventbookings`` before the booking records it,
on both paths (the same account's event with its Teams meeting, and the event in a linked calendar of another
account), so the inbound worker finds the booking with point reads."""
from __future__ import annotations

import pytest

from shared.repositories import event_index
from tests.unit.meetings.helpers import Harness


@pytest.mark.parametrize("calendar_oid", [None, "another-account"])
def test_the_event_made_for_a_booking_leads_back_to_it(h: Harness, calendar_oid: str | None) -> None:
    h.connect("teams")
    if calendar_oid is None:
        h.connect("microsoft_calendar")
    else:
        h.connect("microsoft_calendar", oid=calendar_oid)
    b = h.add_booking()
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["graph_event_id"]
    row = h.store.get(event_index.TABLE, f"{h.ws}|{h.host}", event_index.row_key(stored["graph_event_id"]))
    assert row is not None and row["booking_id"] == b["id"]
    found = event_index.lookup(h.store, h.ws, h.host, stored["graph_event_id"])
    assert found is not None and found.id == b["id"]
