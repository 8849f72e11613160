"""Figure 4, ``availability_fanout_ratio``: 14 days of slots of a 20-member round robin against ONE member's
``getSchedule`` call, with the Microsoft stand-in answering every request after 200 ms.

Every member reads Outlook free/busy with their own ``microsoft_calendar`` connection (20 stand-in work
accounts, each connected through the real connect flow in-process: connect link -> authorize with
``login_hint`` -> callback use case), so a page of slots needs 20 Graph calls plus each member's
storage reads. Read in parallel, the page costs about one Graph round trip: the ratio is near 1.
The slots are computed by the public slots function, called in-process with ``func.HttpRequest``; the
floor is ``shared.adapters.graph_calendar.get_schedule`` for one mailbox over the same 14 days. Both are
medians of alternating repeats.
"""
from __future__ import annotations

import json
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import RequestCounter, app_ports, log, median, sign_in_at_standin, timed
from bench.report import Figure

MEMBERS = 20
LATENCY_MS = 200
DAYS = 14
WS = "benchavail"
TENANT = "f20819f0-fd3e-4491-aad0-0479085b2e6f"  # Contoso of the stand-in's fixture


def accounts(n: int) -> list[dict[str, Any]]:
    """``n`` work accounts with Teams in the stand-in's Contoso tenant."""
    import base64

    out = []
    for i in range(n):
        out.append({
            "upn": f"member{i:02d}@contoso.example", "display_name": f"Member {i:02d}", "given_name": "Member",
            "surname": f"{i:02d}", "oid": str(uuid.uuid4()), "tid": TENANT, "kind": "work", "time_zone": "UTC",
            "calendar_id": base64.b64encode(f"bench-member-{i:02d}-primary".encode()).decode(),
        })
    return out


def _call(fn: Any, method: str, route: dict[str, str], body: Any = None,
          params: dict[str, str] | None = None) -> tuple[int, Any]:
    import azure.functions as func

    req = func.HttpRequest(method, "http://localhost/api/bench", headers={}, params=params or {},
                           route_params=route, body=json.dumps(body).encode() if body is not None else b"")
    resp = fn.build().get_user_function()(req)
    raw = resp.get_body() or b""
    return resp.status_code, (json.loads(raw) if raw else None)


def _connect(container: Any, user: str, upn: str, ca_bundle: str) -> None:
    from shared.usecases import connections as uc

    deps = uc.ConnectionDeps.from_container(container)
    link = uc.create_connect_link(deps, WS, user, "microsoft_calendar")
    opened = uc.open_connect_link(deps, link["url"].rsplit("/", 1)[1])
    if not opened.redirect_to:
        raise RuntimeError(f"connect link of {user} did not redirect: {opened}")
    _, fields = sign_in_at_standin(opened.redirect_to, upn, ca_bundle)
    result = uc.complete_sign_in(deps, fields)
    if not result.ok:
        raise RuntimeError(f"sign-in of {user} failed: {result}")


class RemoteStandIn:
    """The stand-in in its own process (as Graph is: elsewhere, not sharing this process's GIL)."""

    def __init__(self, folder: Path, accts: list[dict[str, Any]]) -> None:
        import subprocess
        import sys

        from bench.common import ROOT

        fixture = folder / "accounts.json"
        fixture.write_text(json.dumps({"accounts": accts}), encoding="utf-8")
        errors = folder / "standin.err"
        with open(errors, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devhost.msstandin", "--port", "0", "--cert-dir", str(folder / "certs"),
                 "--accounts", str(fixture), "--json"],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("{"):
            self.stop()
            tail = errors.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(f"the stand-in did not start: {tail}")
        info = json.loads(line)
        self.base_url, self.authority_host = info["base_url"], info["authority_host"]
        self.graph_base_url, self.ca_bundle_path = info["graph_base_url"], info["ca_bundle_path"]
        import requests

        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = self.ca_bundle_path

    def sandbox(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.http.request(method, self.base_url + path, json=body, timeout=60)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {resp.status_code}: {resp.text[:200]}")
        return resp.json() if resp.content else None

    def configure(self, **knobs: Any) -> Any:
        return self.sandbox("POST", "/_sandbox/config", knobs)

    def add_outside_event(self, upn: str, start: str, end: str) -> Any:
        return self.sandbox("POST", f"/_sandbox/accounts/{upn}/events", {"start": start, "end": end})

    def requests(self) -> list[dict[str, Any]]:
        return list(self.sandbox("GET", "/_sandbox/requests")["value"])

    def stop(self) -> None:
        import os
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except Exception:  # noqa: BLE001
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def run(connection_string: str, *, repeats: int = 7) -> list[Figure]:
    from cryptography.fernet import Fernet

    from bench.intake import calendar_body
    from devhost.msstandin import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
    from functions import management, public_booking
    from shared.bootstrap import Container, install
    from shared.settings import Settings

    accts = accounts(MEMBERS)
    with tempfile.TemporaryDirectory(prefix="bench-standin-") as tmp:
        ms = RemoteStandIn(Path(tmp), accts)
        try:
            counter = RequestCounter()
            store, queue = app_ports(connection_string, counter)
            settings = Settings({
                "MICROSOFT_CLIENT_ID": DEFAULT_CLIENT_ID, "MICROSOFT_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
                "MICROSOFT_AUTHORITY_HOST": ms.authority_host, "GRAPH_BASE_URL": ms.graph_base_url,
                "MICROSOFT_CA_BUNDLE": str(ms.ca_bundle_path),
                "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "LINK_SIGNING_KEY": "bench-availability-signing-key-0123456789",
                "PUBLIC_BASE_URL": "http://127.0.0.1:7071", "AzureWebJobsStorage": connection_string,
            })
            container = Container(settings, store=store, queue=queue)
            install(container)
            try:
                return _measure(container, ms, accts, management, public_booking, calendar_body, repeats, counter)
            finally:
                install(None)
        finally:
            ms.stop()


def _measure(container: Any, ms: Any, accts: list[dict[str, Any]], management: Any, public_booking: Any,
             calendar_body: Any, repeats: int, counter: RequestCounter) -> list[Figure]:
    from shared.adapters.graph_calendar import get_schedule
    from shared.usecases.connections import ConnectionDeps, get_access_token

    status, body = _call(management.management_workspace, "PUT", {"workspace": WS}, {"name": "Bench availability"})
    assert status in (200, 201), body
    users = [f"m{i:02d}" for i in range(MEMBERS)]
    today = datetime.now(UTC).date()
    first, last = today + timedelta(days=1), today + timedelta(days=DAYS)
    for user, acct in zip(users, accts, strict=True):
        status, body = _call(management.management_user, "PUT", {"workspace": WS, "user": user},
                             {"name": acct["display_name"], "email": acct["upn"], "timezone": "UTC"})
        assert status in (200, 201), body
        # a few meetings made outside bookbridge, so free/busy has something to say
        for d in (2, 5, 9):
            day = datetime.combine(today + timedelta(days=d), datetime.min.time(), UTC)
            start = day + timedelta(hours=9 + (hash(user) + d) % 8)
            ms.add_outside_event(acct["upn"], start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                 (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    members = [{"user": u, "meeting_location": "none", "calendar_provider": "microsoft"} for u in users]
    rr = calendar_body("bench-avail-rr", users[0], members=members, type_="round_robin")
    one = calendar_body("bench-avail-one", users[0], provider="microsoft", location="none")
    for cal, body in (("rr", rr), ("one", one)):
        status, resp = _call(management.management_calendar, "PUT", {"workspace": WS, "calendar": cal}, body)
        assert status in (200, 201), resp
    ca = str(ms.ca_bundle_path)
    for user, acct in zip(users, accts, strict=True):
        _connect(container, user, acct["upn"], ca)
    log(f"availability: {MEMBERS} members connected through the connect flow")

    params = {"start": first.isoformat(), "end": last.isoformat(), "timezone": "UTC"}

    def slots(slug: str) -> dict[str, Any]:
        code, data = _call(public_booking.public_slots, "GET", {"slug": slug}, params=params)
        if code != 200:
            raise RuntimeError(f"slots of {slug} -> {code} {data}")
        return data

    deps = ConnectionDeps.from_container(container)
    window = (datetime.combine(first, datetime.min.time(), UTC),
              datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC))

    def single() -> Any:
        token = get_access_token(deps, WS, users[0], "microsoft_calendar")
        return timed(lambda: get_schedule(container.graph, token, [accts[0]["upn"]], *window))[0]

    # warm-up at zero latency: tokens cached, connections open, modules imported
    warm = slots("bench-avail-rr")
    warm_one = slots("bench-avail-one")
    single()
    tokens = [get_access_token(deps, WS, u, "microsoft_calendar") for u in users]

    def raw_parallel() -> float:
        """The 20 getSchedule calls alone, from 20 threads at once (tokens in hand, no storage, no slots):
        what the stand-in and the TLS client side cost when everything else is taken away."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(MEMBERS) as pool:
            wall, _ = timed(lambda: list(pool.map(
                lambda i: get_schedule(container.graph, tokens[i], [accts[i]["upn"]], *window), range(MEMBERS))))
        return wall

    raw_parallel()
    # the same page with Graph answering at once: what the page costs besides waiting for Graph
    zero = [timed(lambda: slots("bench-avail-rr"))[0] for _ in range(3)]
    zero_single = [single() for _ in range(3)]
    ms.configure(latency_ms=LATENCY_MS)
    fan, one_member, floor, raw = [], [], [], []
    ops = []
    for _ in range(repeats):
        floor.append(single())
        before = counter.total
        wall, data = timed(lambda: slots("bench-avail-rr"))
        ops.append(counter.total - before)
        fan.append(wall)
        one_member.append(timed(lambda: slots("bench-avail-one"))[0])
        raw.append(raw_parallel())
    graph_calls = [r for r in ms.requests() if r.get("area") == "graph"]
    throttled = sum(1 for r in graph_calls if r["status"] == 429)
    ratio = median(fan) / median(floor)
    details = {
        "members": MEMBERS, "days": DAYS, "standin_latency_ms": LATENCY_MS, "repeats": repeats,
        "fanout_median_s": round(median(fan), 3), "fanout_s": [round(x, 3) for x in fan],
        "single_getschedule_median_s": round(median(floor), 3),
        "one_member_calendar_median_s": round(median(one_member), 3),
        "raw_parallel_getschedule_20_median_s": round(median(raw), 3),
        "fanout_at_zero_latency_median_s": round(median(zero), 3),
        "single_getschedule_at_zero_latency_median_s": round(median(zero_single), 3),
        "slots_offered": len(data.get("slots", [])), "slots_offered_at_zero_latency": len(warm.get("slots", [])),
        "storage_requests_per_page": round(median([float(x) for x in ops]), 1),
        "graph_429s": throttled,
        "one_member_slots_offered": len(warm_one.get("slots", [])),
        "note": "one-member calendar: 3 outside events of 1 h block 6 of its 672 slots when free/busy is read",
        "availability_max_workers": _max_workers(),
    }
    log(f"availability: 20 members {median(fan):.3f}s vs one getSchedule {median(floor):.3f}s "
        f"(one-member calendar {median(one_member):.3f}s)")
    visitors = _visitors(container, ms, slots, len(data.get("slots", [])))
    return [Figure("availability_fanout_ratio", ratio, "ratio", details), visitors]


VISITOR_RATES = (5, 10, 20, 30, 40)


def _visitors(container: Any, ms: Any, slots: Any, expected: int) -> Figure:
    """``availability_visitors_without_429``: the most visitors of the 20-member calendar arriving within one
    second (all at once, the free/busy cache cold) that are all served with zero 429s from the stand-in
    (4 concurrent requests per mailbox, 200 ms) and the same slots as a lone visitor (no member wrongly busy)."""
    from concurrent.futures import ThreadPoolExecutor

    rounds: list[dict[str, Any]] = []
    best = 0
    for rate in VISITOR_RATES:
        container.free_busy_cache.clear()
        ms.sandbox("DELETE", "/_sandbox/requests")
        with ThreadPoolExecutor(rate) as pool:
            wall, pages = timed(lambda pool=pool, rate=rate: list(pool.map(lambda _i: _safe(slots), range(rate))))
        throttled = sum(1 for r in ms.requests() if r.get("area") == "graph" and r["status"] == 429)
        graph = sum(1 for r in ms.requests() if r.get("area") == "graph")
        wrong = sum(1 for p in pages if p is None or len(p.get("slots", [])) != expected)
        rounds.append({"visitors": rate, "wall_s": round(wall, 3), "graph_calls": graph, "graph_429s": throttled,
                       "pages_with_other_slots": wrong})
        log(f"availability: {rate} visitors at once: {graph} Graph calls, {throttled} throttled, "
            f"{wrong} pages with other slots, {wall:.2f}s")
        if throttled or wrong:
            break
        best = rate
    return Figure("availability_visitors_without_429", best, "visitors/s",
                  {"rounds": rounds, "expected_slots": expected, "standin_latency_ms": LATENCY_MS,
                   "members": MEMBERS})


def _safe(slots: Any) -> Any:
    try:
        return slots("bench-avail-rr")
    except Exception:  # noqa: BLE001 - a failed page counts as wrong
        return None


def _max_workers() -> int:
    from dataclasses import fields

    from shared.usecases.availability import AvailabilityDeps

    return next(int(f.default) for f in fields(AvailabilityDeps) if f.name == "max_workers")
