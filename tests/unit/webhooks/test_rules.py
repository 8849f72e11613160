"""Pure webhook rules: signature, ids, URLs and addresses, link events, retry timing."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain import webhooks as rules

BODY = b'{"id":"evt_1","type":"booking.created"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    header = rules.signature_header("s3cret-s3cret-s3cret", 1764921600, BODY)
    expected = hmac.new(b"s3cret-s3cret-s3cret", b"1764921600." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1764921600,v1={expected}"
    assert rules.verify_signature(header, "s3cret-s3cret-s3cret", BODY, now=1764921600 + 299)


@pytest.mark.parametrize("change", ["body", "secret", "stale", "no_t", "two_t"])
def test_a_changed_or_stale_signature_fails(change: str) -> None:
    header = rules.signature_header("s3cret-s3cret-s3cret", 1764921600, BODY)
    body, secret, now = BODY, "s3cret-s3cret-s3cret", 1764921600
    if change == "body":
        body = BODY.replace(b"created", b"cancelled")
    elif change == "secret":
        secret = "another-secret-1234"
    elif change == "stale":
        now += 301
    elif change == "no_t":
        header = header.split(",", 1)[1]
    else:
        header = "t=1,t=1764921600," + header.split(",", 1)[1]
    assert not rules.verify_signature(header, secret, body, now=now)


def test_event_ids_follow_the_facts_and_delivery_ids_are_unique_per_webhook() -> None:
    one = rules.event_id("booking.created", "acme", "alice|b1", "0")
    assert one == rules.event_id("booking.created", "acme", "alice|b1", "0")
    assert one != rules.event_id("booking.created", "acme", "alice|b1", "1")
    assert one != rules.event_id("booking.cancelled", "acme", "alice|b1", "0")
    assert rules.delivery_id(one, "a") != rules.delivery_id(one, "b")
    assert rules.delivery_id(one, "a") == rules.delivery_id(one, "a")


@pytest.mark.parametrize(("url", "local", "ok"), [
    ("https://hooks.example.com/x", False, True),
    ("http://hooks.example.com/x", False, False),
    ("http://127.0.0.1:8080/x", True, True),
    ("https://127.0.0.1/x", False, False),
    ("https://10.1.2.3/x", False, False),
    ("https://[::1]/x", False, False),
    ("https://localhost/x", False, False),
    ("https://user:pw@hooks.example.com/x", False, False),
    ("https://hooks.example.com/x#frag", False, False),
    ("ftp://hooks.example.com/x", True, False),
    ("https://hooks.example.com/" + "x" * 2100, False, False),
    ("https://hooks.example.com:99999/", False, False),
])
def test_url_rules(url: str, local: bool, ok: bool) -> None:
    assert (rules.url_problem(url, local_development=local) is None) is ok


@pytest.mark.parametrize(("address", "ok"), [
    ("93.184.215.14", True), ("127.0.0.1", False), ("10.0.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("::1", False), ("fe80::1", False),
    ("::ffff:127.0.0.1", False), ("2606:4700::1111", True), ("224.0.0.1", False), ("not-an-ip", False),
])
def test_only_public_addresses_outside_local_development(address: str, ok: bool) -> None:
    assert rules.address_allowed(address, local_development=False) is ok
    assert rules.address_allowed(address, local_development=True)


def test_events_must_come_from_the_fixed_list() -> None:
    assert rules.events_problem(["booking.created", "connection.connected"]) is None
    assert "unknown event type 'booking.deleted'" in (rules.events_problem(["booking.deleted"]) or "")
    assert rules.events_problem([]) is not None


def test_link_events_of_one_write() -> None:
    base = {"workspace": "acme", "host": "alice", "id": "b1", "revision": 0}
    assert rules.link_event_for({**base, "link_state": "pending"},
                                {**base, "link_state": "created", "meeting_url": "https://t/1"}) == (
        "meeting_link.created", "https://t/1")
    assert rules.link_event_for({**base, "meeting_url": "https://t/1"}, {**base, "meeting_url": "https://t/2"}) == (
        "meeting_link.changed", "https://t/2")
    assert rules.link_event_for({**base}, {**base, "meeting_url": "https://t/3", "meeting_generation": 1})[0] == (
        "meeting_link.changed")
    failed = rules.link_event_for({**base, "link_state": "retrying"},
                                  {**base, "link_state": "failed", "link_reason": "no licence"})
    assert failed is not None and failed[0] == "meeting_link.failed"
    assert rules.link_event_for({**base, "link_state": "failed"}, {**base, "link_state": "failed"}) is None
    same = {**base, "meeting_url": "https://t/1", "link_state": "created"}
    assert rules.link_event_for(same, {**same, "updated_at": "later"}) is None


def test_retries_back_off_within_24_hours_then_stop() -> None:
    first = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert rules.retry_delay(first, first, 1, uniform=lambda a, b: 0) == 10
    assert rules.retry_delay(first, first, 2, uniform=lambda a, b: 0) == 20
    assert rules.retry_delay(first, first, 20, uniform=lambda a, b: 0) == 1800  # capped at 1 h (half + jitter)
    late = first + timedelta(hours=23, minutes=59, seconds=50)
    assert rules.retry_delay(first, late, 30, uniform=lambda a, b: b) == 10  # the last attempt at the window's end
    assert rules.retry_delay(first, first + timedelta(hours=24), 31) is None
