"""The backfill sweep end to end on Azurite: bookings through the public API while Teams is disconnected,
a reconnect through the OAuth callback, the timer function, then the meeting and communications workers
(in-process, like the host), Graph on ``FakeGraph``, mail through the SmtpSink."""
from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.repositories import bookings as repo
from tests.integration.backfill.conftest import World, azure_store
from tests.unit.booking.helpers import calendar_body, member
from tests.unit.connections.helpers import ALICE, BOB

CREATE_OR_GET = r"/me/onlineMeetings/createOrGet"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _join_links(msg: Any) -> list[str]:
    text = str(msg.get_body(("plain",)).get_content())
    return [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Join the meeting: ")]


def _without_etag(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if k not in ("_etag", "Timestamp")}


def _awaiting_booking(w: World, slug: str, start: str, email: str) -> tuple[str, str]:
    """Intake stores ``pending`` (issue 15 (11)); the worker's first look finds no Teams connection."""
    made = w.book(slug, start, email)
    assert made.body["link_status"] == "pending"
    w.pump("meetings")
    assert w.booking("alice", made.body["id"])["link_state"] == "awaiting_connection"
    return made.body["id"], made.body["manage_token"]


# =============================================================================== the story
def test_disconnect_book_three_reconnect_sweep_one_link_one_email(world: World, caplog) -> None:
    w = world
    slug = w.teams_calendar()
    w.connect_teams("alice", ALICE)
    w.drop("backfill")
    w.disconnect_teams("alice")

    past_id, _ = _awaiting_booking(w, slug, "2026-11-23T09:00:00Z", "past@example.test")
    cancel_id, cancel_token = _awaiting_booking(w, slug, "2026-11-24T09:00:00Z", "cancelled@example.test")
    good_id, _ = _awaiting_booking(w, slug, "2026-11-25T09:00:00Z", "good@example.test")
    w.cancel(cancel_id, cancel_token)
    w.pump_all()  # confirmations, host notices; the worker still finds no connection
    # the booking cancelled before its confirmation went out gets nothing (never a cancellation alone)
    assert sorted(m["X-Bookbridge-Kind"] for m in w.mails()) == ["confirmation"] * 2 + ["host_notice"] * 2
    assert w.graph.requests == []
    assert w.index("alice") == [f"2026-11-23T09:00:00Z|{past_id}", f"2026-11-25T09:00:00Z|{good_id}"]
    # a row the cancel did not get to remove (a crash between the two writes)
    repo.index_awaiting(w.store, repo.booking_from_entity(w.booking("alice", cancel_id)))

    w.connect_teams("alice", ALICE)  # reconnected: transition row + ``backfill`` message
    assert [m["reason"] for m in w.drop("backfill")] == ["reconnected"]  # the timer alone must do it
    w.clock.current = NOW + timedelta(hours=2)  # the first booking started an hour ago
    before = {bid: w.booking("alice", bid) for bid in (past_id, cancel_id)}
    mails_before = len(w.mails())

    caplog.set_level(logging.INFO, logger="bookbridge.backfill")
    sent_before = len(w.queue.sent)
    w.run_timer()
    sweep_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("backfill sweep run=")]
    assert len(sweep_lines) == 1
    # decided from the index rows alone: the past row goes, the upcoming ones (the cancelled booking's
    # left-over row too) are enqueued naming their row; the meeting worker reads the bookings
    assert "hosts=1 " in sweep_lines[0] and "candidates=2 enqueued=2 skipped=1 stale=1" in sweep_lines[0]
    assert w.queue.sent[sent_before:] == [
        ("meetings", {"op": "create", "workspace": w.ws, "host": "alice", "booking_id": cancel_id, "revision": 2,
                      "backfill_row": f"2026-11-24T09:00:00Z|{cancel_id}"}),
        ("meetings", {"op": "create", "workspace": w.ws, "host": "alice", "booking_id": good_id, "revision": 1,
                      "backfill_row": f"2026-11-25T09:00:00Z|{good_id}"})]
    w.pump_all()

    assert len(w.graph.calls("POST", CREATE_OR_GET)) == 1 and len(w.graph.meetings) == 1
    meeting = next(iter(w.graph.meetings.values()))
    good = w.booking("alice", good_id)
    assert good["link_state"] == "created" and good["meeting_url"] == meeting["joinWebUrl"]
    assert good["organizer_oid"] == ALICE["oid"]
    for bid, entity in before.items():
        assert w.booking("alice", bid) == entity  # never touched (same ETag)
    new_mails = w.mails()[mails_before:]
    assert [(m["X-Bookbridge-Kind"], m["X-Sink-RcptTo"]) for m in new_mails] == [("link_update", "good@example.test")]
    assert _join_links(new_mails[0]) == [good["meeting_url"]]
    assert w.index("alice") == []

    # the next run finds nothing to do and lets the host leave the host index
    w.run_timer()
    w.pump_all()
    assert len(w.graph.calls("POST", CREATE_OR_GET)) == 1 and len(w.mails()) == mails_before + 1
    assert list(w.store.query("backfillhosts", "hosts")) == []

    from functions import backfill_sweep
    from tests.unit.booking.helpers import request

    view = request(backfill_sweep.management_user_backfill, "GET", {"workspace": w.ws, "user": "alice"})
    assert view.status == 200 and view.body["candidates"] == 0 and view.body["teams_connection"] == "connected"
    assert view.body["last_sweep"]["trigger"] == "timer"


def test_the_reconnect_message_backfills_at_once(world: World) -> None:
    w = world
    slug = w.teams_calendar()
    good_id, _ = _awaiting_booking(w, slug, "2026-11-25T09:00:00Z", "good@example.test")
    w.pump_all()
    w.connect_teams("alice", ALICE)
    assert [m["reason"] for m in w.pump("backfill")] == ["reconnected"]  # the queue function
    w.pump_all()
    assert w.booking("alice", good_id)["link_state"] == "created"
    assert [m["X-Sink-RcptTo"] for m in w.mails("link_update")] == ["good@example.test"]
    last = w.store.get("sweepstate", f"{w.ws}|alice", "last")
    assert last["trigger"] == "reconnected" and last["enqueued"] == 1
    w.run_timer()  # the timer finds the same host again: nothing more
    w.pump_all()
    assert len(w.graph.calls("POST", CREATE_OR_GET)) == 1 and len(w.mails("link_update")) == 1


def test_twice_and_twice_at_once_make_no_second_meeting(world: World) -> None:
    w = world
    slug = w.teams_calendar()
    ids = [_awaiting_booking(w, slug, f"2026-11-2{d}T10:00:00Z", f"i{d}@example.test")[0] for d in (4, 5, 6)]
    w.pump_all()
    w.connect_teams("alice", ALICE)
    w.drop("backfill")

    w.run_timer()
    w.run_timer()  # twice in a row: the claims hold
    assert sorted(m["booking_id"] for m in w.queue.on("meetings") if m["op"] == "create"
                  and m["booking_id"] in ids and m.get("attempt") is None) == sorted(ids * 2)  # intake + sweep

    for use_lease in (True, False):  # at once: with the lease, and without it (correctness without it)
        w.container.backfill_options = {"use_lease": use_lease, "reenqueue_after": timedelta(0)}
        barrier, errors = threading.Barrier(2), []

        def run(barrier: threading.Barrier = barrier, errors: list[Exception] = errors) -> None:
            try:
                barrier.wait()
                w.run_timer()
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
    sweep_creates = [m for m in w.queue.on("meetings") if m["op"] == "create" and m["booking_id"] in ids]
    assert len(sweep_creates) > 2 * len(ids)  # duplicates reached the queue on purpose ...

    w.pump_all()
    assert len(w.graph.meetings) == 3  # ... and each booking still got exactly one meeting
    assert len(w.graph.calls("POST", CREATE_OR_GET)) == 3
    links = {w.booking("alice", b)["meeting_url"] for b in ids}
    assert len(links) == 3 and None not in links
    assert sorted(m["X-Sink-RcptTo"] for m in w.mails("link_update")) == [f"i{d}@example.test" for d in (4, 5, 6)]


def test_other_calendars_and_bookings_made_before_teams_stay_unchanged(world: World) -> None:
    w = world
    ws = w.ws
    w.setup_calendars(["alice"], {
        "class": calendar_body(f"{ws}-class", [member("alice", "none")], type="class"),
        "event": calendar_body(f"{ws}-event", [member("alice", "custom", custom_url="https://meet.example/e")],
                               type="event"),
        "intro": calendar_body(f"{ws}-intro", [member("alice", "none")]),
    })
    w.connect_teams("alice", ALICE)
    w.disconnect_teams("alice")
    class_b = w.book(f"{ws}-class", "2026-11-24T09:00:00Z", "class@example.test").body
    event_b = w.book(f"{ws}-event", "2026-11-24T11:00:00Z", "event@example.test").body
    early = w.book(f"{ws}-intro", "2026-11-24T13:00:00Z", "early@example.test").body  # location: none
    assert (class_b["link_status"], event_b["link_status"], early["link_status"]) == \
        ("not_applicable", "static", "not_applicable")
    # Teams is chosen as the location afterwards; a booking made now awaits the connection
    from functions import management
    from tests.unit.booking.helpers import request

    assert request(management.management_calendar, "PUT", {"workspace": ws, "calendar": "intro"},
                   body=calendar_body(f"{ws}-intro", [member("alice", "teams")])).status == 200
    late_id, _ = _awaiting_booking(w, f"{ws}-intro", "2026-11-25T13:00:00Z", "late@example.test")
    w.pump_all()
    others = [class_b["id"], event_b["id"], early["id"]]
    assert w.index("alice") == [f"2026-11-25T13:00:00Z|{late_id}"]
    for bid in others:  # even with index rows planted for them, the booking decides
        repo.index_awaiting(w.store, repo.booking_from_entity(w.booking("alice", bid)))
    before = {bid: w.booking("alice", bid) for bid in others}
    mails_before = len(w.mails())

    w.connect_teams("alice", ALICE)
    w.drop("backfill")
    w.run_timer()
    w.pump_all()
    assert w.booking("alice", late_id)["link_state"] == "created"
    for bid in others:
        assert w.booking("alice", bid) == before[bid]
    assert [m["X-Sink-RcptTo"] for m in w.mails()[mails_before:]] == ["late@example.test"]
    assert len(w.graph.meetings) == 1 and w.index("alice") == []


def test_reconnecting_with_another_account_organises_with_the_new_one(world: World) -> None:
    w = world
    issued: dict[str, str] = {}
    original = w.ms._issue

    def issue(account: dict[str, Any], scopes: list[str], nonce: str | None) -> Any:
        status, headers, body = original(account, scopes, nonce)
        import json

        issued[json.loads(body)["access_token"]] = account["oid"]
        return status, headers, body

    w.ms._issue = issue  # type: ignore[method-assign]
    slug = w.teams_calendar()
    w.connect_teams("alice", ALICE)
    w.disconnect_teams("alice")
    bid, _ = _awaiting_booking(w, slug, "2026-11-25T09:00:00Z", "good@example.test")
    w.pump_all()
    w.connect_teams("alice", BOB)  # another Microsoft work account replaces the previous one (rule 6)
    w.drop("backfill")
    w.run_timer()
    w.pump_all()
    stored = w.booking("alice", bid)
    assert stored["link_state"] == "created" and stored["organizer_oid"] == BOB["oid"]
    [call] = w.graph.calls("POST", CREATE_OR_GET)
    assert issued[call.token] == BOB["oid"]  # the request was made with the new account's token


def test_the_other_workspaces_and_hosts_are_left_alone(world: World) -> None:
    w = world
    slug = w.teams_calendar()
    mine, _ = _awaiting_booking(w, slug, "2026-11-25T09:00:00Z", "mine@example.test")
    # another workspace with the same user id and another host of this workspace, both still disconnected
    from tests.unit.backfill.helpers import add_booking

    foreign = add_booking(w.store, f"{w.ws}x", "alice", NOW + timedelta(days=2))
    bob = add_booking(w.store, w.ws, "bob", NOW + timedelta(days=2))
    before = {b.id: _without_etag(w.store.get(repo.SCHEDULE, repo.schedule_pk(b.workspace, b.host),
                                              repo.booking_rk(b.id))) for b in (foreign, bob)}
    w.pump_all()
    w.connect_teams("alice", ALICE)
    w.drop("backfill")
    sent_before = len(w.queue.sent)
    w.run_timer()
    assert [(q, m["workspace"], m["host"], m["booking_id"]) for q, m in w.queue.sent[sent_before:]] == \
        [("meetings", w.ws, "alice", mine)]
    for b in (foreign, bob):
        e = w.store.get(repo.SCHEDULE, repo.schedule_pk(b.workspace, b.host), repo.booking_rk(b.id))
        assert _without_etag(e) == before[b.id]
        assert w.store.query("backfillindex", repo.schedule_pk(b.workspace, b.host))  # still waiting


# =============================================================================== storage bound
def _bulk_bookings(store: Any, ws: str, hosts: list[str], per_host: int) -> int:
    """``per_host`` booking rows per host, 100 per entity-group transaction (one partition each)."""
    written = 0
    for host in hosts:
        ops = []
        for i in range(per_host):
            start = NOW + timedelta(days=1 + i % 50, minutes=5 * (i // 50))
            b = repo.Booking(id=f"{host}{i:06d}".ljust(32, "0"), workspace=ws, calendar="cal1", calendar_slug="s",
                             calendar_type="personal", calendar_timezone="Europe/Berlin", host=host,
                             hosts=[{"user": host}], invitee_name="I", invitee_email="i@example.test",
                             invitee_timezone="UTC", start_utc=start, end_utc=start + timedelta(minutes=30),
                             location="teams", link_state="created", meeting_url=f"https://t.example/{host}/{i}")
            ops.append(("create", repo.booking_to_entity(b)))
            if len(ops) == 100:
                store.transact(repo.SCHEDULE, ops)
                written += len(ops)
                ops = []
        if ops:
            store.transact(repo.SCHEDULE, ops)
            written += len(ops)
    return written


@pytest.mark.slow
def test_with_20000_other_bookings_the_sweep_reads_only_its_candidates(world: World) -> None:
    w = world
    slug = w.teams_calendar()
    candidates = [_awaiting_booking(w, slug, f"2026-11-{d}T{h}:00:00Z", f"c{d}{h}@example.test")[0]
                  for d, h in (("24", "09"), ("24", "10"), ("25", "09"), ("25", "10"), ("26", "09"))]
    w.pump_all()
    started = time.monotonic()
    written = _bulk_bookings(w.store, w.ws, ["alice"], 5000)                       # the host's own linked ones
    written += _bulk_bookings(w.store, w.ws, [f"h{i:03d}" for i in range(75)], 100)  # other hosts
    written += _bulk_bookings(w.store, f"{w.ws}o", [f"o{i:03d}" for i in range(75)], 100)  # another workspace
    assert written == 20000 and time.monotonic() - started < 120
    w.connect_teams("alice", ALICE)
    w.drop("backfill")

    counted = azure_store(w.conn)  # a fresh adapter: its counters hold the sweep's requests only
    w.container.store = counted
    sent_before = len(w.queue.sent)
    w.run_timer()
    assert sorted(m["booking_id"] for _, m in w.queue.sent[sent_before:]) == sorted(candidates)
    # lease 0, checkpoint 0, transition 1, connection 1, index rows 5, no booking, host row 1 (phase 2)
    assert counted.entities_read <= len(candidates) + 4, counted.entities_read
    assert counted.requests <= 4 * len(candidates) + 15, counted.requests
    w.container.store = w.store
    w.pump("meetings")
    assert all(w.booking("alice", b)["link_state"] == "created" for b in candidates)


# =============================================================================== the local host
def test_through_the_local_functions_host(world: World) -> None:
    """``devhost.FunctionsHost`` resolves ``%BACKFILL_SCHEDULE%`` and runs the timer like the real host."""
    import azure.functions as func

    from devhost.functions_host import FunctionsHost
    from functions import backfill_sweep

    w = world
    slug = w.teams_calendar()
    bid, _ = _awaiting_booking(w, slug, "2026-11-25T09:00:00Z", "good@example.test")
    w.pump_all()
    w.connect_teams("alice", ALICE)
    w.drop("backfill")
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(backfill_sweep.bp)
    host = FunctionsHost(app, settings={"AzureWebJobsStorage": w.conn, "BACKFILL_SCHEDULE": "0 */5 * * * *"},
                         port=0)
    try:
        assert host.errors == {} and "backfill_sweep_timer" in host.functions
        invocation = host.run_timer_now("backfill_sweep_timer")
        assert invocation.ok, invocation.error
    finally:
        host.stop()
    w.pump_all()
    assert w.booking("alice", bid)["link_state"] == "created"
    assert [m["X-Sink-RcptTo"] for m in w.mails("link_update")] == ["good@example.test"]
