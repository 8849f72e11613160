"""Rule 21: a host is told by email, with a working fresh link, when a connection needs re-authorisation.

Before: nothing was sent when a connection turned ``needs_reauth``; the host only heard of it through a
booking's notice, and not at all when no booking was waiting (e.g. the calendar connection of a member).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest

from shared.adapters.signing import Signer
from shared.domain.host_notices import NOTICE_LINK_PURPOSE
from shared.errors import DeliveryRejected, TransientError
from shared.usecases.connection_notices import handle_connection_notice
from tests.fakes import FixedClock, InMemoryEntityStore
from tests.unit.communications.helpers import (
    HOST_EMAIL,
    SIGNING_KEY,
    RecordingTransport,
    TimedQueue,
    new_deps,
    seed_host,
)

AT = "2026-11-25T08:00:00Z"


@pytest.fixture()
def world() -> tuple[Any, InMemoryEntityStore, RecordingTransport]:
    store, mail, clock = InMemoryEntityStore(), RecordingTransport(), FixedClock()
    seed_host(store, "ws1", "u1")
    return new_deps(store, TimedQueue(clock), mail, clock), store, mail


def _slot(store: InMemoryEntityStore, kind: str = "teams", **fields: Any) -> None:
    row = {"PartitionKey": "ws1|u1", "RowKey": kind, "kind": kind, "status": "needs_reauth", "needs_reauth_at": AT,
           "last_error": "invalid_grant: AADSTS50173 the grant expired", "connected_at": "2026-11-01T00:00:00Z"}
    store.upsert("connections", {**row, **fields})


def _msg(kind: str = "teams", at: str = AT) -> dict[str, str]:
    return {"workspace": "ws1", "user": "u1", "kind": kind, "at": at}


def _link_payload(text: str) -> dict[str, Any]:
    [token] = [unquote(w.rsplit("/", 1)[1]) for w in text.split() if "/api/reconnect/" in w]
    payload = Signer(SIGNING_KEY).verify(NOTICE_LINK_PURPOSE, token)
    assert payload is not None, "the link in the notice is not one of ours"
    return payload


@pytest.mark.parametrize(("kind", "label"), [("teams", "Reconnect Microsoft Teams"),
                                             ("microsoft_calendar", "Reconnect your Microsoft calendar")])
def test_the_host_gets_one_email_with_a_fresh_link_for_that_connection(world, kind, label) -> None:
    deps, store, mail = world
    _slot(store, kind)
    assert handle_connection_notice(deps, _msg(kind)) == "sent"
    [notice] = mail.sent
    assert notice.to == HOST_EMAIL and notice.subject == f"Action needed: r{label[1:]}"
    assert f"{label}: https://book.example.test/api/reconnect/" in notice.text
    assert "AADSTS50173" in notice.text and "/api/reconnect/" in notice.html
    payload = _link_payload(notice.text)
    assert (payload["w"], payload["u"], payload["k"]) == ("ws1", "u1", kind)
    # the same message again (at least once delivery), or a second copy: no second email
    assert handle_connection_notice(deps, _msg(kind)) == "duplicate"
    assert len(mail.sent) == 1


def test_missing_consent_asks_for_the_administrator(world) -> None:
    deps, store, mail = world
    _slot(store, consent_required=True)
    handle_connection_notice(deps, _msg())
    [notice] = mail.sent
    assert notice.subject == "Action needed: your organisation must approve bookbridge"
    assert "admin consent" in notice.text


def test_a_connection_fixed_before_the_message_is_handled_sends_nothing(world) -> None:
    deps, store, mail = world
    _slot(store, status="connected")
    assert handle_connection_notice(deps, _msg()) == "skipped"
    _slot(store, needs_reauth_at="2026-11-26T09:00:00Z")  # a later transition has its own message
    assert handle_connection_notice(deps, _msg()) == "skipped"
    assert mail.sent == []


def test_a_mail_outage_is_retried_and_still_sends_once(world) -> None:
    deps, store, mail = world
    _slot(store)
    mail.failures.append(TransientError("smtp down"))
    with pytest.raises(TransientError):
        handle_connection_notice(deps, _msg())
    assert mail.sent == []
    assert handle_connection_notice(deps, _msg()) == "sent"
    assert handle_connection_notice(deps, _msg()) == "duplicate"
    assert len(mail.sent) == 1


def test_a_refused_address_is_recorded_and_not_retried(world) -> None:
    deps, store, mail = world
    _slot(store)
    mail.failures.append(DeliveryRejected("no such mailbox", code="recipient_refused"))
    assert handle_connection_notice(deps, _msg()) == "failed"
    assert handle_connection_notice(deps, _msg()) == "duplicate"
    [row] = [r for r in store.all("commsent") if r["PartitionKey"] == "ws1|connection|u1"]
    assert row["state"] == "failed" and row["RowKey"] == f"needs_reauth|teams|{AT}"


@pytest.mark.parametrize("bad", [None, [], {"workspace": "ws1"}, {**_msg(), "kind": "zoom"}, {**_msg(), "at": ""}])
def test_invalid_messages_are_dropped(world, bad) -> None:
    deps, _, mail = world
    assert handle_connection_notice(deps, bad) == "invalid" and mail.sent == []
