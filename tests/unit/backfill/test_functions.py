"""The blueprint's functions in-process over the fakes: timer, ``backfill`` queue, management read-out;
and the one place index rows are written (intake, reschedule, cancel, the meeting worker)."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from shared.bootstrap import Container, install
from shared.repositories import bookings as repo
from shared.settings import Settings
from tests.fakes import FixedClock, InMemoryEntityStore, InMemoryMessageQueue
from tests.unit.backfill.helpers import add_booking, creates, host_keys, index_keys, new_ws, set_connection
from tests.unit.booking.helpers import Api, calendar_body, member, request, user_function


@pytest.fixture
def world():
    store, queue, clock = InMemoryEntityStore(), InMemoryMessageQueue(), FixedClock()
    container = Container(Settings({}), store=store, queue=queue, clock=clock)
    install(container)
    try:
        yield store, queue, clock, container
    finally:
        install(None)


def _timer() -> None:
    from functions import backfill_sweep

    user_function(backfill_sweep.backfill_sweep_timer)(TimerRequest(past_due=False))


def _deliver(body: Any) -> None:
    from functions import backfill_sweep

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    user_function(backfill_sweep.backfill_host)(QueueMessage(id=uuid.uuid4().hex, body=raw, dequeue_count=1))


def test_the_timer_function_sweeps(world):
    store, queue, clock, _ = world
    ws = new_ws()
    b = add_booking(store, ws, "alice", clock.now() + timedelta(days=2))
    set_connection(store, clock, ws, "alice", generation=2)
    _timer()
    assert creates(queue) == [("alice", b.id, 1)]


def test_the_timer_function_uses_the_containers_limits(world):
    store, queue, clock, container = world
    ws = new_ws()
    for h in ("a", "b", "c"):
        add_booking(store, ws, h, clock.now() + timedelta(days=2))
        set_connection(store, clock, ws, h)
    container.backfill_options = {"max_hosts": 1}
    _timer()
    assert len(creates(queue)) == 1


def test_the_backfill_queue_function_sweeps_one_host_and_drops_garbage(world):
    store, queue, clock, _ = world
    ws = new_ws()
    a = add_booking(store, ws, "alice", clock.now() + timedelta(days=2))
    add_booking(store, ws, "bob", clock.now() + timedelta(days=2))
    set_connection(store, clock, ws, "alice")
    set_connection(store, clock, ws, "bob")
    _deliver(b"not json")
    _deliver({"workspace": ws})
    assert queue.sent == []
    _deliver({"workspace": ws, "host": "alice", "reason": "reconnected"})
    assert creates(queue) == [("alice", a.id, 1)]


def test_timer_binding_schedule_and_startup():
    from functions import backfill_sweep

    fn = backfill_sweep.backfill_sweep_timer.build()
    trigger = fn.get_trigger().get_dict_repr()
    assert trigger["schedule"] == "%BACKFILL_SCHEDULE%" and trigger["runOnStartup"] is False
    queue_trigger = backfill_sweep.backfill_host.build().get_trigger().get_dict_repr()
    assert queue_trigger["queueName"] == "backfill" and queue_trigger["connection"] == "AzureWebJobsStorage"


def test_registered_in_the_app_and_the_route_needs_a_function_key():
    """Read in a fresh interpreter: ``FunctionApp.get_functions()`` may be called once per process."""
    from tests.app_index import indexed_functions

    functions = indexed_functions()
    seen = {"names": sorted(functions), **functions["management_user_backfill"]}
    assert {"backfill_sweep_timer", "backfill_host", "management_user_backfill"} <= set(seen["names"])
    assert seen["route"] == "workspaces/{workspace}/users/{user}/backfill"
    assert seen["methods"] == ["GET"] and seen["auth"] == "function"


# =============================================================================== management route
def _get(ws: str, user: str):
    from functions import backfill_sweep

    return request(backfill_sweep.management_user_backfill, "GET", {"workspace": ws, "user": user})


def test_management_route_shows_the_last_sweep_and_the_candidates(world):
    store, queue, clock, _ = world
    api = Api(store, queue, clock)
    ws = new_ws()
    api.setup(ws, ["alice"], {})
    add_booking(store, ws, "alice", clock.now() + timedelta(days=2))
    add_booking(store, ws, "alice", clock.now() + timedelta(days=3))
    resp = _get(ws, "alice")
    assert resp.status == 200 and resp.body["candidates"] == 2 and resp.body["last_sweep"] is None
    set_connection(store, clock, ws, "alice", generation=2)
    _timer()
    resp = _get(ws, "alice")
    assert resp.status == 200 and resp.headers.get("Cache-Control") == "no-store"
    assert resp.body["teams_connection"] == "connected" and resp.body["candidates"] == 2
    assert resp.body["last_sweep"]["enqueued"] == 2 and resp.body["last_sweep"]["trigger"] == "timer"


def test_management_route_errors(world):
    store, queue, clock, _ = world
    api = Api(store, queue, clock)
    ws = new_ws()
    api.setup(ws, ["alice"], {})
    assert _get(ws, "nobody").status == 404
    assert _get("other", "alice").status == 404
    bad = _get(ws, "a|b")
    assert bad.status == 422 and bad.body["error"]["code"] == "validation_error"


# =============================================================================== index writes
def _teams_calendar(api: Api, ws: str) -> str:
    api.setup(ws, ["alice"], {"p": calendar_body(f"{ws}-p", [member("alice", "teams")])})
    return f"{ws}-p"


def test_intake_reschedule_and_cancel_keep_both_indexes_right(world):
    store, queue, clock, _ = world
    api = Api(store, queue, clock)
    ws = new_ws()
    slug = _teams_calendar(api, ws)  # alice has no teams connection: awaiting_connection once the worker looked
    made = api.book(slug, "2026-11-24T09:00:00Z")
    assert made.status == 201 and made.body["link_status"] == "pending"
    api.work_meetings()
    bid, token = made.body["id"], made.body["manage_token"]
    assert index_keys(store, ws, "alice") == [f"2026-11-24T09:00:00Z|{bid}"]
    assert host_keys(store) == [f"{ws}|alice"]

    store.delete(repo.BACKFILL_HOSTS, repo.BACKFILL_HOSTS_PK, f"{ws}|alice")  # e.g. removed by a sweep meanwhile
    moved = api.reschedule(bid, token, "2026-11-25T10:00:00Z")
    assert moved.status == 200
    assert index_keys(store, ws, "alice") == [f"2026-11-25T10:00:00Z|{bid}"]
    assert host_keys(store) == [f"{ws}|alice"]

    assert api.cancel(bid, moved.body["manage_token"]).status == 200
    assert index_keys(store, ws, "alice") == []


def test_a_booking_with_a_link_state_other_than_awaiting_is_not_indexed(world):
    store, queue, clock, _ = world
    api = Api(store, queue, clock)
    ws = new_ws()
    api.setup(ws, ["alice"], {"c": calendar_body(f"{ws}-c", [member("alice", "none")], type="class"),
                              "e": calendar_body(f"{ws}-e", [member("alice", "custom",
                                                                    custom_url="https://meet.example/e")],
                                                 type="event")})
    assert api.book(f"{ws}-c", "2026-11-24T09:00:00Z").body["link_status"] == "not_applicable"
    assert api.book(f"{ws}-e", "2026-11-24T11:00:00Z").body["link_status"] == "static"
    assert index_keys(store, ws, "alice") == [] and host_keys(store) == []


def test_the_meeting_worker_indexes_a_booking_that_becomes_awaiting_later():
    """invalid_grant at the worker: ``awaiting_connection``, the index row AND the host row."""
    import responses

    from tests.unit.meetings.helpers import Harness, invalid_grant

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        h = Harness(InMemoryEntityStore(), InMemoryMessageQueue(), FixedClock(), rsps)
        try:
            h.connect("teams")
            h.tokens.fail["teams"] = invalid_grant()
            b = h.add_booking()
            h.deliver(h.message(b))
            assert h.booking(b["id"])["link_state"] == "awaiting_connection"
            assert index_keys(h.store, h.ws, h.host) == [f"{b['start_utc']}|{b['id']}"]
            assert host_keys(h.store) == [f"{h.ws}|{h.host}"]
        finally:
            h.close()
