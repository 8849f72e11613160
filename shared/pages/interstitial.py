"""The page a one-time link opens first: what it does and a "Continue to Microsoft" button that POSTs.

Opening the link (GET) never uses it up, so a mail scanner's visit, a preview or a second click leaves
it working; only the button's POST starts the sign-in and uses the link.
"""
from __future__ import annotations

from html import escape

from shared.pages.templates import RESULT_PAGE_CSP, RESULT_PAGE_HEADERS, page_shell

# form-action also governs where the form's answer may redirect: the POST answers 302 to Microsoft (https).
INTERSTITIAL_HEADERS: dict[str, str] = {
    **RESULT_PAGE_HEADERS,
    "Content-Security-Policy": RESULT_PAGE_CSP.replace("form-action 'none'", "form-action 'self' https:"),
}


def render_continue_page(title: str, message: str, *, button: str = "Continue to Microsoft",
                         note: str | None = None) -> str:
    """The interstitial: a message and a form that POSTs to the page's own URL (no script)."""
    parts = [
        '<main class="bb-page-main">',
        '<div class="bb bb-card bb-result bb-result-ok" role="region" aria-labelledby="bb-continue-title">',
        f'<h1 class="bb-title" id="bb-continue-title">{escape(title)}</h1>',
        f"<p>{escape(message)}</p>",
        '<form method="post">',
        f'<p><button class="bb-button bb-primary" type="submit">{escape(button)}</button></p>',
        "</form>",
    ]
    if note:
        parts.append(f'<p class="bb-muted bb-small">{escape(note)}</p>')
    parts.append("</div>\n</main>")
    return page_shell(title, "\n".join(parts))
