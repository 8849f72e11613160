"""Issue 15, rule 18: "Reconnecting Teams as another account orphans the previous account's meetings"; "a
cancel sent with the new account gets 404 and is recorded as success"."""
from __future__ import annotations

import json
from typing import Any

from tests.unit.meetings.helpers import OID, OTHER_OID, Harness

CREATE_OR_GET = r"/me/onlineMeetings/createOrGet"
DELETE_MEETING = r"/me/onlineMeetings/.+"


def kinds(h: Harness, booking_id: str) -> list[str]:
    return [m["kind"] for m in h.queue.on("communications") if m["booking_id"] == booking_id]


def reconnected(h: Harness) -> None:
    from functions import backfill_sweep

    body = {"workspace": h.ws, "host": h.host, "reason": "reconnected", "kind": "teams"}
    backfill_sweep.backfill_host(h.queue_message(body))
    for msg in h.queue.on("meetings"):
        if msg["op"] == "reconcile":
            h.deliver(msg)


def linked_teams_only(h: Harness) -> dict[str, Any]:
    h.connect("teams", oid=OID)
    b = h.add_booking()
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and stored["organizer_oid"] == OID
    return stored


def test_reconnecting_as_another_account_moves_the_meeting_with_one_update_email(h: Harness) -> None:
    old = linked_teams_only(h)
    h.connect("teams", oid=OTHER_OID)  # the host signs in with another work account
    reconnected(h)
    stored = h.booking(old["id"])
    assert stored["link_state"] == "created" and stored["organizer_oid"] == OTHER_OID
    assert stored["meeting_url"] and stored["meeting_url"] != old["meeting_url"]
    bodies = [c.body for c in h.graph.calls("POST", CREATE_OR_GET)]
    assert len(bodies) == 2 and bodies[0]["externalId"] != bodies[1]["externalId"]
    [orphan] = json.loads(stored["orphans_json"])  # the old account's token is gone: left for a person
    assert (orphan["organizer_oid"], orphan["join_url"]) == (OID, old["meeting_url"])
    assert kinds(h, old["id"]) == ["confirmation", "link_update"]
    reconnected(h)  # converged: nothing more
    assert len(h.graph.calls("POST", CREATE_OR_GET)) == 2 and kinds(h, old["id"]) == ["confirmation", "link_update"]


def test_a_cancel_never_deletes_as_another_account_and_404_is_not_success(h: Harness) -> None:
    old = linked_teams_only(h)
    h.connect("teams", oid=OTHER_OID)
    cancelled = h.change_booking(old["id"], status="cancelled")
    h.deliver(h.message(cancelled, "cancel"))
    assert h.graph.calls("DELETE", DELETE_MEETING) == []  # the new account never acts on the old meeting
    stored = h.booking(old["id"])
    assert not stored.get("online_meeting_id")
    [orphan] = json.loads(stored["orphans_json"])
    assert (orphan["organizer_oid"], orphan["join_url"]) == (OID, old["meeting_url"])
