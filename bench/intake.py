"""Figure 2, ``intake_ratio`` and ``intake_storage_ops_per_booking``.

Bookings per second through the booking intake function (called in-process with ``func.HttpRequest``,
the app's own adapters on Azurite, several threads, each thread its own calendar and host so bookings
never conflict) divided by the floor: the raw storage operations one booking cannot do without (one
point read of the calendar's slug row, one entity-group transaction of the booking and its lock rows,
one queue send), done directly with the SDK, with the same entities, threads and client options. Rounds
of both alternate; the medians are compared.

Intake reads the calendar through the container's ``CalendarCache`` (``CALENDAR_CACHE_SECONDS``, the
production default), as it does in production: a lane's bookings read its calendar once per period. The
floor reads the slug row for every booking (what one booking alone cannot do without).

Calendars: personal, UTC, open all day, 30-minute slots, the host's location Teams with a ``connected``
Teams connection (the product's main path), no Outlook free/busy, no buffers, no Idempotency-Key.
Storage operations are every HTTP request the storage SDKs put on the wire (a counting transport),
cross-checked with the adapters' own counters.
"""
from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import RequestCounter, app_ports, log, median, storage_services
from bench.report import Figure

THREADS = 4
SIGNING_KEY = "bench-intake-signing-key-0123456789abcdef"
WS = "benchintake"


@dataclass
class Lane:
    """One thread's calendar: its host, slug and the next free slot."""

    index: int
    user: str
    calendar: str
    slug: str
    next_start: datetime

    @property
    def invitee(self) -> str:
        """The lane's own invitee: lanes share no rate-limit counter (nothing conflicts)."""
        return f"ina{self.index}@example.org"

    def take_slot(self) -> datetime:
        start = self.next_start
        self.next_start = start + timedelta(minutes=30)
        return start


def _user_fn(fn: Any) -> Any:
    return fn.build().get_user_function()


def _call(fn: Any, method: str, route: dict[str, str], body: Any) -> tuple[int, Any]:
    import azure.functions as func

    req = func.HttpRequest(method, "http://localhost/api/bench", headers={}, params={}, route_params=route,
                           body=json.dumps(body).encode())
    resp = _user_fn(fn)(req)
    raw = resp.get_body() or b""
    return resp.status_code, (json.loads(raw) if raw else None)


def calendar_body(slug: str, user: str, *, location: str = "teams", provider: str = "none",
                  members: list[dict[str, Any]] | None = None, type_: str = "personal") -> dict[str, Any]:
    """Open every day all day (UTC), 30-minute slots, a year ahead, no notice, no buffers."""
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    return {
        "slug": slug, "name": f"Bench {slug}", "type": type_, "timezone": "UTC", "duration_minutes": 30,
        "slot_interval_minutes": 30, "weekly_hours": {d: [{"start": "00:00", "end": "24:00"}] for d in days},
        "buffer_before_minutes": 0, "buffer_after_minutes": 0, "minimum_notice_minutes": 0,
        "max_days_ahead": 365, "reminder_offsets_minutes": [],
        "members": members or [{"user": user, "meeting_location": location, "calendar_provider": provider}],
    }


def setup_lanes(store: Any, n: int, first_start: datetime, prefix: str = "lane") -> list[Lane]:
    """Workspace, one user + personal calendar + connected Teams connection per lane (management API)."""
    from functions import management

    status, _ = _call(management.management_workspace, "PUT", {"workspace": WS}, {"name": "Bench intake"})
    assert status in (200, 201), status
    lanes = []
    for i in range(n):
        user, cal, slug = f"{prefix}{i}", f"cal-{prefix}{i}", f"bench-{prefix}-{i}"
        status, body = _call(management.management_user, "PUT", {"workspace": WS, "user": user},
                             {"name": f"Host {i}", "email": f"host{i}@bench.example", "timezone": "UTC"})
        assert status in (200, 201), body
        status, body = _call(management.management_calendar, "PUT", {"workspace": WS, "calendar": cal},
                             calendar_body(slug, user))
        assert status in (200, 201), body
        store.upsert("connections", {
            "PartitionKey": f"{WS}|{user}", "RowKey": "teams", "status": "connected", "kind": "teams",
            "account_oid": str(uuid.uuid4()), "account_tid": str(uuid.uuid4()), "upn": f"host{i}@bench.example",
            "connected_generation": 1, "connected_at": "2026-01-01T00:00:00Z",
        })
        lanes.append(Lane(i, user, cal, slug, first_start))
    return lanes


def book(lane: Lane) -> tuple[int, Any]:
    from functions import public_booking

    start = lane.take_slot().strftime("%Y-%m-%dT%H:%M:%SZ")
    return _call(public_booking.public_create_booking, "POST", {"slug": lane.slug},
                 {"start": start, "name": "Ina Invitee", "email": lane.invitee, "timezone": "Europe/Berlin"})


def _together(n: int, work: Any) -> float:
    """Run ``work(i)`` on ``n`` threads released together; wall seconds until all are done."""
    import time

    barrier = threading.Barrier(n + 1)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise errors[0]
    return wall


class Floor:
    """The raw SDK operations of one booking, with the entities intake really writes."""

    def __init__(self, connection_string: str, lanes: list[Lane], template: list[dict[str, Any]],
                 message: dict[str, Any]) -> None:
        from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy

        self.counter = RequestCounter()
        tables, queues = storage_services(connection_string, self.counter)
        self.slugs = tables.get_table_client("calendarslugs")
        self.schedule = tables.get_table_client("schedule")
        self.queue = queues.get_queue_client("benchfloor", message_encode_policy=BinaryBase64EncodePolicy(),
                                             message_decode_policy=BinaryBase64DecodePolicy())
        try:
            self.queue.create_queue()
        except Exception:  # noqa: BLE001 - exists
            pass
        self.lanes = lanes
        self.template = template
        self.body = json.dumps(message, separators=(",", ":"), sort_keys=True).encode("utf-8")

    def one(self, lane: Lane, n: int) -> None:
        self.slugs.get_entity(lane.slug, "slug")
        pk = f"floor|{lane.index}|{uuid.uuid4().hex[:8]}"
        ops = []
        for e in self.template:
            entity = dict(e)
            entity["PartitionKey"] = pk
            ops.append(("create", entity))
        self.schedule.submit_transaction(ops)
        self.queue.send_message(self.body, visibility_timeout=0)


def _template(store: Any, lane: Lane, booking_id: str) -> list[dict[str, Any]]:
    """The booking row and lock rows intake wrote for one booking (plain dicts, our own keys)."""
    rows = [r for r in store.query("schedule", f"{WS}|{lane.user}")
            if r.get("id") == booking_id or r.get("booking_id") == booking_id]
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


def other_paths(store: Any, queue: Any, counter: RequestCounter, first: datetime, n: int = 5) -> dict[str, Any]:
    """Storage requests per booking on the other intake paths (a few bookings each, not timed)."""
    from functions import management

    out: dict[str, Any] = {}
    paths = {
        "no_location": {"location": "none"},
        "custom_link": {"location": "custom"},
        "teams_awaiting_connection": {"location": "teams", "connected": False},
        "teams_with_idempotency_key": {"location": "teams", "key": True},
    }
    for i, (name, spec) in enumerate(paths.items()):
        user, cal, slug = f"path{i}", f"cal-path{i}", f"bench-path-{i}"
        _call(management.management_user, "PUT", {"workspace": WS, "user": user},
              {"name": f"Path {i}", "email": f"path{i}@bench.example", "timezone": "UTC"})
        body = calendar_body(slug, user, location=spec["location"])
        if spec["location"] == "custom":
            body["members"][0]["custom_url"] = "https://meet.bench.example/room"
        status, resp = _call(management.management_calendar, "PUT", {"workspace": WS, "calendar": cal}, body)
        assert status in (200, 201), resp
        if spec.get("connected", True) and spec["location"] == "teams":
            store.upsert("connections", {"PartitionKey": f"{WS}|{user}", "RowKey": "teams", "status": "connected",
                                         "kind": "teams", "connected_generation": 1})
        lane = Lane(100 + i, user, cal, slug, first)
        # the first one pays for creating tables and queues in this process
        if spec.get("key"):
            _call_with_key(lane, f"bench-key-{uuid.uuid4().hex}")
        else:
            book(lane)
        snap = counter.snapshot()
        for _ in range(n):
            if spec.get("key"):
                status, resp = _call_with_key(lane, f"bench-key-{uuid.uuid4().hex}")
            else:
                status, resp = book(lane)
            assert status == 201, resp
        diff = counter.snapshot()
        diff.subtract(snap)
        out[name] = {"requests_per_booking": round(sum(diff.values()) / n, 2),
                     "by_request_kind": {k: round(v / n, 2) for k, v in sorted(diff.items()) if v}}
    return out


LIMITS_OFF = {"RATE_LIMIT_BOOKINGS_PER_CLIENT": "0", "RATE_LIMIT_SLOTS_PER_CLIENT": "0",
              "RATE_LIMIT_CONFIRMATIONS_PER_INVITEE": "0", "RATE_LIMIT_BOOKINGS_PER_CALENDAR": "0"}


def without_limits(connection_string: str, store: Any, queue: Any, counter: RequestCounter, first: datetime,
                   n: int = 20) -> dict[str, Any]:
    """Storage requests per booking on the main path with every rate limit off: intake's own floor (issue 15
    (11)). The container is swapped for one without limits and swapped back by the caller."""
    from shared.bootstrap import Container, install
    from shared.settings import Settings

    install(Container(Settings({"LINK_SIGNING_KEY": SIGNING_KEY, "AzureWebJobsStorage": connection_string,
                                **LIMITS_OFF}), store=store, queue=queue))
    [lane] = setup_lanes(store, 1, first, prefix="nolimits")
    assert book(lane)[0] == 201
    snap = counter.snapshot()
    for _ in range(n):
        status, resp = book(lane)
        assert status == 201, resp
    diff = counter.snapshot()
    diff.subtract(snap)
    return {"requests_per_booking": sum(diff.values()) / n,
            "by_request_kind": {k: round(v / n, 2) for k, v in sorted(diff.items()) if v}}


def _call_with_key(lane: Lane, key: str) -> tuple[int, Any]:
    import azure.functions as func

    from functions import public_booking

    start = lane.take_slot().strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"start": start, "name": "Ina Invitee", "email": lane.invitee, "timezone": "Europe/Berlin"}
    req = func.HttpRequest("POST", "http://localhost/api/bench", headers={"Idempotency-Key": key}, params={},
                           route_params={"slug": lane.slug}, body=json.dumps(body).encode())
    resp = _user_fn(public_booking.public_create_booking)(req)
    raw = resp.get_body() or b""
    return resp.status_code, (json.loads(raw) if raw else None)


def run(connection_string: str, *, per_thread: int = 40, rounds: int = 5) -> tuple[list[Figure], dict[str, Any]]:
    """Returns the figures and what the msal probe needs (a lane and a free slot)."""
    from shared.bootstrap import Container, install
    from shared.settings import Settings

    counter = RequestCounter()
    store, queue = app_ports(connection_string, counter)
    from devhost.smoke import RAISED_RATE_LIMITS

    # the limits on (raised), so their counters' cost is part of the figure
    settings = Settings({"LINK_SIGNING_KEY": SIGNING_KEY, "AzureWebJobsStorage": connection_string,
                         **RAISED_RATE_LIMITS})
    container = Container(settings, store=store, queue=queue)
    install(container)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    lanes = setup_lanes(store, THREADS, tomorrow)
    # warm-up: tables and queues exist, connection pools are open, modules imported
    warm = [book(lane) for lane in lanes for _ in range(3)]
    assert all(s == 201 for s, _ in warm), [b for s, b in warm if s != 201][:1]
    template = _template(store, lanes[0], warm[0][1]["id"])
    message = {"op": "create", "workspace": WS, "host": lanes[0].user, "booking_id": uuid.uuid4().hex,
               "revision": 1}
    floor = Floor(connection_string, lanes, template, message)
    for lane in lanes:
        floor.one(lane, 0)

    intake_rates, floor_rates, ops_per_booking = [], [], []
    kinds_per_booking: dict[str, float] = {}
    adapter_ops: list[float] = []
    floor_ops: list[float] = []
    total = THREADS * per_thread
    for r in range(rounds):
        # floor
        before = floor.counter.total
        wall = _together(THREADS, lambda i: [floor.one(lanes[i], k) for k in range(per_thread)])
        floor_rates.append(total / wall)
        floor_ops.append((floor.counter.total - before) / total)
        # intake
        snap, a_before = counter.snapshot(), store.requests + queue.requests
        statuses: list[int] = []
        lock = threading.Lock()

        def work(i: int, lock: threading.Lock = lock, statuses: list[int] = statuses) -> None:
            for _ in range(per_thread):
                status, body = book(lanes[i])
                with lock:
                    statuses.append(status)
                if status != 201:
                    raise RuntimeError(f"intake answered {status}: {body}")

        wall = _together(THREADS, work)
        intake_rates.append(total / wall)
        diff = counter.snapshot()
        diff.subtract(snap)
        ops_per_booking.append(sum(diff.values()) / total)
        adapter_ops.append((store.requests + queue.requests - a_before) / total)
        kinds_per_booking = {k: round(v / total, 3) for k, v in sorted(diff.items()) if v}
        log(f"intake round {r + 1}/{rounds}: {intake_rates[-1]:.1f} bookings/s vs floor {floor_rates[-1]:.1f}/s, "
            f"{ops_per_booking[-1]:.2f} storage requests per booking")

    # each round is a floor run and an intake run back to back: their ratio is the least disturbed by
    # the machine's load drifting between rounds
    ratio = median([i / f for i, f in zip(intake_rates, floor_rates, strict=True)])
    details = {
        "threads": THREADS,
        "bookings_per_round": total,
        "rounds": rounds,
        "intake_bookings_per_s": [round(x, 1) for x in intake_rates],
        "floor_bookings_per_s": [round(x, 1) for x in floor_rates],
        "intake_median_per_s": round(median(intake_rates), 1),
        "floor_median_per_s": round(median(floor_rates), 1),
        "floor_requests_per_booking": round(median(floor_ops), 3),
        "ratio_of_medians": round(median(intake_rates) / median(floor_rates), 3),
        "path": "personal calendar, Teams location, host's Teams connection connected, no Idempotency-Key",
    }
    limited_details = {
        "path": details["path"] + ", the rate limits on (raised) as in the timed rounds",
        "by_request_kind": kinds_per_booking,
        "other_paths": other_paths(store, queue, counter, tomorrow + timedelta(days=200)),
        "adapter_counters_per_booking": round(median(adapter_ops), 3),
        "floor_requests_per_booking": round(median(floor_ops), 3),
    }
    bare = without_limits(connection_string, store, queue, counter, tomorrow + timedelta(days=300))
    install(container)
    ops_details = {"path": details["path"] + ", every rate limit off", **bare,
                   "floor_requests_per_booking": round(median(floor_ops), 3)}
    next_start = lanes[0].take_slot().strftime("%Y-%m-%dT%H:%M:%SZ")
    figures = [
        Figure("intake_ratio", ratio, "ratio", details),
        Figure("intake_storage_ops_per_booking", bare["requests_per_booking"], "ops/booking", ops_details),
        Figure("intake_storage_ops_per_booking_limited", median(ops_per_booking), "ops/booking", limited_details),
    ]
    install(None)
    return figures, {"slug": lanes[0].slug, "start": next_start}
