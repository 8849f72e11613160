"""Figure 3, ``graph_calls_per_meeting`` (same account / Teams only), with ``throttled_fraction``,
``duplicates`` and the link latency (booking accepted -> link stored) in units of the stand-in's latency.

Everything runs through the real local stack (``devhost.stack.Stack``: Azurite, SMTP sink, Microsoft
stand-in, the local Functions host with the real queue semantics of host.json). Hosts connect through
the real connect flow: connect link (management API) -> the stand-in's authorize with ``login_hint`` ->
the app's callback. Then a burst of bookings for ONE host (one mailbox) is posted to the public API while
the stand-in answers every Graph request after ``latency_ms`` and allows 4 concurrent requests per
mailbox (429 + ``Retry-After: 1`` beyond that), as Outlook does.

* same account: the host connected Teams AND the Microsoft calendar with the same account (rule 8: ONE
  ``POST /me/events`` with ``isOnlineMeeting``);
* Teams only: the host connected only Teams (``POST /me/onlineMeetings/createOrGet``).

Graph requests are the stand-in's own record (area ``graph``) of the burst, 429s included; meetings are
bookings whose link is stored (``link_state`` ``created``). Link latency: from the moment the intake
answered 201 to the first poll of the host's partition (every 50 ms) that shows the link.
"""
from __future__ import annotations

import json
import math
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import ROOT, log, percentile, sign_in_at_standin
from bench.report import Figure

LATENCY_MS = 100
MAX_CONCURRENT = 4
CLIENT_THREADS = 8
POLL_INTERVAL = 0.05


def _sample_values() -> dict[str, str]:
    from devhost.smoke import RAISED_RATE_LIMITS

    sample = json.loads((ROOT / "local.settings.sample.json").read_text(encoding="utf-8"))
    return {k: str(v) for k, v in sample["Values"].items()} | RAISED_RATE_LIMITS


class StackClient:
    """The management and public API of a running stack over HTTP."""

    def __init__(self, stack: Any) -> None:
        import requests

        self.stack = stack
        self.base = stack.base_url
        self.admin = requests.Session()
        self.admin.headers["x-functions-key"] = stack.function_key
        self.public = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=CLIENT_THREADS * 2)
        self.public.mount("http://", adapter)
        self.durations: list[float] = []

    def put(self, path: str, body: dict[str, Any]) -> Any:
        resp = self.admin.put(f"{self.base}/api/{path}", json=body, timeout=60)
        if resp.status_code not in (200, 201):
            raise RuntimeError(f"PUT {path} -> {resp.status_code} {resp.text[:300]}")
        return resp.json()

    def connect(self, ws: str, user: str, kind: str, upn: str) -> dict[str, Any]:
        """The real connect flow: connect link -> stand-in authorize (login_hint) -> callback."""
        import requests

        resp = self.admin.post(f"{self.base}/api/workspaces/{ws}/users/{user}/connections/{kind}/connect-links",
                               json={}, timeout=60)
        if resp.status_code != 201:
            raise RuntimeError(f"connect link -> {resp.status_code} {resp.text[:300]}")
        with requests.Session() as browser:  # the page's Continue button sets the browser-binding cookie
            opened = browser.post(resp.json()["url"], allow_redirects=False, timeout=60)
            if opened.status_code != 302:
                raise RuntimeError(f"connect link continued -> {opened.status_code}")
            action, fields = sign_in_at_standin(opened.headers["Location"], upn,
                                                str(self.stack.standin.ca_bundle_path))
            done = browser.post(action, data=fields, allow_redirects=False, timeout=60)
        if done.status_code not in (200, 302):
            raise RuntimeError(f"callback -> {done.status_code} {done.text[:300]}")
        status = self.admin.get(f"{self.base}/api/workspaces/{ws}/users/{user}/connections", timeout=60).json()
        return status

    def book(self, slug: str, start: str) -> tuple[int, Any, float]:
        t0 = time.time()
        resp = self.public.post(f"{self.base}/api/calendars/{slug}/bookings", timeout=120,
                                json={"start": start, "name": "Ina Invitee", "email": "ina@example.org",
                                      "timezone": "Europe/Berlin"})
        at = time.time()
        self.durations.append(at - t0)
        return resp.status_code, resp.json(), at


def _calendar(slug: str, user: str) -> dict[str, Any]:
    from bench.intake import calendar_body

    body = calendar_body(slug, user, location="teams", provider="none")
    body["reminder_offsets_minutes"] = [1440]
    return body


def _connection_status(view: Any, kind: str) -> str:
    items = view.get("connections", view) if isinstance(view, dict) else view
    if isinstance(items, dict):
        entry = items.get(kind) or {}
        return str(entry.get("status") if isinstance(entry, dict) else entry)
    for entry in items or []:
        if entry.get("kind") == kind:
            return str(entry.get("status"))
    return "?"


def burst(client: StackClient, store: Any, ws: str, user: str, slug: str, n: int, first: datetime,
          timeout: float) -> dict[str, Any]:
    """Post ``n`` bookings at once, then poll storage until every link is stored (or failed)."""
    starts = [(first + timedelta(minutes=30 * k)).strftime("%Y-%m-%dT%H:%M:%SZ") for k in range(n)]
    accepted: dict[str, float] = {}
    refused: Counter[int] = Counter()
    seen: dict[str, float] = {}
    final: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()
    pk = f"{ws}|{user}"

    def poll() -> None:
        while not stop.is_set():
            now = time.time()
            try:
                rows = list(store.query("schedule", pk, row_key_from="booking|", row_key_to="booking}",
                                        select=["id", "link_state", "meeting_url"]))
            except Exception:  # noqa: BLE001 - storage busy: poll again
                rows = []
            with lock:
                for r in rows:
                    bid, state = r.get("id"), r.get("link_state")
                    if state == "created" and r.get("meeting_url") and bid not in seen:
                        seen[bid] = now
                    if state in ("created", "failed"):
                        final[bid] = state
            stop.wait(POLL_INTERVAL)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    t0 = time.time()

    def one(start: str) -> None:
        status, body, at = client.book(slug, start)
        with lock:
            if status == 201:
                accepted[body["id"]] = at
            else:
                refused[status] += 1

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(one, starts))
    intake_s = time.time() - t0
    slow = sorted(client.durations)[-3:]
    client.durations.clear()
    log(f"burst intake: {n} posts in {intake_s:.1f}s, slowest {[round(x, 2) for x in slow]}")
    deadline = time.time() + timeout
    while time.time() < deadline:
        with lock:
            if accepted and all(b in final for b in accepted):
                break
        time.sleep(0.2)
    stop.set()
    poller.join(timeout=5)
    with lock:
        latencies = [seen[b] - accepted[b] for b in accepted if b in seen]
        states = Counter(final.get(b, "unfinished") for b in accepted)
    return {"accepted": len(accepted), "refused": dict(refused), "intake_s": round(intake_s, 2),
            "slowest_intake_posts_s": [round(x, 2) for x in slow],
            "latencies": latencies, "states": dict(states), "total_s": round(time.time() - t0, 1)}


def graph_stats(standin: Any, upn: str) -> dict[str, Any]:
    calls = [r for r in standin.requests() if r.get("area") == "graph" and (r.get("upn") or "").lower() == upn]
    by_status = Counter(int(r["status"]) for r in calls)
    by_route = Counter(f"{r['method']} {r['path']} {r['status']}" for r in calls)
    return {"total": len(calls), "throttled": by_status.get(429, 0), "by_status": dict(by_status),
            "by_route": dict(by_route.most_common(8))}


def duplicates(standin: Any, store: Any, ws: str, user: str, upn: str, same_account: bool) -> dict[str, Any]:
    """Graph objects beyond one per booking, and links shared by two bookings."""
    rows = list(store.query("schedule", f"{ws}|{user}", row_key_from="booking|", row_key_to="booking}"))
    links = [r.get("meeting_url") for r in rows if r.get("link_state") == "created" and r.get("meeting_url")]
    if same_account:
        objects = [e for e in standin.events(upn).get("value", []) if e.get("origin") != "outside"]
    else:
        objects = list(standin.sandbox("GET", f"/_sandbox/meetings?upn={upn}").get("value", []))
    extra_objects = max(0, len(objects) - len(links))
    shared_links = len(links) - len(set(links))
    return {"graph_objects": len(objects), "bookings_with_link": len(links), "extra_objects": extra_objects,
            "shared_links": shared_links, "duplicates": extra_objects + shared_links}


def run(*, bookings: int = 200, timeout: float = 300.0,
        host_json_overrides: dict[str, Any] | None = None) -> tuple[list[Figure], dict[str, list[float]]]:
    """Both cases on one stack; returns the figures and the latency samples (seconds) for the chart."""
    from bench.common import app_ports
    from devhost.stack import Stack, StackConfig

    figures: list[Figure] = []
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        cfg = StackConfig(root=ROOT, run_dir=Path(tmp) / "run", http_port=0, blob_port=0, queue_port=0,
                          table_port=0, smtp_port=0, standin_port=0, azurite_location=Path(tmp) / "azurite",
                          values=_sample_values(), standin=True, standin_latency_ms=0,
                          host_json_overrides=host_json_overrides or {})
        stack = Stack(cfg)
        stack.start()
        try:
            client = StackClient(stack)
            store, _ = app_ports(stack.values["AzureWebJobsStorage"])
            ws = "benchmeet"
            client.put(f"workspaces/{ws}", {"name": "Bench meetings"})
            cases = [("same_account", "sam", "alice@contoso.example", ("teams", "microsoft_calendar")),
                     ("teams_only", "tom", "bob@contoso.example", ("teams",))]
            for _, user, upn, kinds in cases:
                client.put(f"workspaces/{ws}/users/{user}", {"name": f"Host {user}", "email": upn, "timezone": "UTC"})
                client.put(f"workspaces/{ws}/calendars/cal-{user}", _calendar(f"bench-meet-{user}", user))
                for kind in kinds:
                    view = client.connect(ws, user, kind, upn)
                    status = _connection_status(view, kind)
                    if status != "connected":
                        raise RuntimeError(f"{kind} of {user} is {status} after the connect flow")
            first = (datetime.now(UTC) + timedelta(days=2)).replace(hour=0, minute=0, second=0,
                                                                             microsecond=0)
            # warm-up: one booking per host through the whole pipeline (imports, pools, queues, tokens)
            for _, user, _, _ in cases:
                warm = burst(client, store, ws, user, f"bench-meet-{user}", 1, first - timedelta(days=1), 60)
                if warm["states"] != {"created": 1}:
                    raise RuntimeError(f"warm-up booking of {user} did not get a link: {warm}")
            for name, user, upn, _ in cases:
                stack.standin.configure(latency_ms=LATENCY_MS, max_concurrent_per_mailbox=MAX_CONCURRENT)
                stack.standin.sandbox("DELETE", "/_sandbox/requests")
                log(f"meetings ({name}): burst of {bookings} bookings to {upn}")
                result = burst(client, store, ws, user, f"bench-meet-{user}", bookings, first, timeout)
                stats = graph_stats(stack.standin, upn)
                stack.standin.configure(latency_ms=0)
                dup = duplicates(stack.standin, store, ws, user, upn, name == "same_account")
                created = result["states"].get("created", 0)
                lat = result.pop("latencies")
                samples[name] = lat
                unit_s = LATENCY_MS / 1000.0
                p50, p95 = percentile(lat, 50), percentile(lat, 95)
                details = {**result, "graph": stats, "meetings_created": created,
                           "successful_calls_per_meeting": round((stats["total"] - stats["throttled"]) / created, 3)
                           if created else None,
                           "standin_latency_ms": LATENCY_MS, "max_concurrent_per_mailbox": MAX_CONCURRENT,
                           "link_p50_s": round(p50, 3), "link_p95_s": round(p95, 3),
                           "link_max_s": round(max(lat), 3) if lat else None, "duplicates_detail": dup}
                log(f"meetings ({name}): {created}/{result['accepted']} links, {stats['total']} Graph calls, "
                    f"{stats['throttled']} throttled, p50 {p50:.2f}s p95 {p95:.2f}s")
                calls = stats["total"] / created if created else None
                # The floor: with one Graph call per meeting and 4 in flight per mailbox, the 95th-percentile
                # booking's link cannot come before ceil(0.95 * n / 4) rounds of the stand-in's latency.
                accepted = result["accepted"]
                floor_units = float(math.ceil(0.95 * accepted / MAX_CONCURRENT)) if accepted else None
                over = (p95 / unit_s) / floor_units if floor_units else None
                log(f"meetings ({name}): link_p95 floor {floor_units} x latency; "
                    f"p95 is {over and round(over, 2)} x floor")
                figures += [
                    Figure(f"graph_calls_per_meeting_{name}", calls, "calls/meeting", details),
                    Figure(f"throttled_fraction_{name}", stats["throttled"] / stats["total"] if stats["total"] else 0.0,
                           "fraction", {"throttled": stats["throttled"], "graph_calls": stats["total"]}),
                    Figure(f"duplicates_{name}", dup["duplicates"], "count", dup),
                    Figure(f"link_p50_{name}", p50 / unit_s, "x_standin_latency", {"link_p50_s": round(p50, 3)}),
                    Figure(f"link_p95_{name}", p95 / unit_s, "x_standin_latency", {"link_p95_s": round(p95, 3)}),
                    Figure(f"link_p95_floor_{name}", floor_units, "x_standin_latency",
                           {"bookings": result["accepted"], "max_concurrent_per_mailbox": MAX_CONCURRENT}),
                    Figure(f"link_p95_over_floor_{name}", over, "ratio", {"aim": "<= 1.5"}),
                ]
        finally:
            stack.stop()
    return figures, samples
