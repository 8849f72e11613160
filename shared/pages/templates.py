"""Server-rendered HTML: one page shell (same stylesheet as the booking flow) and the pages built on it.

* :func:`render_booking_page` - ``GET /api/book/{slug}``: the shell that ``page.js`` fills with the
  booking flow (``booking.js``); nothing is inlined, so the page runs under ``script-src 'self'``.
* :func:`render_result_page` - the result pages of the host's connect flow (connected, personal
  account refused, consent required, expired link, ...); serve it with :data:`RESULT_PAGE_HEADERS`.
* :func:`render_manage_page` - ``GET /api/manage/{id}?token=``: the invitee's page (``manage.js``): see the
  booking, reschedule it with the booking flow's slot picker, cancel it after a confirmation step.
* :func:`render_not_found_page` - an unknown booking page.

Every interpolated value is HTML-escaped; action links are used only when they are http(s) URLs.
Pure standard library: imported by handlers only.
"""
from __future__ import annotations

from html import escape

from shared.pages.assets import asset_url

SITE_NAME = "bookbridge"

#: CSP of the booking page: our own scripts, styles and API only.
BOOKING_PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
#: CSP of the result pages: our stylesheet, nothing else.
RESULT_PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
                   "form-action 'none'; frame-ancestors 'none'")

BOOKING_PAGE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": BOOKING_PAGE_CSP,
    "Cache-Control": "no-cache",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

#: Cloudflare Turnstile's origin: its script and challenge iframe (Cloudflare's "Content Security Policy" page of
#: the Turnstile docs asks for it in script-src and frame-src).
TURNSTILE_ORIGIN = "https://challenges.cloudflare.com"


def booking_page_headers(human_check: bool) -> dict[str, str]:
    """The booking page's headers; with the human check on, its CSP lets Turnstile's script and frame in."""
    if not human_check:
        return dict(BOOKING_PAGE_HEADERS)
    csp = BOOKING_PAGE_CSP.replace("script-src 'self'", f"script-src 'self' {TURNSTILE_ORIGIN}")
    return {**BOOKING_PAGE_HEADERS, "Content-Security-Policy": f"{csp}; frame-src {TURNSTILE_ORIGIN}"}


#: The manage page carries the manage token in its URL: never sent on as a referrer, never cached.
MANAGE_PAGE_HEADERS: dict[str, str] = {
    **BOOKING_PAGE_HEADERS,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}

RESULT_PAGE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": RESULT_PAGE_CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def page_shell(title: str, body: str, *, lang: str = "en", head_extra: str = "", body_class: str = "bb-page",
               description: str | None = None) -> str:
    """A complete HTML document with the shared stylesheet; ``body`` and ``head_extra`` are trusted HTML."""
    meta = f'<meta name="description" content="{escape(description, quote=True)}">\n' if description else ""
    return (
        "<!doctype html>\n"
        f'<html lang="{escape(lang, quote=True)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex">\n'
        '<meta name="color-scheme" content="light dark">\n'
        '<link rel="icon" href="data:,">\n'
        f"{meta}"
        f"<title>{escape(title)} - {SITE_NAME}</title>\n"
        f'<link rel="stylesheet" href="{escape(asset_url("booking.css"), quote=True)}">\n'
        f"{head_extra}"
        "</head>\n"
        f'<body class="{escape(body_class, quote=True)}">\n{body}\n'
        f'<footer class="bb-page-footer"><p>Scheduling by {SITE_NAME}</p></footer>\n'
        "</body>\n</html>\n"
    )


def render_booking_page(slug: str) -> str:
    """The booking page of the calendar ``slug``: a shell that ``page.js`` mounts the flow into."""
    head = (
        f'<link rel="modulepreload" href="{escape(asset_url("booking.js"), quote=True)}">\n'
        f'<script type="module" src="{escape(asset_url("page.js"), quote=True)}"></script>\n'
    )
    body = (
        f'<main id="bookbridge" class="bb-page-main" data-calendar="{escape(slug, quote=True)}">\n'
        '<div class="bb bb-card">\n'
        '<h1 class="bb-title">Book a time</h1>\n'
        '<p class="bb-muted" role="status">Loading the booking calendar…</p>\n'
        "<noscript><p>This booking page needs JavaScript. Please enable it, or contact the person who sent "
        "you this link.</p></noscript>\n"
        "</div>\n</main>"
    )
    return page_shell("Book a time", body, head_extra=head)


def render_manage_page(booking_id: str) -> str:
    """The invitee's manage page of booking ``booking_id``; ``manage.js`` reads the token from the URL."""
    head = (
        f'<link rel="modulepreload" href="{escape(asset_url("booking.js"), quote=True)}">\n'
        f'<script type="module" src="{escape(asset_url("manage.js"), quote=True)}"></script>\n'
    )
    body = (
        f'<main id="bookbridge-manage" class="bb-page-main" data-booking="{escape(booking_id, quote=True)}">\n'
        '<div class="bb bb-card">\n'
        '<h1 class="bb-title">Your booking</h1>\n'
        '<p class="bb-muted" role="status">Loading your booking…</p>\n'
        "<noscript><p>This page needs JavaScript to show, reschedule or cancel your booking. Please enable it, "
        "or reply to your confirmation email.</p></noscript>\n"
        "</div>\n</main>"
    )
    return page_shell("Your booking", body, head_extra=head)


def render_result_page(
    title: str,
    message: str,
    *,
    ok: bool,
    detail: str | None = None,
    action_url: str | None = None,
    action_label: str | None = None,
) -> str:
    """The HTML of a result page: a title, a message, an optional detail line and an optional link.

    Serve it with :data:`RESULT_PAGE_HEADERS`. ``action_url`` is used only when it is an http(s) URL (for example
    the admin-consent link when the organisation requires an administrator's approval).
    """
    tone = "ok" if ok else "bad"
    mark = "&#10003;" if ok else "!"
    role = "status" if ok else "alert"
    parts = [
        '<main class="bb-page-main">',
        f'<div class="bb bb-card bb-result bb-result-{tone}" role="{role}">',
        f'<h1 class="bb-title"><span class="bb-mark" aria-hidden="true">{mark}</span>{escape(title)}</h1>',
        f"<p>{escape(message)}</p>",
    ]
    if detail:
        parts.append(f'<p class="bb-muted bb-small">{escape(detail)}</p>')
    if action_url and action_url.lower().startswith(("https://", "http://")):
        parts.append(f'<p><a class="bb-button bb-primary" href="{escape(action_url, quote=True)}">'
                     f"{escape(action_label or 'Continue')}</a></p>")
    parts.append("</div>\n</main>")
    return page_shell(title, "\n".join(parts))


def render_not_found_page() -> str:
    """The page for a booking link that does not exist."""
    return render_result_page("Page not found", "This booking page does not exist. Check the link you were "
                              "given, or ask its owner for a new one.", ok=False)
