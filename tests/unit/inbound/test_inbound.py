"""Inbound sync (issue 19): rule 19's decision, the notification check, subscriptions and their renewal.

Ports are fakes of our own (store, queue, clock, a recording Graph); the clock is injected, so renewal
timing is exact and never depends on today's date."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.token_cipher import TokenCipher
from shared.domain import inbound as rules
from shared.errors import NotFound
from shared.usecases import inbound
from shared.usecases.inbound.deps import INBOUND_QUEUE, TABLE, InboundDeps, lookup_pk
from shared.usecases.inbound.subscriptions import current, subscribe
from tests.fakes import FixedClock, InMemoryEntityStore, InMemoryMessageQueue

NOW = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
START, END = NOW + timedelta(days=2), NOW + timedelta(days=2, minutes=30)


def booking_row(**over: Any) -> dict[str, Any]:
    row = {"status": "confirmed", "start_utc": "2030-01-09T08:00:00Z", "end_utc": "2030-01-09T08:30:00Z",
           "graph_event_id": "AAMkEv1", "revision": 1, "graph_synced_revision": 1, "meeting_url": "https://j/1"}
    row.update(over)
    return row


def graph_event(start: str = "2030-01-09T08:00:00.0000000", end: str = "2030-01-09T08:30:00.0000000",
                **over: Any) -> dict[str, Any]:
    return {"id": "AAMkEv1", "start": {"dateTime": start, "timeZone": "UTC"},
            "end": {"dateTime": end, "timeZone": "UTC"}, "isCancelled": False,
            "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"}, **over}


# ------------------------------------------------------------------------------------------ rule 19
def test_a_deleted_or_declined_event_cancels_or_tells_the_host() -> None:
    assert rules.decide(booking_row(), None, NOW).action == rules.CANCEL
    assert rules.decide(booking_row(), graph_event(isCancelled=True), NOW).action == rules.CANCEL
    declined = graph_event(responseStatus={"response": "declined", "time": "2030-01-07T07:00:00Z"})
    assert rules.decide(booking_row(), declined, NOW).reason == "event declined by the host"
    assert rules.decide(booking_row(), None, NOW, "notify_host").action == rules.NOTIFY_HOST


def test_a_moved_event_moves_the_booking_and_other_edits_are_ignored() -> None:
    moved = rules.decide(booking_row(), graph_event("2030-01-09T11:00:00.0000000", "2030-01-09T12:00:00"), NOW)
    assert (moved.action, moved.start, moved.end) == (rules.MOVE, datetime(2030, 1, 9, 11, tzinfo=UTC),
                                                      datetime(2030, 1, 9, 12, tzinfo=UTC))
    assert rules.decide(booking_row(), graph_event(subject="Renamed"), NOW).action == rules.IGNORE
    past = graph_event("2030-01-07T07:00:00", "2030-01-07T07:30:00")
    assert rules.decide(booking_row(), past, NOW).action == rules.IGNORE


@pytest.mark.parametrize("over, why", [
    ({"status": "cancelled"}, "booking not confirmed"),
    ({"start_utc": "2030-01-07T07:00:00Z"}, "booking started"),
    ({"graph_event_id": None}, "booking has no live event"),
    ({"revision": 2, "graph_synced_revision": 1}, "our own write to the event is pending"),
])
def test_our_own_pending_writes_and_finished_bookings_are_never_judged(over: dict[str, Any], why: str) -> None:
    decision = rules.decide(booking_row(**over), None, NOW)
    assert (decision.action, decision.reason) == (rules.IGNORE, why)


# ------------------------------------------------------------------------------------------ ports
@dataclass
class RecordingGraph:
    """The ``InboundGraph`` port: records calls; ``lapsed`` subscriptions answer 404 to a renewal."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    lapsed: set[str] = field(default_factory=set)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    count: int = 0

    def create_subscription(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        self.count += 1
        self.calls.append(("create", body["notificationUrl"]))
        assert len(body["clientState"]) <= 128 and body["resource"] == "me/events"
        return {"id": f"sub-{self.count}", "expirationDateTime": body["expirationDateTime"]}

    def renew_subscription(self, token: str, subscription_id: str, expiration: str) -> dict[str, Any]:
        self.calls.append(("renew", subscription_id))
        if subscription_id in self.lapsed:
            raise NotFound("Graph: ResourceNotFound")
        return {"id": subscription_id, "expirationDateTime": expiration}

    def delete_subscription(self, token: str, subscription_id: str) -> None:
        self.calls.append(("delete", subscription_id))

    def get_event(self, token: str, event_id: str) -> dict[str, Any] | None:
        self.calls.append(("get", event_id))
        return self.events.get(event_id)

    def calendar_view_delta(self, token: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        self.calls.append(("delta", ""))
        return list(self.events.values())


def make_deps() -> tuple[InboundDeps, RecordingGraph, FixedClock]:
    graph, clock = RecordingGraph(), FixedClock(NOW)
    deps = InboundDeps(store=InMemoryEntityStore(), queue=InMemoryMessageQueue(), clock=clock, graph=graph,
                       access_token=lambda ws, user, kind, **kw: "token",
                       cipher=TokenCipher([TokenCipher.generate_key()]),
                       notification_base_url="https://app.example/")
    return deps, graph, clock


def test_subscribe_stores_an_encrypted_client_state_and_notifications_are_checked_against_it() -> None:
    deps, graph, _ = make_deps()
    row = subscribe(deps, "ws1", "host")
    assert graph.calls == [("create", "https://app.example/api/notifications/microsoft")]
    lookup = deps.store.get(TABLE, lookup_pk(row["subscription_id"]), "sub")
    assert lookup is not None and (lookup["workspace"], lookup["user"]) == ("ws1", "host")
    state = deps.cipher.decrypt(lookup["client_state"]) if deps.cipher else ""
    assert state and state not in str(lookup)  # stored encrypted only
    note = {"subscriptionId": row["subscription_id"], "changeType": "deleted", "resource": "Users/o/Events/AAMk1"}
    done = inbound.accept(deps.store, deps.queue, deps.cipher, [{**note, "clientState": "wrong"},
                                                              {**note, "clientState": state},
                                                              {**note, "subscriptionId": "nope", "clientState": state}])
    assert (done.enqueued, done.dropped) == (1, 2)
    [msg] = deps.queue.on(INBOUND_QUEUE)
    assert msg == {"op": "change", "event_id": "AAMk1", "change_type": "deleted", "workspace": "ws1",
                   "user": "host", "subscription_id": row["subscription_id"]}
    # the hint of an event's creation is acknowledged, never re-read: bookbridge made the event itself
    created = inbound.accept(deps.store, deps.queue, deps.cipher, [{**note, "clientState": state,
                                                                    "changeType": "created"}])
    assert (created.enqueued, created.dropped, created.ignored) == (0, 0, 1) and len(deps.queue.on(INBOUND_QUEUE)) == 1
    life = inbound.accept(deps.store, deps.queue, deps.cipher, [{**note, "clientState": state,
                                                                 "lifecycleEvent": "missed"}], lifecycle=True)
    assert life.enqueued == 1 and deps.queue.on(INBOUND_QUEUE)[-1]["op"] == "lifecycle"


def test_the_timer_renews_only_what_is_near_expiry() -> None:
    deps, graph, clock = make_deps()
    subscribe(deps, "ws1", "host")
    graph.calls.clear()
    clock.advance(hours=12)
    assert inbound.renew_due(deps).due == 0 and graph.calls == []  # far from expiry: no request at all
    clock.advance(minutes=deps.lifetime_minutes - deps.renew_before_minutes - 12 * 60)
    run = inbound.renew_due(deps)
    assert (run.due, run.renewed) == (1, 1) and graph.calls == [("renew", "sub-1")]
    row = current(deps, "ws1", "host")
    assert row is not None and row["expires_at"] > (clock.now() + timedelta(minutes=deps.lifetime_minutes - 1)
                                                    ).isoformat()[:16]
    graph.calls.clear()
    assert inbound.renew_due(deps).due == 0 and graph.calls == []  # the old index row went with the renewal


def test_a_lapsed_subscription_is_made_anew_and_the_gap_recovered_with_delta() -> None:
    deps, graph, clock = make_deps()
    subscribe(deps, "ws1", "host")
    graph.lapsed.add("sub-1")
    clock.advance(minutes=deps.lifetime_minutes - deps.renew_before_minutes)
    run = inbound.renew_due(deps)
    assert run.recreated == 1
    assert [c[0] for c in graph.calls[1:]] == ["renew", "create", "delete", "delta"]
    row = current(deps, "ws1", "host")
    assert row is not None and row["subscription_id"] == "sub-2"
    assert deps.store.get(TABLE, lookup_pk("sub-1"), "sub") is None


def test_unsubscribe_removes_it_at_graph_and_every_row() -> None:
    deps, graph, _ = make_deps()
    row = subscribe(deps, "ws1", "host")
    assert inbound.unsubscribe(deps, "ws1", "host") is True
    assert graph.calls[-1] == ("delete", row["subscription_id"])
    assert current(deps, "ws1", "host") is None
    assert list(deps.store.query(TABLE, "renew")) == []
    assert inbound.unsubscribe(deps, "ws1", "host") is False


def test_worker_drops_malformed_messages() -> None:
    deps, _, _ = make_deps()
    assert inbound.handle_inbound_message(deps, {"op": "change", "workspace": "ws1", "user": "h"}).startswith(
        "dropped")
    assert inbound.handle_inbound_message(deps, {"op": "nuke", "workspace": "ws1", "user": "h"}).startswith(
        "dropped")
    assert inbound.handle_inbound_message(deps, {"op": "change", "workspace": "ws1", "user": "h",
                                                 "event_id": "AAMk"}) == "no booking"


def test_external_delete_is_a_calendar_setting_with_two_choices() -> None:
    from shared.domain.calendar_config import CalendarConfig, validate_calendar

    base = {"slug": "s", "name": "n", "type": "personal", "timezone": "UTC", "duration_minutes": 30,
            "slot_interval_minutes": 30, "weekly_hours": {"monday": [{"start": "09:00", "end": "17:00"}]},
            "members": [{"user": "u", "meeting_location": "teams"}]}
    assert CalendarConfig.from_dict(base).external_delete == "cancel_booking"
    kept = CalendarConfig.from_dict({**base, "external_delete": "notify_host"})
    assert kept.to_dict()["external_delete"] == "notify_host"
    assert ("external_delete", "must be one of cancel_booking, notify_host") in validate_calendar(
        CalendarConfig.from_dict({**base, "external_delete": "shrug"}))


def test_a_lifetime_setting_past_graphs_maximum_is_capped() -> None:
    deps, _, clock = make_deps()
    deps.lifetime_minutes = 10_000
    row = subscribe(deps, "ws1", "host")
    assert row["expires_at"] == (clock.now() + timedelta(minutes=4230)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_poisoned_change_is_replaced_by_a_delta_recovery_of_the_hosts_window() -> None:
    deps, graph, _ = make_deps()
    deps.store.upsert("schedule", {"PartitionKey": "ws1|host", "RowKey": "booking|b1", **booking_row()})
    graph.events["other"] = graph_event(id="other")  # the booking's event AAMkEv1 is gone from the window
    done = inbound.handle_inbound_poison(deps, {"op": "change", "workspace": "ws1", "user": "host",
                                                "event_id": "AAMkEv1", "change_type": "updated"})
    assert done == "recovered: 1 queued" and graph.calls == [("delta", "")]
    assert deps.queue.on(INBOUND_QUEUE)[-1]["event_id"] == "AAMkEv1"
    assert inbound.handle_inbound_poison(deps, {"op": "subscribe", "workspace": "ws1", "user": "host"}) == "dropped"
    assert inbound.handle_inbound_poison(deps, "junk") == "dropped"
