"""A small, self-contained result page (connect, sign-in and admin-consent outcomes).

Everything interpolated is HTML-escaped; the page loads nothing (no scripts, images or external
styles), so it is served with a strict Content-Security-Policy (:data:`RESULT_PAGE_HEADERS`).
The booking-page engineer may restyle it: keep the signature of :func:`render_result_page`.
"""
from __future__ import annotations

from html import escape

RESULT_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

_STYLE = """
:root{color-scheme:light dark;--ok:#107c10;--bad:#c50f1f;--fg:#1b1b1b;--muted:#5c5c5c;--bg:#f5f5f5;--card:#fff}
@media (prefers-color-scheme:dark){:root{--fg:#f0f0f0;--muted:#b0b0b0;--bg:#1b1b1b;--card:#262626}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:var(--bg);
color:var(--fg);font:16px/1.5 "Segoe UI",system-ui,-apple-system,Roboto,Helvetica,Arial,sans-serif;padding:1.5rem}
main{max-width:32rem;width:100%;background:var(--card);border-radius:12px;padding:2rem;
box-shadow:0 2px 12px rgba(0,0,0,.12);border-top:6px solid var(--accent)}
h1{font-size:1.4rem;margin:0 0 .75rem;display:flex;gap:.6rem;align-items:center}
.mark{display:inline-flex;width:1.8rem;height:1.8rem;border-radius:50%;align-items:center;justify-content:center;
background:var(--accent);color:#fff;font-size:1rem;flex:none}
p{margin:.5rem 0}.detail{color:var(--muted);font-size:.9rem}
a.action{display:inline-block;margin-top:1rem;padding:.55rem 1.1rem;border-radius:6px;background:var(--accent);
color:#fff;text-decoration:none;font-weight:600}
"""


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

    ``action_url`` is used only when it is an http(s) URL.
    """
    accent = "var(--ok)" if ok else "var(--bad)"
    mark = "&#10003;" if ok else "!"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="robots" content="noindex">',
        f"<title>{escape(title)} - bookbridge</title>",
        f"<style>{_STYLE}</style></head>",
        f'<body><main style="--accent:{accent}" role="{"status" if ok else "alert"}">',
        f'<h1><span class="mark" aria-hidden="true">{mark}</span>{escape(title)}</h1>',
        f"<p>{escape(message)}</p>",
    ]
    if detail:
        parts.append(f'<p class="detail">{escape(detail)}</p>')
    if action_url and action_url.lower().startswith(("https://", "http://")):
        parts.append(f'<a class="action" href="{escape(action_url, quote=True)}">{escape(action_label or "Continue")}</a>')
    parts.append("</main></body></html>")
    return "\n".join(parts)
