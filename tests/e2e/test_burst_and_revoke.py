"""Bursts through the local host and the Microsoft stand-in: throttling, and a refresh token revoked mid-burst.

The stand-in allows 4 concurrent Graph requests per application and mailbox (429 ``Retry-After: 1``
beyond that) and answers every Graph call after 100 ms; the host runs up to ``batchSize`` +
``newBatchThreshold`` meeting messages at once. bookbridge itself keeps 4 in flight per mailbox (rule 27),
so the throttling test lowers the stand-in's limit to 2 to make the burst throttled.
"""
from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from devhost.smoke import Client, run_sweep, wait_for
from tests.e2e.conftest import around_the_clock_calendar, book_many, wait_all

STACK_OVERRIDES = {
    "standin_latency_ms": 100,
    # up to batchSize + newBatchThreshold meeting messages run at once (host.json: 8 + 4)
    "host_json_overrides": {"queues": {"batchSize": 16, "newBatchThreshold": 8}},
}

BURST = 50
CREATE_PATH = r"^/v1\.0/me/onlineMeetings(/createOrGet)?$"


def _slots(client: Client, slug: str, count: int) -> list[str]:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    starts = client.slots(slug, days=3, start=tomorrow)
    assert len(starts) >= count, f"only {len(starts)} slots"
    return starts[:count]


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _external_id(entry: dict[str, Any]) -> str | None:
    body = entry.get("body")
    return body.get("externalId") if isinstance(body, dict) else None


def test_a_burst_of_50_bookings_is_throttled_and_ends_with_50_distinct_links(client: Client, new_workspace) -> None:
    account = "bob@contoso.example"
    ws = new_workspace("burst")
    host = ws.user("host")
    slug = ws.calendar("burst", around_the_clock_calendar(host))
    client.connect_ok(ws.id, host, "teams", account)
    starts = _slots(client, slug, BURST)
    client.sandbox("DELETE", "/_sandbox/requests")
    # bookbridge keeps at most 4 requests in flight per mailbox (rule 27), as Outlook allows: a stand-in
    # allowing only 2 makes this burst throttled, so the re-queue path is what is tested here
    client.sandbox("POST", "/_sandbox/config", {"max_concurrent_per_mailbox": 2})
    try:
        bookings = book_many(client, slug, starts, f"{ws.id}-burst", workers=10)
        assert len({b["id"] for b in bookings}) == BURST
        final = wait_all(client, bookings, ("created", "failed", "awaiting_connection"), timeout=150)
    finally:
        client.sandbox("POST", "/_sandbox/config", {"max_concurrent_per_mailbox": 4})

    states = Counter(v["link_status"] for v in final)
    assert states == {"created": BURST}, {v["link_status"]: v.get("link_reason") for v in final}
    links = [v["meeting_url"] for v in final]
    assert all(links) and len(set(links)) == BURST, "two bookings share a link"

    creates = [e for e in client.recorded(upn=account, method="POST", path_regex=CREATE_PATH)]
    made = [e for e in creates if e["status"] == 201]
    throttled = [e for e in creates if e["status"] == 429]
    assert len(made) == BURST, Counter(e["status"] for e in creates)
    assert len({_external_id(e) for e in made}) == BURST  # one meeting per booking, never two
    meetings = client.sandbox("GET", f"/_sandbox/meetings?upn={account}")["value"]
    assert len(meetings) == BURST
    assert {m["joinWebUrl"] for m in meetings} == set(links)
    assert throttled, "the burst was never throttled: the test does not test throttling"

    # every throttled create was tried again for the same booking, no sooner than Retry-After (1 s)
    by_booking: dict[str | None, list[dict[str, Any]]] = {}
    for e in creates:
        by_booking.setdefault(_external_id(e), []).append(e)
    for e in throttled:
        later = [x for x in by_booking[_external_id(e)] if _parse(x["time"]) > _parse(e["time"])]
        assert later, f"a throttled create of {_external_id(e)} was never retried"
        gap = (_parse(later[0]["time"]) - _parse(e["time"])).total_seconds()
        assert gap >= 0.9, f"retried {gap:.2f} s after a 429 with Retry-After: 1"

    # the confirmations carry each booking's own link
    for b, view in zip(bookings[:5], final[:5], strict=True):
        mail = client.wait_mail(f"{ws.id}-burst-{bookings.index(b)}@invitee.example", "confirmation")
        assert view["meeting_url"] in mail.text


def test_a_refresh_token_revoked_during_a_burst_leaves_bookings_awaiting_connection_and_reconnect_backfills(
        client: Client, new_workspace) -> None:
    account = "carol@fabrikam.example"
    ws = new_workspace("revoke")
    host = ws.user("host")
    slug = ws.calendar("revoke", around_the_clock_calendar(host))
    client.connect_ok(ws.id, host, "teams", account)
    starts = _slots(client, slug, 20)

    # wave 1: links are made while the connection works
    first = book_many(client, slug, starts[:6], f"{ws.id}-a", workers=6)
    wait_all(client, first, ("created",), timeout=60)

    # wave 2: the account's tokens are revoked while its bookings come in
    revoked = threading.Event()
    after_revoke: set[str] = set()
    booked: list[str] = []
    lock = threading.Lock()

    def book(i: int) -> dict[str, Any]:
        sent_after = revoked.is_set()
        body = client.book_ok(slug, starts[6 + i], f"Invitee {i}", f"{ws.id}-b-{i}@invitee.example", "UTC")
        with lock:
            booked.append(body["id"])
            if sent_after:
                after_revoke.add(body["id"])
        return body

    results: list[dict[str, Any]] = []
    threads_done = threading.Event()

    def burst() -> None:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=4) as pool:
            results.extend(pool.map(book, range(14)))
        threads_done.set()

    runner = threading.Thread(target=burst)
    runner.start()
    wait_for(lambda: len(booked) >= 2 or threads_done.is_set(), 30, 0.01, "the second wave to start")
    client.sandbox("POST", f"/_sandbox/accounts/{account}/revoke", {"reason": "revoked"})
    revoked.set()
    runner.join(60)
    assert threads_done.is_set()
    second = results
    everything = first + second

    final = wait_all(client, everything, ("created", "awaiting_connection", "failed"), timeout=90)
    views = {v["id"]: v for v in final}
    states = Counter(v["link_status"] for v in final)
    assert "failed" not in states, {v["id"]: v.get("link_reason") for v in final if v["link_status"] == "failed"}
    assert states["awaiting_connection"] >= 1, states
    assert after_revoke and all(views[i]["link_status"] == "awaiting_connection" for i in after_revoke)
    assert all(not v.get("meeting_url") for v in final if v["link_status"] == "awaiting_connection")
    slot = client.connection(ws.id, host, "teams")
    assert slot["status"] == "needs_reauth", slot
    # rule 21: the host is emailed once about the connection, with a link that makes a fresh connect link
    notice = client.wait_mail(f"{host}@{ws.id}.example", "connection_notice")
    assert notice.subject == "Action needed: reconnect Microsoft Teams"
    links = {w for w in notice.text.split() if w.startswith("http") and "/api/reconnect/" in w}
    assert len(links) == 1, notice.text
    [link] = links
    opened = client.http.get(link, allow_redirects=False, timeout=30)
    assert opened.status_code == 302 and "/api/connect/" in opened.headers["Location"], opened.status_code
    awaiting = [b for b in everything if views[b["id"]]["link_status"] == "awaiting_connection"]
    created_before = {v["meeting_url"] for v in final if v["link_status"] == "created"}
    assert len(created_before) == len(final) - len(awaiting)
    # their confirmations still went out, without a link
    for b in awaiting[:3]:
        mail = client.wait_mail(_invitee_of(ws.id, b, first, second), "confirmation")
        assert "/meet/" not in mail.text

    # reconnect (which queues a backfill for the host) and run the sweep: every one of them gets a link, once
    client.connect_ok(ws.id, host, "teams", account)
    run_sweep(client)
    done = wait_all(client, everything, ("created",), timeout=90)
    links = [v["meeting_url"] for v in done]
    assert len(set(links)) == len(everything) and created_before <= set(links)
    meetings = client.sandbox("GET", f"/_sandbox/meetings?upn={account}")["value"]
    assert len(meetings) == len(everything), "a booking got two meetings"
    assert len(client.mails(f"{host}@{ws.id}.example", "connection_notice")) == 1
    for b in awaiting:
        url = next(v["meeting_url"] for v in done if v["id"] == b["id"])
        to = _invitee_of(ws.id, b, first, second)
        wait_for(lambda url=url, to=to: any(url in m.text for m in client.mails(to, "link_update")), 60, 0.25,
                 f"the link update e-mail of booking {b['id'][:8]}")


def _invitee_of(ws: str, booking: dict[str, Any], first: list[dict[str, Any]], second: list[dict[str, Any]]) -> str:
    if booking in first:
        return f"{ws}-a-{first.index(booking)}@invitee.example"
    return f"{ws}-b-{second.index(booking)}@invitee.example"
