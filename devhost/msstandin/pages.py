"""HTML pages of the stand-in: sign-in/consent, errors, form_post, Teams join page."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from .state import Account
from .web import esc, page

_KIND_LABEL = {"work": "work account with Teams", "work_no_teams": "work account without Teams",
               "personal": "personal Microsoft account"}


def sign_in_page(action: str, params: Mapping[str, str], accounts: Iterable[Account], scopes: Iterable[str],
                 note: str | None = None) -> str:
    """The account picker: one form per account, each re-posting the request with ``login_hint``."""
    hidden = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">'
                     for k, v in params.items() if k not in ("login_hint", "consent"))
    forms = []
    for a in accounts:
        forms.append(
            f'<form method="post" action="{esc(action)}" data-upn="{esc(a.upn)}">{hidden}'
            f'<input type="hidden" name="login_hint" value="{esc(a.upn)}">'
            f'<input type="hidden" name="consent" value="accept">'
            f'<button type="submit" name="account" value="{esc(a.upn)}">Sign in as {esc(a.display_name)} '
            f'&lt;{esc(a.upn)}&gt;</button> <span class="note">{esc(_KIND_LABEL.get(a.kind, a.kind))}</span>'
            "</form>")
    scope_list = "".join(f"<li>{esc(s)}</li>" for s in scopes)
    warn = f'<p role="alert"><strong>{esc(note)}</strong></p>' if note else ""
    return page("Sign in (Microsoft stand-in)",
                f"{warn}<p>The application asks for these permissions:</p><ul>{scope_list}</ul>"
                f"<p>Pick an account; choosing it grants consent.</p>{''.join(forms)}"
                '<p class="note">Local development stand-in of the Microsoft identity platform.</p>')


def error_page(code: int, message: str) -> str:
    """An Entra-style error page shown instead of redirecting (bad client, bad redirect URI...)."""
    return page("Sign in error (Microsoft stand-in)",
                f'<p role="alert">AADSTS{code}: {esc(message)}</p>')


def message_page(title: str, text: str) -> str:
    """A plain page with one message."""
    return page(title, f"<p>{esc(text)}</p>")


def form_post_page(redirect_uri: str, fields: Mapping[str, str]) -> str:
    """``response_mode=form_post``: a form that submits itself to the redirect URI."""
    inputs = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in fields.items())
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>Working...</title></head>"
            "<body onload=\"document.forms[0].submit()\">"
            f'<form method="post" action="{esc(redirect_uri)}">{inputs}'
            "<noscript><button type=\"submit\">Continue</button></noscript></form></body></html>")


def join_page(subject: str | None, organizer: str) -> str:
    """What a Teams join URL of the stand-in shows."""
    return page("Microsoft Teams meeting (stand-in)",
                f"<p>Meeting: <strong>{esc(subject or '(no subject)')}</strong></p>"
                f"<p>Organizer: {esc(organizer)}</p>"
                '<p class="note">This is a local stand-in of a Teams join link.</p>')
