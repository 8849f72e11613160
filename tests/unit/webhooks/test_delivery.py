"""Emission, fan-out and delivery with fakes of our ports and ``responses`` as the receiver."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests
import responses

from shared.domain.webhooks import SIGNATURE_HEADER, verify_signature
from shared.repositories import webhooks as repo
from shared.repositories.bookings import SCHEDULE, booking_rk, schedule_pk
from shared.usecases import booking_events, webhooks
from shared.usecases.webhooks import DELIVERIES_QUEUE, EVENTS_QUEUE, WebhookDeps
from tests.fakes import InMemoryMessageQueue
from tests.unit.webhooks.helpers import RECEIVER, SECRET, make_deps


def _seed(deps: WebhookDeps, events: list[str] | None = None) -> None:
    webhooks.put_webhook(deps, "acme", "crm", RECEIVER, events or ["booking.created", "meeting_link.created"], SECRET)
    deps.store.insert(SCHEDULE, {"PartitionKey": schedule_pk("acme", "alice"), "RowKey": booking_rk("b" * 32),
                                 "id": "b" * 32, "workspace": "acme", "host": "alice", "status": "confirmed",
                                 "link_state": "pending", "revision": 0, "invitee_name": "Ivy"})


def _run_events(deps: WebhookDeps) -> list[str]:
    queue = deps.queue
    assert isinstance(queue, InMemoryMessageQueue)
    events = queue.on(EVENTS_QUEUE)
    queue.sent = [m for m in queue.sent if m.queue != EVENTS_QUEUE]
    return [webhooks.handle_event_message(deps, e) for e in events]


def _next_delivery(deps: WebhookDeps) -> tuple[dict[str, Any], int]:
    queue = deps.queue
    assert isinstance(queue, InMemoryMessageQueue)
    sent = [m for m in queue.sent if m.queue == DELIVERIES_QUEUE]
    queue.sent = [m for m in queue.sent if m.queue != DELIVERIES_QUEUE]
    assert len(sent) == 1, sent
    return sent[0].message, sent[0].visibility_timeout


def _emit_created(deps: WebhookDeps, times: int = 1) -> None:
    for _ in range(times):
        webhooks.booking_event(deps.queue, "booking.created", "acme", "alice", "b" * 32, 0)  # as the meeting worker


@responses.activate
def test_booking_created_is_delivered_once_signed_with_a_unique_id() -> None:
    deps = make_deps()
    _seed(deps)
    responses.post(RECEIVER, status=204)
    _emit_created(deps, times=2)  # the same change emitted twice (a replayed intake) is one event, one delivery
    assert _run_events(deps) == ["fanned out to 1", "fanned out to 1"]  # put again while never attempted
    copies = deps.queue.on(DELIVERIES_QUEUE)  # type: ignore[attr-defined]
    assert len(copies) == 2 and copies[0] == copies[1]
    deps.queue.sent.clear()  # type: ignore[attr-defined]
    message = copies[0]
    assert webhooks.handle_delivery_message(deps, message) == "delivered"
    assert webhooks.handle_delivery_message(deps, copies[1]) == "already delivered"  # a redelivered message
    assert _run_events(deps) == []
    _emit_created(deps)
    assert _run_events(deps) == ["fanned out to 0"]  # delivered: not put again
    assert len(responses.calls) == 1
    call = responses.calls[0].request
    body = call.body if isinstance(call.body, bytes) else str(call.body).encode()
    payload = json.loads(body)
    assert payload["type"] == "booking.created" and payload["id"].startswith("evt_")
    assert payload["data"]["booking"]["id"] == "b" * 32 and payload["data"]["booking"]["invitee"]["name"] == "Ivy"
    now = int(deps.clock.now().timestamp())
    assert verify_signature(call.headers[SIGNATURE_HEADER], SECRET, body, now=now)
    assert call.headers["Bookbridge-Delivery"].startswith("dlv_")
    listed = webhooks.list_deliveries(deps, "acme", "crm")["deliveries"]
    assert [(d["attempt"], d["outcome"], d["status_code"]) for d in listed] == [(1, "delivered", 204)]


@responses.activate
def test_a_failing_receiver_is_retried_with_back_off_then_recorded_failed_after_24_hours() -> None:
    deps = make_deps()
    _seed(deps)
    responses.post(RECEIVER, status=500)
    _emit_created(deps)
    _run_events(deps)
    message, _ = _next_delivery(deps)
    assert webhooks.handle_delivery_message(deps, message) == "retrying"
    retry, delay = _next_delivery(deps)
    assert retry["attempt"] == 2 and 10 <= delay <= 20  # re-queued with a visibility delay, never a sleep
    deps.clock.advance(seconds=delay)  # type: ignore[attr-defined]
    assert webhooks.handle_delivery_message(deps, retry) == "retrying"
    retry, delay = _next_delivery(deps)
    deps.clock.advance(hours=24)  # type: ignore[attr-defined]
    assert webhooks.handle_delivery_message(deps, retry) == "failed"
    assert not [m for m in deps.queue.sent if m.queue == DELIVERIES_QUEUE]  # type: ignore[attr-defined]
    listed = webhooks.list_deliveries(deps, "acme", "crm")["deliveries"]
    assert [d["outcome"] for d in listed] == ["failed", "retrying", "retrying"]
    assert listed[1]["next_attempt_at"] is not None and listed[0]["status_code"] == 500
    assert webhooks.handle_delivery_message(deps, retry) == "already failed"


@responses.activate
@pytest.mark.parametrize("answer", ["redirect", "timeout"])
def test_redirects_are_not_followed_and_timeouts_are_retried(answer: str) -> None:
    deps = make_deps()
    _seed(deps)
    if answer == "redirect":
        responses.post(RECEIVER, status=302, headers={"Location": "http://169.254.169.254/latest"})
    else:
        responses.post(RECEIVER, body=requests.ReadTimeout("slow"))
    _emit_created(deps)
    _run_events(deps)
    message, _ = _next_delivery(deps)
    assert webhooks.handle_delivery_message(deps, message) == "retrying"
    assert len(responses.calls) == 1
    listed = webhooks.list_deliveries(deps, "acme", "crm")["deliveries"][0]
    assert (listed["status_code"], listed["error"]) == ((302, None) if answer == "redirect" else (None, "timeout"))


@responses.activate
def test_a_host_resolving_to_a_private_address_is_refused_outside_local_development() -> None:
    deps = make_deps()
    _seed(deps)
    deps.transport.addresses["hooks.example.com"] = ["93.184.215.14", "10.0.0.5"]  # type: ignore[union-attr]
    _emit_created(deps)
    _run_events(deps)
    message, _ = _next_delivery(deps)
    assert webhooks.handle_delivery_message(deps, message) == "failed"
    assert not responses.calls
    assert webhooks.list_deliveries(deps, "acme", "crm")["deliveries"][0]["error"] == "address_refused"


@responses.activate
def test_the_post_goes_to_the_address_that_was_checked_never_a_second_dns_answer() -> None:
    """DNS rebinding: the name answers a public address for the check and a private one a moment later; the
    POST is made to the checked address (the sender never resolves the name again)."""
    deps = make_deps()
    _seed(deps)
    answers = iter([["93.184.215.14"], ["127.0.0.1"], ["127.0.0.1"]])
    deps.transport.resolve = lambda host, port: next(answers)  # type: ignore[union-attr, method-assign]
    responses.post(RECEIVER, status=204)
    _emit_created(deps)
    _run_events(deps)
    message, _ = _next_delivery(deps)
    assert webhooks.handle_delivery_message(deps, message) == "delivered"
    assert deps.transport.posted_to == ["93.184.215.14"]  # type: ignore[union-attr]


def test_a_name_that_does_not_resolve_now_is_retried_not_failed() -> None:
    deps = make_deps()
    _seed(deps)
    deps.transport.addresses["hooks.example.com"] = []  # type: ignore[union-attr]
    _emit_created(deps)
    _run_events(deps)
    message, _ = _next_delivery(deps)
    assert webhooks.handle_delivery_message(deps, message) != "failed"
    assert deps.transport.posted_to == []  # type: ignore[union-attr]
    assert webhooks.list_deliveries(deps, "acme", "crm")["deliveries"][0]["error"] == "unresolved"
    retry, delay = _next_delivery(deps)
    assert retry["attempt"] == 2 and delay > 0


def test_a_second_copy_of_an_attempt_in_flight_waits_behind_it() -> None:
    deps = make_deps()
    _seed(deps)
    _emit_created(deps)
    _run_events(deps)
    message, _ = _next_delivery(deps)
    hook = repo.get_webhook(deps.store, "acme", "crm")
    assert hook is not None
    row = repo.get_delivery(deps.store, hook, message["delivery"])
    assert row is not None
    from shared.usecases.webhooks.deliver import DeliveryMessage, claim

    assert claim(deps, DeliveryMessage.parse(message), row, deps.clock.now()) is not None
    assert webhooks.handle_delivery_message(deps, message) == "in flight"
    again, delay = _next_delivery(deps)
    assert again == message and delay == 60


def test_unsubscribed_types_and_deleted_webhooks_are_not_delivered() -> None:
    deps = make_deps()
    _seed(deps, ["booking.cancelled"])
    _emit_created(deps)
    assert _run_events(deps) == ["no subscribers"]
    _seed_again = webhooks.put_webhook(deps, "acme", "crm", RECEIVER, ["booking.created"], None)
    assert _seed_again[1] is False
    _emit_created(deps)
    _run_events(deps)
    message, _ = _next_delivery(deps)
    webhooks.delete_webhook(deps, "acme", "crm")
    assert webhooks.handle_delivery_message(deps, message) == "webhook deleted"


class _DownQueue:
    def send(self, queue: str, message: dict[str, Any], *, visibility_timeout: int = 0) -> None:
        if queue == EVENTS_QUEUE:
            raise ConnectionError("queue down")


def test_emitting_never_fails_the_booking() -> None:
    sent = booking_events.booking_cancelled(_DownQueue(), "acme", "alice", "b" * 32, 1)  # type: ignore[arg-type]
    assert [m.get("op") or m.get("kind") for m in sent] == ["cancel", "cancellation"]
    webhooks.booking_event(None, "booking.created", "acme", "alice", "b" * 32, 0)  # no queue: nothing raised


def test_invalid_messages_are_dropped() -> None:
    deps = make_deps()
    assert webhooks.handle_event_message(deps, {"id": "x"}) == "invalid"
    assert webhooks.handle_delivery_message(deps, {"workspace": "acme", "attempt": 0}) == "invalid"


def test_each_producer_emits_its_event() -> None:
    queue = InMemoryMessageQueue()
    booking_events.booking_rescheduled(queue, "acme", "alice", "b" * 32, 2, "created")
    webhooks.link_event(queue, {"link_state": "pending"},
                        {"workspace": "acme", "host": "alice", "id": "b" * 32, "link_state": "created",
                         "meeting_url": "https://teams.example/1"})
    webhooks.connection_event(queue, "connection.needs_reauth",
                              {"PartitionKey": "acme|alice", "RowKey": "teams", "needs_reauth_at": "2026-11-23"})
    assert [(e["type"], e.get("booking") or e.get("connection")) for e in queue.on(EVENTS_QUEUE)] == [
        ("booking.rescheduled", {"host": "alice", "id": "b" * 32}),
        ("meeting_link.created", {"host": "alice", "id": "b" * 32}),
        ("connection.needs_reauth", {"user": "alice", "kind": "teams"}),
    ]
    deps = make_deps()
    webhooks.put_webhook(deps, "acme", "ops", RECEIVER, ["connection.needs_reauth"], SECRET)
    assert webhooks.handle_event_message(deps, queue.on(EVENTS_QUEUE)[2]) == "fanned out to 1"
    message, _ = _next_delivery(deps)
    hook = repo.get_webhook(deps.store, "acme", "ops")
    assert hook is not None
    row = repo.get_delivery(deps.store, hook, message["delivery"])
    assert row is not None and json.loads(row["body"])["data"]["connection"]["user"] == "alice"
    assert timedelta(0) == timedelta(0)


def test_the_meeting_worker_booking_dataclass_announces_its_link() -> None:
    import inspect
    from dataclasses import replace

    from shared.repositories.bookings import Booking

    required = {n: "x" for n, p in inspect.signature(Booking).parameters.items()
                if p.default is inspect.Parameter.empty}
    before = Booking(**{**required, "workspace": "acme", "host": "alice", "id": "b" * 32})
    queue = InMemoryMessageQueue()
    webhooks.link_event(queue, before, replace(before, link_state="created", meeting_url="https://t/1"))
    webhooks.link_event(queue, before, replace(before, link_state="failed", link_reason="no licence"))
    assert [e["type"] for e in queue.on(EVENTS_QUEUE)] == ["meeting_link.created", "meeting_link.failed"]
