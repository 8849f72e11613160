"""Fixtures of the meeting worker's unit tests: Graph mocked with ``responses`` and held to the contract."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from tests.fakes import FixedClock, InMemoryEntityStore, InMemoryMessageQueue
from tests.google_contract_check import check_calls as check_google_calls
from tests.graph_contract_check import check_calls
from tests.unit.meetings.fakes import GRAPH_BASE
from tests.unit.meetings.google_fakes import GOOGLE_BASE, FakeGoogleCalendar
from tests.unit.meetings.helpers import Harness


@pytest.fixture
def graph_mock() -> Iterator[responses.RequestsMock]:
    """``responses`` for the test; at the end every Graph request (and mocked answer) is contract-checked."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru("http://127.0.0.1")  # Azurite, when a test uses it
        yield rsps
        problems = check_calls(rsps.calls, GRAPH_BASE)
    assert problems == [], "Graph bodies outside the contract subset:\n" + "\n".join(problems)


@pytest.fixture
def h(graph_mock: responses.RequestsMock) -> Iterator[Harness]:
    """The harness over in-memory fakes of our ports."""
    harness = Harness(InMemoryEntityStore(), InMemoryMessageQueue(), FixedClock(), graph_mock)
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def google(h: Harness, graph_mock: responses.RequestsMock) -> Iterator[FakeGoogleCalendar]:
    """Calendar v3 of one Google account behind ``responses`` (the worker's ``google_calendar`` port is the real
    client); at the end every Google request is held to the contract."""
    import requests

    from shared.adapters.google_calendar import GoogleCalendarClient

    fake = FakeGoogleCalendar(graph_mock)
    h.ports["google_calendar"] = GoogleCalendarClient(GOOGLE_BASE, requests.Session())
    yield fake
    assert check_google_calls(graph_mock.calls, GOOGLE_BASE) == [], "Google bodies outside the contract"
