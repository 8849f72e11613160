"""Rule 21: a host notice says what happened and carries a working link for the connection that fixes it.

Before: every notice said "reconnect Microsoft Teams" and "ask your workspace admin for a new connect
link", also to a host who had never connected, whose organisation lacked consent, or whose account had no
Teams licence; no link at all.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest

from shared.adapters.signing import Signer
from shared.domain.host_notices import NOTICE_LINK_PURPOSE
from shared.usecases.communications import handle_communication
from tests.fakes import FixedClock, InMemoryEntityStore
from tests.unit.communications.helpers import (
    HOST_EMAIL,
    SIGNING_KEY,
    RecordingTransport,
    TimedQueue,
    message,
    new_deps,
    seed_world,
    text_of,
)

START = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


@pytest.fixture()
def world() -> tuple[Any, InMemoryEntityStore, RecordingTransport]:
    store, mail, clock = InMemoryEntityStore(), RecordingTransport(), FixedClock()
    return new_deps(store, TimedQueue(clock), mail, clock), store, mail


def _slot(store: InMemoryEntityStore, ws: str, user: str, kind: str, **fields: Any) -> None:
    store.upsert("connections", {"PartitionKey": f"{ws}|{user}", "RowKey": kind, "kind": kind,
                                 "connected_at": "2026-11-01T00:00:00Z", **fields})


def _notice_link(text: str) -> dict[str, Any]:
    """The payload of the one notice link in ``text`` (checked against the signing key)."""
    [token] = [unquote(w.rsplit("/", 1)[1]) for w in text.split() if "/api/reconnect/" in w]
    payload = Signer(SIGNING_KEY).verify(NOTICE_LINK_PURPOSE, token)
    assert payload is not None, "the link in the notice is not one of ours"
    return payload


CASES = [
    # (connection rows, link state, subject, link label, kind of the link)
    ({}, "awaiting_connection", "connect Microsoft Teams (", "Connect Microsoft Teams", "teams"),
    ({"teams": {"status": "disconnected"}}, "awaiting_connection", "connect Microsoft Teams again",
     "Connect Microsoft Teams", "teams"),
    ({"teams": {"status": "needs_reauth"}}, "awaiting_connection", "reconnect Microsoft Teams",
     "Reconnect Microsoft Teams", "teams"),
    ({"teams": {"status": "needs_reauth", "consent_required": True}}, "awaiting_connection",
     "your organisation must approve bookbridge", "Reconnect Microsoft Teams", "teams"),
    ({"teams": {"status": "connected", "teams_unavailable": True}}, "failed",
     "your Microsoft account cannot create Teams meetings", "Connect another Microsoft account", "teams"),
    ({"teams": {"status": "connected"}, "microsoft_calendar": {"status": "needs_reauth"}}, "failed",
     "reconnect your Microsoft calendar", "Reconnect your Microsoft calendar", "microsoft_calendar"),
    ({"teams": {"status": "connected"}}, "failed", "meeting link could not be created",
     "Reconnect Microsoft Teams", "teams"),
]


@pytest.mark.parametrize(("slots", "state", "subject", "label", "kind"), CASES)
def test_the_notice_names_the_cause_and_links_the_fix(world, slots, state, subject, label, kind) -> None:
    deps, store, mail = world
    extra = {"graph_sync_error": "The linked Microsoft calendar must be reconnected."} if kind != "teams" else {}
    b = seed_world(store, START, link_state=state, meeting_url=None, link_reason="Why it failed.", **extra)
    for slot_kind, fields in slots.items():
        _slot(store, b.workspace, b.host, slot_kind, **fields)
    handle_communication(deps, message("host_notice", b))
    [notice] = mail.sent
    assert notice.to == HOST_EMAIL
    assert f"Action needed: {subject}" in notice.subject
    assert f"{label}: https://book.example.test/api/reconnect/" in text_of(notice)
    assert "Why it failed." in text_of(notice)
    payload = _notice_link(text_of(notice))
    assert (payload["w"], payload["u"], payload["k"]) == (b.workspace, b.host, kind)
    assert "ask your workspace admin" not in text_of(notice)
    assert "/api/reconnect/" in notice.html and label in notice.html


def test_a_host_who_never_connected_is_not_told_to_reconnect(world) -> None:
    deps, store, mail = world
    b = seed_world(store, START, link_state="awaiting_connection", meeting_url=None)
    handle_communication(deps, message("host_notice", b))
    [notice] = mail.sent
    assert "reconnect" not in notice.subject.lower() and "not connected a Microsoft Teams account" in notice.text


def test_a_refused_outlook_move_is_told_once_then_the_links_notices_go_on(world) -> None:
    """Rule 19 with rule 13: the host's move onto another booking's time was refused; one notice says so (a
    redelivery sends nothing more), and a later notice about the link is not swallowed by it."""
    deps, store, mail = world
    b = seed_world(store, START, extra={"external_change": "move_refused"})
    handle_communication(deps, message("host_notice", b))
    handle_communication(deps, message("host_notice", b))
    [notice] = mail.sent
    assert notice.to == HOST_EMAIL and notice.subject.startswith("A booked meeting was not moved (")
    assert "another booking already holds" in text_of(notice) and "/api/reconnect/" not in text_of(notice)
    from tests.unit.communications.helpers import update_booking

    waiting = update_booking(store, b, link_state="awaiting_connection", meeting_url=None)
    handle_communication(deps, message("host_notice", waiting))
    assert len(mail.sent) == 2 and "Action needed: connect Microsoft Teams" in mail.sent[1].subject
