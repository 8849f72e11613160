"""Issue 17 / rule 29: the optional human check (Cloudflare Turnstile) is verified server-side before
anything is stored. Turnstile is played by a local stand-in of its siteverify endpoint that follows the
"Testing" page of Cloudflare's Turnstile docs (its documented dummy secrets and token)."""
from __future__ import annotations

import logging

import pytest
import requests
import responses

from tests.unit.booking.helpers import Api, calendar_body, member, nothing_stored, request
from tests.unit.booking.turnstile_standin import (
    ALREADY_SPENT,
    ALWAYS_FAILS,
    ALWAYS_PASSES,
    DUMMY_TOKEN,
    SITEVERIFY,
    SiteverifyStandIn,
)

SLOT = "2026-11-23T10:00:00Z"


@pytest.fixture
def siteverify():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield SiteverifyStandIn().install(rsps), rsps


def setup(store, queue, clock, secret=None):
    api = Api(store, queue, clock, settings={"TURNSTILE_SECRET_KEY": secret or ""})
    api.setup("acme", ["alice"], {"p": calendar_body("alice", [member("alice")])})
    return api


def book(token=None):
    from functions import public_booking

    body = {"start": SLOT, "name": "Ivy", "email": "ivy@example.test", "timezone": "UTC"}
    if token is not None:
        body["human_check_token"] = token
    return request(public_booking.public_create_booking, "POST", {"slug": "alice"}, body=body,
                   headers={"X-Forwarded-For": "203.0.113.9:4000"})


def test_off_by_default_books_without_a_token_and_asks_nobody(store, queue, clock, siteverify):
    standin, _ = siteverify
    setup(store, queue, clock)
    assert book().status == 201
    assert standin.calls == []


def test_with_the_secret_set_a_booking_without_a_token_is_422_and_stores_nothing(store, queue, clock, siteverify):
    standin, _ = siteverify
    setup(store, queue, clock, ALWAYS_PASSES)
    store_before = [e for e in store.all("schedule")]
    r = book()
    assert r.status == 422 and r.body["error"]["field"] == "human_check_token"
    assert store.all("schedule") == store_before == [] and nothing_stored(store, queue)
    assert standin.calls == []


def test_with_the_test_key_and_its_dummy_token_it_books(store, queue, clock, siteverify):
    standin, _ = siteverify
    setup(store, queue, clock, ALWAYS_PASSES)
    r = book(DUMMY_TOKEN)
    assert r.status == 201, r.body
    assert standin.calls == [{"secret": ALWAYS_PASSES, "response": DUMMY_TOKEN, "remoteip": "203.0.113.9"}]


@pytest.mark.parametrize("secret,token", [(ALWAYS_FAILS, DUMMY_TOKEN), (ALREADY_SPENT, DUMMY_TOKEN),
                                          (ALWAYS_PASSES, "forged-token"), ("0x4AAAAAAA-real-secret", DUMMY_TOKEN)])
def test_a_token_siteverify_refuses_is_422_and_stores_nothing(store, queue, clock, siteverify, secret, token):
    setup(store, queue, clock, secret)
    r = book(token)
    assert r.status == 422 and r.body["error"]["field"] == "human_check_token"
    assert nothing_stored(store, queue)


def test_siteverify_not_answering_is_503_never_a_pass(store, queue, clock):
    setup(store, queue, clock, ALWAYS_PASSES)
    with responses.RequestsMock() as rsps:
        rsps.add("POST", SITEVERIFY, body=requests.ConnectionError("down"))
        r = book(DUMMY_TOKEN)
    assert r.status == 503 and "Retry-After" in r.headers
    assert nothing_stored(store, queue)
    with responses.RequestsMock() as rsps:
        rsps.add("POST", SITEVERIFY, status=502, body="<html>bad gateway</html>")
        assert book(DUMMY_TOKEN).status == 503
    with responses.RequestsMock() as rsps:
        rsps.add("POST", SITEVERIFY, status=200, body="<html>not json</html>")
        assert book(DUMMY_TOKEN).status == 422
    assert nothing_stored(store, queue)


def test_the_secret_never_reaches_a_log(store, queue, clock, siteverify, caplog):
    caplog.set_level(logging.DEBUG)
    setup(store, queue, clock, ALWAYS_FAILS)
    book(DUMMY_TOKEN)
    book("x")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert ALWAYS_FAILS not in text and DUMMY_TOKEN not in text


# ------------------------------------------------------------------ the form's quiet signals
def _book_with(**signals):
    from functions import public_booking

    body = {"start": SLOT, "name": "Ivy", "email": "ivy@example.test", "timezone": "UTC", **signals}
    return request(public_booking.public_create_booking, "POST", {"slug": "alice"}, body=body)


@pytest.mark.parametrize("signals", [{"website": "http://spam.example"}, {"fill_ms": 400},
                                     {"website": "x", "fill_ms": 60_000}, {"fill_ms": 0}])
def test_a_filled_trap_or_a_too_fast_form_is_refused_quietly(store, queue, clock, signals):
    setup(store, queue, clock)
    r = _book_with(**signals)
    assert r.status == 422 and r.body["error"]["field"] == "body"
    assert "trap" not in r.body["error"]["message"] and "fast" not in r.body["error"]["message"]
    assert nothing_stored(store, queue)


@pytest.mark.parametrize("signals", [{}, {"fill_ms": 2500}, {"website": "", "fill_ms": 9000}])
def test_a_human_paced_form_or_an_api_client_books(store, queue, clock, signals):
    setup(store, queue, clock)
    assert _book_with(**signals).status == 201
