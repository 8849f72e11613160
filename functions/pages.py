"""Browser-facing pages and assets (anonymous): the public booking page, its static files, the widget.

* ``GET /api/book/{slug}`` - the booking page of a calendar (HTML shell + ``page.js``; strict CSP).
* ``GET /api/manage/{id}?token=`` - the invitee's manage page (see, reschedule, cancel; ``manage.js``).
* ``GET /api/static/{name}`` - ``booking.css``, ``booking.js``, ``manage.js``, ``page.js``, ``widget.js``
  (``?v=<version>`` URLs are cached for a year, others for 5 minutes; ETag / 304; CORS ``*``).
* ``GET /api/widget.js`` - the embed script: ``<script src=".../api/widget.js" data-calendar="slug">``.

The flow itself runs in the browser against the public API (``functions/public_booking.py``).
Nothing heavy is imported: the handlers only read packaged files and render strings.
"""
from __future__ import annotations

import re

import azure.functions as func

bp = func.Blueprint()

# Same shape as calendar slugs (shared.domain.calendar_config): lower-case letters, digits, dashes.
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
# Booking ids are uuid4().hex.
_BOOKING_ID = re.compile(r"^[0-9a-f]{32}$")


def _html(body: str, status: int, headers: dict[str, str]) -> func.HttpResponse:
    return func.HttpResponse(body, status_code=status, headers={"Content-Type": "text/html; charset=utf-8",
                                                                 **headers})


def _asset(req: func.HttpRequest, name: str) -> func.HttpResponse:
    from shared.pages.assets import static_result

    result = static_result(name, version=req.params.get("v"), if_none_match=req.headers.get("If-None-Match"))
    return func.HttpResponse(result.body, status_code=result.status, headers=result.headers)


@bp.route(route="book/{slug}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def pages_booking_page(req: func.HttpRequest) -> func.HttpResponse:
    """200: the booking page of calendar ``slug`` (404 page for a malformed slug)."""
    from shared import bootstrap
    from shared.pages.templates import (
        RESULT_PAGE_HEADERS,
        booking_page_headers,
        render_booking_page,
        render_not_found_page,
    )
    from shared.usecases.human_check import challenge

    slug = req.route_params.get("slug", "")
    if not _SLUG.match(slug):
        return _html(render_not_found_page(), 404, dict(RESULT_PAGE_HEADERS))
    settings = bootstrap.container().settings
    human_check = challenge(settings.get("TURNSTILE_SECRET_KEY"), settings.get("TURNSTILE_SITE_KEY")) is not None
    return _html(render_booking_page(slug), 200, booking_page_headers(human_check))


@bp.route(route="manage/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def pages_manage_page(req: func.HttpRequest) -> func.HttpResponse:
    """200: the manage page of booking ``id`` (the page checks ``?token=`` with the API); 404 page for a
    malformed id. The token never reaches the HTML: the page's script reads it from its own URL."""
    from shared.pages.templates import MANAGE_PAGE_HEADERS, RESULT_PAGE_HEADERS, render_manage_page, render_result_page

    booking_id = req.route_params.get("id", "")
    if not _BOOKING_ID.match(booking_id):
        page = render_result_page("Booking not found", "This booking link is not valid. Use the \"Manage your "
                                  "booking\" link in your confirmation email.", ok=False)
        return _html(page, 404, dict(RESULT_PAGE_HEADERS))
    return _html(render_manage_page(booking_id), 200, dict(MANAGE_PAGE_HEADERS))


@bp.route(route="static/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def pages_static(req: func.HttpRequest) -> func.HttpResponse:
    """200/304: a static asset of the booking page and the widget; 404 for any other name."""
    return _asset(req, req.route_params.get("name", ""))


@bp.route(route="widget.js", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def pages_widget_js(req: func.HttpRequest) -> func.HttpResponse:
    """200/304: the embeddable widget's loader script (short cache: sites embed this fixed URL)."""
    return _asset(req, "widget.js")
