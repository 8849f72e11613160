"""Issue 15, "Duplicate confirmations" (rule 14): one confirmation per booking whatever races it, and a
confirmation before any other message."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from shared.usecases.communications import handle_communication
from tests.fakes import FixedClock, InMemoryEntityStore
from tests.unit.communications.helpers import (
    RecordingTransport,
    TimedQueue,
    message,
    new_deps,
    seed_world,
    update_booking,
)

START = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


@pytest.fixture()
def world():
    clock = FixedClock()
    store, queue, mail = InMemoryEntityStore(), TimedQueue(clock), RecordingTransport()
    return store, queue, mail, new_deps(store, queue, mail, clock)


def test_book_then_reschedule_twice_at_once_sends_one_confirmation(world) -> None:
    store, _queue, mail, deps = world
    b = seed_world(store, START)
    b = update_booking(store, b, revision=2)  # rescheduled before any message was handled
    entered, release = threading.Event(), threading.Event()

    def hold(_msg) -> None:
        entered.set()
        assert release.wait(10)

    mail.before_send = hold
    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(
        handle_communication(deps, message("reschedule", b, revision=2)).action))
    first.start()
    assert entered.wait(10)
    mail.before_send = None
    b = update_booking(store, b, revision=3)  # the second reschedule lands while the first notice is sent
    others = [handle_communication(deps, message("reschedule", b, revision=3)).action,
              handle_communication(deps, message("confirmation", b, revision=1)).action]
    release.set()
    first.join(10)
    assert mail.kinds().count("confirmation") == 1, mail.kinds()
    assert "sent" not in others


def test_a_booking_cancelled_before_its_confirmation_gets_no_cancellation_alone(world) -> None:
    store, _queue, mail, deps = world
    b = seed_world(store, START)
    b = update_booking(store, b, status="cancelled", revision=2)
    assert handle_communication(deps, message("cancellation", b)).action == "skipped"
    assert handle_communication(deps, message("confirmation", b, revision=1)).action == "skipped"
    assert mail.kinds() == []
