"""Issue 17 / rule 29: the optional human check (Cloudflare Turnstile) end to end through the local host.

With ``TURNSTILE_SECRET_KEY`` and ``TURNSTILE_SITE_KEY`` set, the booking page and the widget render the
challenge and the token it hands out is posted as ``human_check_token``, which intake verifies against
siteverify before anything is stored. Nothing here reaches Cloudflare:

* siteverify is the local stand-in (``tests/unit/booking/turnstile_standin.py`` served over HTTP), following
  the "Test your Turnstile implementation" page of Cloudflare's Turnstile docs (its dummy secret
  ``1x0000000000000000000000000000000AA`` and the dummy token ``XXXX.DUMMY.TOKEN.XXXX``);
* the client script ``https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit`` is routed to
  :data:`TURNSTILE_STUB`, a local stub with the API of Cloudflare's "Embed the widget" page (explicit
  rendering: ``turnstile.render(element, {sitekey, callback})``; the widget adds a hidden
  ``cf-turnstile-response`` input and passes the token to ``callback``), behaving like the documented
  always-passing test site key ``1x00000000000000000000AA``. Every other request to that origin is aborted
  and the tests check none was made.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.helpers import DONE, fill_details, future_day, open_date, slot_button
from tests.unit.booking.turnstile_standin import ALWAYS_PASSES, DUMMY_TOKEN, SITE_KEY_PASSES, serve

pytestmark = pytest.mark.browser

CLOUDFLARE = "https://challenges.cloudflare.com"
TURNSTILE_STUB = """
window.turnstile = {
  rendered: [],
  resets: 0,
  render(element, options) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = "cf-turnstile-response";
    input.value = "__TOKEN__";
    element.append(input);
    element.setAttribute("data-stub-sitekey", options.sitekey);
    this.rendered.push(options.sitekey);
    setTimeout(() => options.callback("__TOKEN__"), 0);
    return "stub-widget-" + this.rendered.length;
  },
  reset() { this.resets += 1; },
  getResponse() { return "__TOKEN__"; },
  remove() {},
};
""".replace("__TOKEN__", DUMMY_TOKEN)


@pytest.fixture
def turnstile(stack: Any) -> Iterator[Any]:
    """The running host with the human check on (settings read afresh), siteverify played locally."""
    from shared import bootstrap

    names = ("TURNSTILE_SECRET_KEY", "TURNSTILE_SITE_KEY", "TURNSTILE_VERIFY_URL")
    saved = {name: os.environ.get(name) for name in names}
    with serve() as (url, standin):
        os.environ.update({"TURNSTILE_SECRET_KEY": ALWAYS_PASSES, "TURNSTILE_SITE_KEY": SITE_KEY_PASSES,
                           "TURNSTILE_VERIFY_URL": url})
        bootstrap.install(None)
        try:
            yield standin
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            bootstrap.install(None)


def _route_cloudflare(page: Any) -> list[str]:
    """Serve Turnstile's api.js from the stub; abort anything else for Cloudflare. Returns the URLs asked."""
    asked: list[str] = []

    def handle(route: Any) -> None:
        asked.append(route.request.url)
        if route.request.url.split("?")[0] == f"{CLOUDFLARE}/turnstile/v0/api.js":
            route.fulfill(status=200, content_type="text/javascript", body=TURNSTILE_STUB)
        else:
            route.abort()

    page.context.route(f"{CLOUDFLARE}/**", handle)
    return asked


def _book_through(page: Any, stack: Any, cal: Any, name: str, email: str) -> dict[str, Any]:
    """Pick the first slot of a day, fill the form, confirm; the POST's JSON body (answered 201)."""
    day = future_day(2)
    slot = stack.slots(cal.slug, day, day, cal.timezone)[0]
    page.locator("button.bb-day").first.wait_for()
    open_date(page, day)
    slot_button(page, slot["start"]).click()
    fill_details(page, name, email)
    page.locator(f".bb-human-check[data-stub-sitekey='{SITE_KEY_PASSES}']").wait_for(state="attached")
    page.wait_for_function("() => window.turnstile && window.turnstile.rendered.length === 1")
    with page.expect_response(lambda r: r.url.endswith(f"/calendars/{cal.slug}/bookings")
                              and r.request.method == "POST") as info:
        page.get_by_role("button", name="Confirm booking").click()
    assert info.value.status == 201, info.value.text()
    page.locator(DONE).wait_for()
    return json.loads(info.value.request.post_data or "{}")


def test_the_booking_page_renders_the_challenge_and_posts_its_token(stack, turnstile, new_page):
    cal = stack.make_calendar(location="custom")
    page = new_page()
    asked = _route_cloudflare(page)
    response = page.goto(stack.page_url(cal.slug))
    csp = response.headers["content-security-policy"]
    assert f"script-src 'self' {CLOUDFLARE}" in csp and f"frame-src {CLOUDFLARE}" in csp

    posted = _book_through(page, stack, cal, "Grace Hopper", "grace@example.com")
    assert posted["human_check_token"] == DUMMY_TOKEN
    assert turnstile.calls == [{"secret": ALWAYS_PASSES, "response": DUMMY_TOKEN, "remoteip": "127.0.0.1"}]
    assert [b["invitee_email"] for b in stack.bookings_of(cal)] == ["grace@example.com"]
    assert asked == [f"{CLOUDFLARE}/turnstile/v0/api.js?render=explicit"]  # the stub, never the network
    assert page.evaluate("() => window.turnstile.resets") == 1  # a token is good once: a fresh one is asked for
    assert page.console_errors == []


def test_the_widget_on_another_site_renders_the_challenge_and_posts_its_token(stack, turnstile, new_page):
    cal = stack.make_calendar(location="custom")
    page = new_page()
    asked = _route_cloudflare(page)
    page.goto(stack.site.url(calendar=cal.slug))
    posted = _book_through(page, stack, cal, "Katherine Johnson", "katherine@example.com")
    assert posted["human_check_token"] == DUMMY_TOKEN
    assert [c["response"] for c in turnstile.calls] == [DUMMY_TOKEN]
    assert [b["invitee_email"] for b in stack.bookings_of(cal)] == ["katherine@example.com"]
    assert asked == [f"{CLOUDFLARE}/turnstile/v0/api.js?render=explicit"]
    assert page.console_errors == []


def test_through_the_host_no_valid_token_is_4xx_and_stores_nothing_and_the_test_key_books(stack, turnstile):
    cal = stack.make_calendar(location="custom")
    day = future_day(3)
    slots = stack.slots(cal.slug, day, day, cal.timezone)
    listed = stack.call("GET", f"calendars/{cal.slug}/slots", params={"start": day, "end": day}).json()
    assert listed["human_check"] == {"provider": "turnstile", "site_key": SITE_KEY_PASSES,
                                     "field": "human_check_token"}
    body = {"start": slots[0]["start"], "name": "Ivy", "email": "ivy@example.com", "timezone": "UTC"}
    for token in (None, "", "forged-token"):
        r = stack.call("POST", f"calendars/{cal.slug}/bookings",
                       {**body, **({"human_check_token": token} if token is not None else {})})
        assert r.status_code == 422 and r.json()["error"]["field"] == "human_check_token", r.text
        assert stack.bookings_of(cal) == []
    assert [c["response"] for c in turnstile.calls] == ["forged-token"]  # no token: siteverify is not asked
    r = stack.call("POST", f"calendars/{cal.slug}/bookings", {**body, "human_check_token": DUMMY_TOKEN})
    assert r.status_code == 201, r.text
    assert [b["RowKey"] for b in stack.bookings_of(cal)] == [f"booking|{r.json()['id']}"]


def test_without_the_secret_nothing_asks_for_a_challenge(stack, new_page):
    cal = stack.make_calendar(location="custom")
    day = future_day(2)
    listed = stack.call("GET", f"calendars/{cal.slug}/slots", params={"start": day, "end": day}).json()
    assert "human_check" not in listed
    page = new_page()
    asked = _route_cloudflare(page)
    response = page.goto(stack.page_url(cal.slug))
    assert CLOUDFLARE not in response.headers["content-security-policy"]
    page.locator("button.bb-day").first.wait_for()
    assert page.locator(".bb-human-check").get_attribute("hidden") is not None and asked == []
