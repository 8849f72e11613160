"""Rule 27 wired in: the Graph client holds a mailbox slot per request and drops free/busy on writes;
availability reads free/busy through the cache and retries once after a short Retry-After.

Page "Microsoft Graph service-specific throttling limits": Outlook allows 4 concurrent requests per app and
mailbox (429 MailboxConcurrency beyond); throttled answers carry Retry-After.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses

from shared.adapters.graph_calendar import ScheduleResult
from shared.adapters.graph_client import GraphClient
from shared.adapters.mailbox_limiter import FreeBusyCache, MailboxLimiter
from shared.domain.availability import Interval
from shared.domain.calendar_config import MemberConfig
from shared.domain.model import CalendarProvider
from shared.errors import Throttled
from shared.usecases.availability import AvailabilityDeps, member_free_busy
from tests.fakes import FixedClock, InMemoryEntityStore

GRAPH = "https://graph.test/v1.0"
UTC = UTC
WINDOW = Interval(datetime(2026, 11, 23, 8, tzinfo=UTC), datetime(2026, 11, 23, 16, tzinfo=UTC))
ALICE = MemberConfig("alice", calendar_provider=CalendarProvider.MICROSOFT)


class Monotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def client(limiter: MailboxLimiter, cache: FreeBusyCache) -> GraphClient:
    return GraphClient(GRAPH, requests.Session(), limiter=limiter, free_busy_cache=cache)


@responses.activate
def test_a_request_waits_for_a_slot_of_its_mailbox_and_is_throttled_if_none_comes() -> None:
    limiter = MailboxLimiter(limit=1, wait_seconds=0.01)
    limiter.bind("tok-alice", "tid|alice")
    sent = responses.get(f"{GRAPH}/me/events", json={"value": []})
    graph = client(limiter, FreeBusyCache())
    with limiter.slot("tid|alice"):  # the mailbox's only slot is taken
        with pytest.raises(Throttled):
            graph.request("GET", "/me/events", "tok-alice")
        graph.request("GET", "/me/events", "tok-unbound")  # another (unknown) mailbox is not held up
    assert sent.call_count == 1
    graph.request("GET", "/me/events", "tok-alice")
    assert sent.call_count == 2 and limiter.peak["tid|alice"] == 1


@responses.activate
def test_writing_an_event_drops_that_mailboxs_free_busy_but_a_schedule_read_does_not() -> None:
    limiter, cache = MailboxLimiter(), FreeBusyCache(monotonic=Monotonic())
    limiter.bind("tok-alice", "tid|alice")
    responses.post(f"{GRAPH}/me/events", json={"id": "e1"}, status=201)
    responses.patch(f"{GRAPH}/me/events/e1", json={"id": "e1"})
    responses.post(f"{GRAPH}/me/calendar/getSchedule", json={"value": []})
    graph = client(limiter, cache)
    fills = iter(range(100))
    assert cache.get_or_fetch("tid|alice", "w", lambda: next(fills)) == 0
    assert cache.get_or_fetch("tid|bob", "w", lambda: next(fills)) == 1
    graph.request("POST", "/me/calendar/getSchedule", "tok-alice", json_body={})
    assert cache.get_or_fetch("tid|alice", "w", lambda: next(fills)) == 0
    graph.request("POST", "/me/events", "tok-alice", json_body={})
    assert cache.get_or_fetch("tid|alice", "w", lambda: next(fills)) == 2
    graph.request("PATCH", "/me/events/e1", "tok-alice", json_body={})
    assert cache.get_or_fetch("tid|alice", "w", lambda: next(fills)) == 3
    assert cache.get_or_fetch("tid|bob", "w", lambda: next(fills)) == 1


def _deps(store: InMemoryEntityStore, fetch: Any, **kw: Any) -> AvailabilityDeps:
    store.upsert("connections", {"PartitionKey": "acme|alice", "RowKey": "microsoft_calendar", "status": "connected",
                                 "mailbox": "alice@contoso.test", "account_oid": "oid-a", "account_tid": "tid"})
    return AvailabilityDeps(store=store, clock=FixedClock(), tokens=lambda ws, user, kind, **_: "tok",
                            fetch_schedule=fetch, **kw)


def test_many_visitors_of_one_calendar_cost_one_schedule_read_per_minute() -> None:
    calls: list[str] = []

    def fetch(token: str, mailboxes: list[str], start: datetime, end: datetime) -> dict[str, Any]:
        calls.append(mailboxes[0])
        return {mailboxes[0]: ScheduleResult(mailboxes[0])}

    clock = Monotonic()
    deps = _deps(InMemoryEntityStore(), fetch, free_busy_cache=FreeBusyCache(monotonic=clock))
    for _ in range(20):
        assert member_free_busy(deps, "acme", ALICE, WINDOW).readable
    assert calls == ["alice@contoso.test"]
    clock.now = 61
    member_free_busy(deps, "acme", ALICE, WINDOW)
    assert len(calls) == 2


def test_an_unreadable_answer_is_not_cached() -> None:
    answers = iter([ScheduleResult("alice@contoso.test", error="5009"), ScheduleResult("alice@contoso.test")])
    deps = _deps(InMemoryEntityStore(), lambda *a: {"alice@contoso.test": next(answers)},
                 free_busy_cache=FreeBusyCache(monotonic=Monotonic()))
    assert not member_free_busy(deps, "acme", ALICE, WINDOW).readable
    assert member_free_busy(deps, "acme", ALICE, WINDOW).readable


@pytest.mark.parametrize("retry_after, readable, waited", [(1.0, True, [1.0]), (30.0, False, [])])
def test_a_short_retry_after_is_waited_out_once_a_long_one_fails_closed(retry_after: float, readable: bool,
                                                                        waited: list[float]) -> None:
    calls: list[int] = []

    def fetch(token: str, mailboxes: list[str], start: datetime, end: datetime) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise Throttled("429", retry_after=retry_after)
        return {mailboxes[0]: ScheduleResult(mailboxes[0])}

    seen: list[float] = []
    deps = _deps(InMemoryEntityStore(), fetch, wait=seen.append)
    assert member_free_busy(deps, "acme", ALICE, WINDOW).readable is readable
    assert seen == waited and len(calls) == (2 if readable else 1)
