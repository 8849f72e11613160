"""Figure 5, ``sweep_reads_per_candidate`` with 1,000 and with 50,000 unrelated bookings stored.

Storage entities read by ONE run of the backfill sweep (``shared.usecases.backfill.run_sweep``, the
timer's use case, on the app's ``TableEntityStore`` over Azurite; its ``entities_read`` counter)
divided by the candidate bookings that run found. The floor is 1: each candidate's index row has to be
read once (the sweep decides from it; the meeting worker reads the booking).

Set-up, per size, on a fresh Azurite: a host whose Teams connection was disconnected gets 100 bookings
through the intake use case and the meeting worker's first look at each (``awaiting_connection``:
booking, locks, backfill index), then reconnects
(connection row + transition row, as the OAuth callback writes them). The unrelated bookings (links
created) are inserted with entity-group transactions of 100: 100 of them in the reconnected host's own
partition, the rest spread over other hosts, 100 per host. The figure should not move with their number.
"""
from __future__ import annotations

import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import RequestCounter, app_ports, azurite, log, storage_services, timed
from bench.report import Figure

CANDIDATES = 100
WS = "benchsweep"
HOST = "hana"
SIGNING_KEY = "bench-sweep-signing-key-0123456789abcdef"


def _setup_candidates(store: Any, queue: Any, connection_string: str) -> tuple[list[dict[str, Any]], Any]:
    """The host, its calendar, a disconnected Teams connection, 100 awaiting bookings; the reconnect."""
    from bench.intake import Lane, _call, book, calendar_body
    from devhost.smoke import RAISED_RATE_LIMITS
    from shared.bootstrap import Container, install
    from shared.domain import connections as rules
    from shared.domain.model import ConnectionKind
    from shared.ports import iso_utc
    from shared.settings import Settings

    # 100 bookings of one invitee within minutes: the limits raised above that, as in the intake figure
    install(Container(Settings({"LINK_SIGNING_KEY": SIGNING_KEY, "AzureWebJobsStorage": connection_string,
                                **RAISED_RATE_LIMITS}), store=store, queue=queue))
    from functions import management

    status, body = _call(management.management_workspace, "PUT", {"workspace": WS}, {"name": "Bench sweep"})
    assert status in (200, 201), body
    status, body = _call(management.management_user, "PUT", {"workspace": WS, "user": HOST},
                         {"name": "Hana Host", "email": "hana@bench.example", "timezone": "UTC"})
    assert status in (200, 201), body
    status, body = _call(management.management_calendar, "PUT", {"workspace": WS, "calendar": "cal-hana"},
                         calendar_body("bench-sweep-hana", HOST))
    assert status in (200, 201), body
    account = rules.MicrosoftAccount(oid=str(uuid.uuid4()), tid=str(uuid.uuid4()), upn="hana@bench.example")
    now = datetime.now(UTC)
    first = rules.connect(None, workspace=WS, user=HOST, kind=ConnectionKind.TEAMS, account=account,
                          scopes=rules.scopes_for(ConnectionKind.TEAMS), now=iso_utc(now - timedelta(days=30)))
    store.insert(rules.TRANSITIONS_TABLE, rules.transition_row(first.entity))
    gone = rules.disconnect(first.entity, now=iso_utc(now - timedelta(days=1)))
    store.upsert(rules.CONNECTIONS_TABLE, gone)
    lane = Lane(0, HOST, "cal-hana", "bench-sweep-hana",
                (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0))
    made = []
    for _ in range(CANDIDATES):
        status, body = book(lane)
        if status != 201:
            raise RuntimeError(f"candidate booking: {status} {body}")
        made.append(body)
    _first_look(store, queue, made)
    # the host connects Teams again: what the OAuth callback stores (the sweep needs no tokens)
    previous = store.get(rules.CONNECTIONS_TABLE, rules.connection_pk(WS, HOST), ConnectionKind.TEAMS.value)
    again = rules.connect(previous, workspace=WS, user=HOST, kind=ConnectionKind.TEAMS, account=account,
                          scopes=rules.scopes_for(ConnectionKind.TEAMS), now=iso_utc(datetime.now(UTC)))
    assert again.transitioned
    store.insert(rules.TRANSITIONS_TABLE, rules.transition_row(again.entity))
    store.update(rules.CONNECTIONS_TABLE, again.entity, previous.get("_etag"))
    template = next(r for r in store.query("schedule", f"{WS}|{HOST}", row_key_from="booking|",
                                           row_key_to="booking}"))
    install(None)
    return made, {k: v for k, v in template.items() if not k.startswith("_")}


def _first_look(store: Any, queue: Any, made: list[dict[str, Any]]) -> None:
    """The meeting worker's first look at each booking (intake stores ``pending``, its ``create`` message
    is the same as this one): no Teams connection, so ``awaiting_connection`` with its backfill index row."""
    from shared.ports import SystemClock
    from shared.repositories.connection_reads import get_connection_row
    from shared.usecases.meetings import MeetingDeps, handle_meeting_message

    def no_graph(*_: Any, **__: Any) -> Any:
        raise RuntimeError("no Graph call expected: the host is not connected")

    deps = MeetingDeps(store=store, queue=queue, clock=SystemClock(), graph=no_graph, access_token=no_graph,
                       connection=lambda ws, user, kind: get_connection_row(store, ws, user, kind),
                       mark_teams_unavailable=no_graph)
    for body in made:
        outcome = handle_meeting_message(deps, {"op": "create", "workspace": WS, "host": HOST,
                                                "booking_id": body["id"], "revision": 1})
        if outcome.link_state != "awaiting_connection":
            raise RuntimeError(f"candidate booking {body['id']}: {outcome}")


def _insert_unrelated(connection_string: str, template: dict[str, Any], n: int, threads: int = 4) -> float:
    """``n`` bookings with links, entity-group transactions of 100 (one partition each); seconds taken."""
    tables, _ = storage_services(connection_string)
    schedule = tables.get_table_client("schedule")
    base = datetime.now(UTC) + timedelta(days=3)
    batches = []
    for b in range(max(1, n // 100)):
        host = HOST if b == 0 else f"other{b:04d}"
        ops = []
        for k in range(100):
            bid = uuid.uuid4().hex
            start = base + timedelta(minutes=30 * k)
            entity = dict(template)
            entity.update(PartitionKey=f"{WS}|{host}", RowKey=f"booking|{bid}", id=bid, host=host,
                          start_utc=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          end_utc=(start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                          link_state="created", link_reason=None,
                          meeting_url=f"https://teams.example/l/meetup-join/{bid}")
            ops.append(("create", {k2: v for k2, v in entity.items() if v is not None}))
        batches.append(ops)
    done = [0]
    lock = threading.Lock()

    def submit(ops: list[Any]) -> None:
        schedule.submit_transaction(ops)
        with lock:
            done[0] += 1

    seconds, _ = timed(lambda: list(ThreadPoolExecutor(threads).map(submit, batches)))
    return seconds


def measure(unrelated: int) -> tuple[float, dict[str, Any]]:
    from shared.ports import SystemClock
    from shared.usecases.backfill import BackfillDeps, run_sweep

    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp, azurite(Path(tmp) / "azurite") as az:
        store, queue = app_ports(az.connection_string)
        _, template = _setup_candidates(store, queue, az.connection_string)
        insert_s = _insert_unrelated(az.connection_string, template, unrelated)
        log(f"sweep: {unrelated} unrelated bookings inserted in {insert_s:.1f}s")
        counter = RequestCounter()
        sweep_store, sweep_queue = app_ports(az.connection_string, counter)
        for table in ("sweepstate", "connectiontransitions", "backfillhosts", "backfillindex", "connections",
                      "schedule"):  # create-if-missing happens once per process: not the sweep's reads
            sweep_store._table(table)  # noqa: SLF001
        sweep_queue._queue("meetings")  # noqa: SLF001
        counter.reset()
        deps = BackfillDeps(store=sweep_store, queue=sweep_queue, clock=SystemClock())
        seconds, run = timed(lambda: run_sweep(deps, trigger="timer"))
        candidates = run.candidates
        reads = sweep_store.entities_read
        details = {
            "unrelated_bookings": unrelated, "candidates": candidates, "enqueued": run.enqueued,
            "entities_read": reads, "storage_requests": counter.total,
            "requests_by_kind": dict(sorted(counter.snapshot().items())),
            "hosts_swept": run.hosts, "sweep_s": round(seconds, 3), "insert_s": round(insert_s, 1),
        }
        if candidates != CANDIDATES:
            details["problem"] = f"the sweep found {candidates} candidates, {CANDIDATES} were stored"
        value = reads / candidates if candidates else float("nan")
        log(f"sweep ({unrelated} unrelated): {reads} entities read for {candidates} candidates, "
            f"{counter.total} requests, {seconds:.2f}s")
        return value, details


def run(sizes: tuple[tuple[str, int], ...] = (("1k", 1_000), ("50k", 50_000))) -> list[Figure]:
    figures = []
    for label, n in sizes:
        value, details = measure(n)
        figures.append(Figure(f"sweep_reads_per_candidate_{label}", value, "entities/candidate", details))
    return figures
