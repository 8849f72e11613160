"""HTTP behaviour of the page routes (no browser): headers, caching, CORS, 404s, the widget script."""
from __future__ import annotations

import re

from shared.pages.assets import ASSETS, asset_version
from shared.pages.templates import RESULT_PAGE_HEADERS, render_booking_page, render_result_page


def test_booking_page_has_a_strict_csp_and_no_inline_script(stack):
    res = stack.call("GET", "book/intro-call")
    assert res.status_code == 200
    assert res.headers["Content-Type"].startswith("text/html")
    csp = res.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    html = res.text
    assert '<html lang="en">' in html
    assert 'data-calendar="intro-call"' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script found"
    assert " style=" not in html and "<style" not in html
    assert f"/api/static/page.js?v={asset_version()}" in html
    assert "https://" not in html  # no third-party CDN


def test_malformed_slug_is_a_404_page(stack):
    res = stack.call("GET", "book/Not_A_Slug")
    assert res.status_code == 404
    assert "does not exist" in res.text


def test_static_assets_are_cached_and_revalidated(stack):
    for name in ASSETS:
        res = stack.call("GET", f"static/{name}", params={"v": asset_version()})
        assert res.status_code == 200, name
        assert res.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert res.headers["Access-Control-Allow-Origin"] == "*"
        assert res.headers["X-Content-Type-Options"] == "nosniff"
        etag = res.headers["ETag"]
        again = stack.call("GET", f"static/{name}", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
    css = stack.call("GET", "static/booking.css")
    assert css.headers["Content-Type"].startswith("text/css")
    assert css.headers["Cache-Control"] == "public, max-age=300"  # unversioned URL: short cache
    js = stack.call("GET", "static/booking.js", params={"v": "old"})
    assert js.headers["Content-Type"].startswith("text/javascript")
    assert js.headers["Cache-Control"] == "public, max-age=300"  # a stale version is not pinned for a year


def test_unknown_or_traversing_asset_names_are_404(stack):
    for name in ("nope.js", "..%2Ffunction_app.py", "%2E%2E%2Fhost.json", "booking.js.map"):
        assert stack.call("GET", f"static/{name}").status_code == 404, name


def test_widget_script_is_served_with_its_version_and_cors(stack):
    res = stack.call("GET", "widget.js", headers={"Origin": stack.site.origin})
    assert res.status_code == 200
    assert res.headers["Content-Type"].startswith("text/javascript")
    assert res.headers["Access-Control-Allow-Origin"] == "*"
    assert res.headers["Cache-Control"] == "public, max-age=300"
    assert f'var VERSION = "{asset_version()}"' in res.text
    assert "__BOOKBRIDGE_ASSET_VERSION__" not in res.text


def test_public_api_preflight_allows_the_widget_site(stack):
    res = stack.call("OPTIONS", "calendars/intro-call/bookings",
                     headers={"Origin": stack.site.origin, "Access-Control-Request-Method": "POST",
                              "Access-Control-Request-Headers": "content-type,idempotency-key"})
    assert res.status_code in (200, 204)
    assert res.headers["Access-Control-Allow-Origin"] == stack.site.origin
    allowed = res.headers["Access-Control-Allow-Headers"].lower()
    assert "content-type" in allowed and "idempotency-key" in allowed


def test_result_page_is_a_drop_in_with_the_shared_shell():
    html = render_result_page("Connected", "Your Microsoft Teams connection is ready.", ok=True,
                              detail="Reference: x<y", action_url="javascript:alert(1)")
    assert "x&lt;y" in html and "javascript:" not in html
    assert "/api/static/booking.css?v=" in html and "<style" not in html and " style=" not in html
    assert "style-src 'self'" in RESULT_PAGE_HEADERS["Content-Security-Policy"]
    bad = render_result_page("Consent required", "An administrator must approve.", ok=False,
                             action_url="https://login.example/adminconsent?a=1&b=2", action_label="Ask an admin")
    assert 'href="https://login.example/adminconsent?a=1&amp;b=2"' in bad and 'role="alert"' in bad
    assert 'data-calendar="a&quot;b"' in render_booking_page('a"b')
