"""Issue 15, "A stored booking can be stranded for good". Intake puts the booking's ``meetings/create``
BEFORE its transaction (the message is the reconciler's intent): the queue down answers 503 with
Retry-After and stores nothing; a stored booking always has its message, even when the answer was lost
(then a retry of the same request without a key gets its own booking); a worker that sees the message
before the commit waits for it, and drops a message whose booking was never stored."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from shared.errors import StorageUnavailable
from shared.repositories.webhooks import OUTBOX, OUTBOX_PK
from shared.usecases.meetings import MeetingDeps, handle_meeting_message
from shared.usecases.webhooks import EVENTS_QUEUE, drain_event_outbox
from tests.unit.booking.helpers import calendar_body, member

SLOT = "2026-11-23T10:00:00Z"


class QueueDown:
    """Wraps the fake queue: ``down`` makes every put fail like an unreachable queue service."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.down = inner, False

    def send(self, queue: str, message: dict[str, Any], *, visibility_timeout: int = 0) -> None:
        if self.down:
            raise StorageUnavailable("queue service unreachable")
        self.inner.send(queue, message, visibility_timeout=visibility_timeout)


@pytest.fixture
def world(api, store, queue, clock):
    api.setup("acme", ["alice"], {"p": calendar_body("c", [member("alice", "custom",
                                                                   custom_url="https://meet.example/a")])})
    wrapped = QueueDown(queue)
    api.container.queue = wrapped
    api.container.__dict__.pop("request_storage", None)
    return api, store, queue, clock, wrapped


def meeting_deps(store: Any, queue: Any, clock: Any) -> MeetingDeps:
    def no_graph(*_: Any, **__: Any) -> Any:
        raise AssertionError("no Graph call expected for a custom link")

    return MeetingDeps(store=store, queue=queue, clock=clock, graph=no_graph,  # type: ignore[arg-type]
                       access_token=no_graph, connection=lambda *_: None, mark_teams_unavailable=no_graph)


def test_queue_down_is_503_with_retry_after_and_nothing_stored_then_the_retry_books(world) -> None:
    api, store, queue, clock, wrapped = world
    wrapped.down = True
    r = api.book("c", SLOT)
    assert r.status == 503 and int(r.headers["Retry-After"]) >= 1
    assert store.all("schedule") == [] and queue.sent == []
    wrapped.down = False
    again = api.book("c", SLOT)
    assert again.status == 201 and again.headers.get("Idempotent-Replayed") is None
    [msg] = queue.on("meetings")
    assert msg["op"] == "create" and msg["booking_id"] == again.body["id"]
    handle_meeting_message(meeting_deps(store, queue, clock), msg)
    assert [m["kind"] for m in queue.on("communications")] == ["confirmation"]


class AnswerLost:
    """Wraps the fake store: the next transaction commits, then the answer (and the read-back) is lost."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.armed, self.lost = inner, False, False

    def transact(self, table: str, ops: list[Any]) -> Any:
        etags = self.inner.transact(table, ops)
        if self.armed:
            self.armed, self.lost = False, True
            raise StorageUnavailable("the answer was lost")
        return etags

    def get(self, *args: Any) -> Any:
        if self.lost:
            self.lost = False
            raise StorageUnavailable("still unreachable")
        return self.inner.get(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_booking_whose_answer_was_lost_has_its_message_and_a_retry_without_a_key_gets_it(world) -> None:
    api, store, queue, clock, _ = world
    lossy = AnswerLost(store)
    api.container.store = lossy
    api.container.__dict__.pop("request_storage", None)
    api.container.__dict__.pop("booking_deps", None)
    lossy.armed = True
    r = api.book("c", SLOT)
    assert r.status == 503 and int(r.headers["Retry-After"]) >= 1
    [row] = [e for e in store.all("schedule") if e["RowKey"].startswith("booking|")]
    assert [(m["op"], m["booking_id"]) for m in queue.on("meetings")] == [("create", row["id"])]  # stored: its intent
    clock.advance(seconds=20)
    again = api.book("c", SLOT)
    assert again.status == 201, again.body
    assert again.body["id"] == row["id"] and again.headers.get("Idempotent-Replayed") == "true"
    # the retry's own intent (its booking was refused: the worker drops it after waiting), then the
    # replayed booking's message again (the workers de-duplicate)
    first, retry_intent, replayed = queue.on("meetings")
    assert first == replayed and retry_intent["booking_id"] != row["id"]
    outcomes = [handle_meeting_message(meeting_deps(store, queue, clock), m) for m in (first, retry_intent, replayed)]
    assert [o.action for o in outcomes][1] == "requeued"
    assert [m["kind"] for m in queue.on("communications")] == ["confirmation"]
    other = api.book("c", SLOT, email="someone.else@example.com")
    assert other.status == 409  # another person's request for that time is still refused


def test_the_worker_waits_for_a_commit_it_sees_first_then_drops_a_message_never_stored(world) -> None:
    """The wait outlasts the longest a transaction can take on the service: 30 s (Microsoft's "Setting
    timeouts for Table service operations": the maximum for insert, update and delete operations)."""
    from shared.usecases.meetings.worker import COMMIT_WAIT_SECONDS

    _, store, queue, clock, _ = world
    msg = {"op": "create", "workspace": "acme", "host": "alice", "booking_id": "f" * 32, "revision": 1}
    delays = []
    for _ in COMMIT_WAIT_SECONDS:
        out = handle_meeting_message(meeting_deps(store, queue, clock), msg)
        assert out.action == "requeued"
        delays.append(queue.sent[-1].visibility_timeout)
        msg = queue.sent[-1].message
    assert delays == list(COMMIT_WAIT_SECONDS) and sum(delays) > 30  # past storage's 30 s server timeout
    assert handle_meeting_message(meeting_deps(store, queue, clock), msg).action == "skipped"
    assert len(queue.sent) == len(COMMIT_WAIT_SECONDS)  # dropped: no further copy


def test_request_paths_give_up_on_storage_within_ten_seconds() -> None:
    """The 121 s queue outage of issue 15 answered 503 only after 76-85 s (the SDK's default back-off): the
    request paths' storage clients try at most twice with short timeouts (azure-core: ``retry_total``,
    ``connection_timeout``, ``read_timeout``; back-off 0.8 s before the retry)."""
    from shared.adapters.storage_account import REQUEST_CLIENT_OPTIONS as o
    from shared.adapters.storage_account import REQUEST_QUEUE_CLIENT_OPTIONS as q

    attempts = o["retry_total"] + 1
    worst = attempts * (o["connection_timeout"] + o["read_timeout"]) + 0.8 * o["retry_total"]
    assert worst < 10
    # the queue SDK backs off with its own ExponentialRetry (15 s +- 3 s by default): brought down for requests
    worst_queue = attempts * (q["connection_timeout"] + q["read_timeout"]) + q["initial_backoff"] + q[
        "random_jitter_range"]
    assert worst_queue < 10 and q["retry_total"] == o["retry_total"]


def test_a_503_always_carries_retry_after() -> None:
    from shared.http import error_response

    response = error_response(StorageUnavailable("down"))
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1


def test_a_create_seen_before_its_commit_is_handled_once_the_booking_is_there(world) -> None:
    api, store, queue, clock, _ = world
    made = api.book("c", SLOT).body
    [create] = queue.on("meetings")
    row = store.get("schedule", "acme|alice", f"booking|{made['id']}")
    store.delete("schedule", "acme|alice", row["RowKey"])  # as the worker saw it: the commit not there yet
    assert handle_meeting_message(meeting_deps(store, queue, clock), create).action == "requeued"
    store.insert("schedule", {k: v for k, v in row.items() if not k.startswith("_")})
    copy = queue.on("meetings")[-1]
    assert copy["attempt"] == 2 and copy["booking_id"] == made["id"]
    handle_meeting_message(meeting_deps(store, queue, clock), copy)
    assert [m["kind"] for m in queue.on("communications")] == ["confirmation"]


def test_intake_and_manage_use_the_request_storage_clients(monkeypatch) -> None:
    """A regression found by an end-to-end run with Azurite's queue service stopped alone: ``booking_deps`` had
    gone back to the workers' clients (``DEFAULT_CLIENT_OPTIONS``: 3 retries with the SDK's back-off), so a
    booking made while the queue service was down hung for over 60 s instead of answering 503 within seconds."""
    from shared.adapters import storage_account
    from shared.bootstrap import Container
    from shared.settings import Settings

    built: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(storage_account.StorageAccount, "table_service",
                        lambda self, **options: built.append(("table", options)) or object())
    monkeypatch.setattr(storage_account.StorageAccount, "queue_service",
                        lambda self, **options: built.append(("queue", options)) or object())
    container = Container(Settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                    "LINK_SIGNING_KEY": "stranded-tests-signing-key-0123456789"}))
    deps = container.booking_deps()
    assert (deps.store, deps.queue) == container.request_storage
    assert ("table", storage_account.REQUEST_CLIENT_OPTIONS) in built
    assert ("queue", storage_account.REQUEST_QUEUE_CLIENT_OPTIONS) in built


def test_a_create_seen_before_its_commit_while_the_queue_is_down_leaves_the_sweep_an_intent(world) -> None:
    """Found by an end-to-end run with Azurite's queue service stopped during a burst: a worker that saw the
    create before the commit could not put its copy back; the message then waited out its processing
    visibility (minutes) and the booking, stored meanwhile, was ``pending`` where the sweep could not see it.
    Now the worker writes the booking's due row first, so the sweep reconciles it once the queue is back."""
    from shared.domain import reconcile as rules
    from shared.usecases.reconcile.due import enqueue_due

    api, store, queue, clock, wrapped = world
    made = api.book("c", SLOT).body
    [create] = queue.on("meetings")
    row = store.get("schedule", "acme|alice", f"booking|{made['id']}")
    store.delete("schedule", "acme|alice", row["RowKey"])  # as the worker saw it: the commit not there yet
    wrapped.down = True
    with pytest.raises(StorageUnavailable):
        handle_meeting_message(meeting_deps(store, wrapped, clock), create)
    [due] = store.all(rules.DUE_TABLE)
    assert (due["workspace"], due["host"], due["booking_id"]) == ("acme", "alice", made["id"])
    store.insert("schedule", {k: v for k, v in row.items() if not k.startswith("_")})  # the commit lands
    wrapped.down = False
    clock.advance(minutes=2)
    enqueue_due(store, queue, clock.now(), reenqueue_after=timedelta(minutes=5))
    [sweep_msg] = [m for m in queue.on("meetings") if m.get("due_row")]
    handle_meeting_message(meeting_deps(store, queue, clock), sweep_msg)
    assert [m["kind"] for m in queue.on("communications")] == ["confirmation"]
    assert store.get("schedule", "acme|alice", f"booking|{made['id']}")["link_state"] == "static"


def test_a_due_row_left_for_a_booking_never_stored_is_dropped(world) -> None:
    from shared.domain import reconcile as rules
    from shared.usecases.reconcile.due import enqueue_due

    _, store, queue, clock, wrapped = world
    msg = {"op": "create", "workspace": "acme", "host": "alice", "booking_id": "e" * 32, "revision": 1}
    wrapped.down = True
    with pytest.raises(StorageUnavailable):
        handle_meeting_message(meeting_deps(store, wrapped, clock), msg)
    wrapped.down = False
    clock.advance(minutes=2)
    enqueue_due(store, queue, clock.now(), reenqueue_after=timedelta(minutes=5))
    [sweep_msg] = queue.on("meetings")
    assert handle_meeting_message(meeting_deps(store, queue, clock), sweep_msg).action == "skipped"
    assert store.all(rules.DUE_TABLE) == []


def kept_events(store: Any) -> list[dict[str, Any]]:
    return [json.loads(r["message_json"]) for r in store.query(OUTBOX, OUTBOX_PK)]


def test_the_invitees_cancel_during_a_queue_outage_keeps_its_event(world) -> None:
    api, store, queue, _clock, wrapped = world
    booked = api.book("c", SLOT)
    assert booked.status == 201
    wrapped.down = True
    cancelled = api.cancel(booked.body["id"], booked.body["manage_token"])
    assert cancelled.status == 503 and int(cancelled.headers["Retry-After"]) >= 1  # the meeting's message failed
    [stored] = [e for e in store.all("schedule") if e["RowKey"] == f"booking|{booked.body['id']}"]
    assert stored["status"] == "cancelled"  # ...after the cancel was stored: its event must not be lost
    [kept] = kept_events(store)
    assert kept["type"] == "booking.cancelled" and kept["booking"]["id"] == booked.body["id"]
    wrapped.down = False
    assert drain_event_outbox(store, wrapped) == 1
    assert [e["type"] for e in queue.on(EVENTS_QUEUE)] == ["booking.cancelled"]
