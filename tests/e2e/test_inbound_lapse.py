"""A lapsed subscription is renewed and what changed meanwhile is applied (issue 19, rule 19).

This stack renews every subscription on each timer run (``GRAPH_SUBSCRIPTION_RENEW_BEFORE_MINUTES`` = the whole
lifetime: every subscription is "near expiry"), so the timer can be run at once instead of waiting days. The
stand-in lets the host's subscription lapse silently (not renewed in time: Graph deletes it, page "Receive
change notifications through webhooks"), the host moves the event meanwhile (no notification: nothing is
subscribed), then the renewal timer finds the subscription gone (PATCH 404), subscribes again and recovers
the change with a ``calendarView/delta`` round (page "event: delta"). Lifecycle ``missed`` recovers the same
way (page "Reduce missing subscriptions and change notifications").
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from devhost.smoke import Client, wait_for

from .conftest import Workspace
from .test_inbound_sync import ALICE, book_with_event, connect_host, settle, status_of, subscription_ids

STACK_OVERRIDES = {"values": {"GRAPH_SUBSCRIPTION_RENEW_BEFORE_MINUTES": "4200"}}


def start_of(view: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(view["start"].replace("Z", "+00:00"))


def test_a_lapsed_subscription_is_renewed_and_the_change_made_meanwhile_applied(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    ws, slug, sub = connect_host(client, new_workspace, "lapse")
    invitee = f"lea-{ws.id}@invitee.example"
    booking, event_id = book_with_event(client, slug, client.slots(slug, days=3)[40], invitee)
    client.sandbox("POST", f"/_sandbox/subscriptions/{sub}/lapse")
    settle(client)  # the hints of the event's creation are handled first: a re-read after the move would see it
    new_start = start_of(booking) + timedelta(hours=2)
    client.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events/{event_id}/move",
                   {"start": new_start.isoformat(), "end": (new_start + timedelta(minutes=15)).isoformat()})
    settle(client)
    assert start_of(status_of(client, booking)) != new_start  # nobody told us yet
    changes = client.sandbox("GET", f"/_sandbox/notifications?kind=change&subscription_id={sub}")["value"]
    assert all(c["event_id"] != event_id or c["change_type"] != "updated" for c in changes)

    before = subscription_ids(client)
    assert client.run_function("inbound_renewal_timer") in (200, 202)
    view = wait_for(lambda: (v := status_of(client, booking)) and start_of(v) == new_start and v,
                    what="the booking at the time the host moved it to")
    assert view["meeting_url"] == booking["meeting_url"]
    assert subscription_ids(client) - before, "a new subscription replaced the lapsed one"
    assert client.recorded(method="PATCH", path_regex=f"/subscriptions/{sub}")[0]["status"] == 404
    assert any("calendarView/delta" in r["path"] for r in client.recorded(upn=ALICE))
    client.wait_mail(invitee, "reschedule")
    settle(client)
    assert len(client.mails(invitee, "reschedule")) == 1


def test_a_missed_lifecycle_notification_recovers_a_deleted_event(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    ws, slug, sub = connect_host(client, new_workspace, "missed")
    invitee = f"mia-{ws.id}@invitee.example"
    booking, event_id = book_with_event(client, slug, client.slots(slug, days=3)[50], invitee)
    client.sandbox("POST", f"/_sandbox/subscriptions/{sub}/lapse")  # its change notification is lost
    settle(client)
    client.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events/{event_id}/delete")
    settle(client)
    assert status_of(client, booking)["status"] == "confirmed"
    # Graph says notifications were missed (sent before the lapse is noticed: the stand-in lets a lapsed one speak)
    client.sandbox("POST", f"/_sandbox/subscriptions/{sub}/lifecycle", {"lifecycleEvent": "missed"})
    wait_for(lambda: status_of(client, booking)["status"] == "cancelled", what="the booking cancelled")
    client.wait_mail(invitee, "cancellation")
    settle(client)
    assert len(client.mails(invitee, "cancellation")) == 1
