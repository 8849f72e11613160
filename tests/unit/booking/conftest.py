"""Fixtures of the booking unit tests: fakes of our ports and the in-process API."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from shared.bootstrap import install
from tests.fakes import FixedClock, InMemoryEntityStore, InMemoryMessageQueue
from tests.unit.booking.helpers import Api, calendar_body, member


class Tokens:
    """A token provider fake: a token per member, or an error to raise for some members."""

    def __init__(self) -> None:
        self.failures: dict[str, Exception] = {}
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, ws: str, user: str, kind: str, **_: object) -> str:
        self.calls.append((ws, user, kind))
        if user in self.failures:
            raise self.failures[user]
        return f"token-{user}"


@pytest.fixture
def store() -> InMemoryEntityStore:
    return InMemoryEntityStore()


@pytest.fixture
def queue() -> InMemoryMessageQueue:
    return InMemoryMessageQueue()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()  # Monday 2026-11-23 08:00 UTC (09:00 in Berlin)


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
def api(store, queue, clock, tokens) -> Iterator[Api]:
    yield Api(store, queue, clock, tokens=tokens)
    install(None)


@pytest.fixture
def graph() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def personal(api):
    """Workspace ``acme``, host ``alice``, a personal calendar with slug ``alice`` and a custom link."""
    api.setup("acme", ["alice"], {"p": calendar_body("alice", [member("alice", "custom",
                                                                        custom_url="https://meet.example/alice")])})
    return api
