"""Microsoft and Google connections: connect links, OAuth callback, status, disconnect, admin consent.

Management routes use the app's default FUNCTION auth level (function key); the browser-facing ones
(``connect/{token}``, the callbacks, ``admin-consent/{token}``) are anonymous and carry no key: a
function key never reaches a browser. Handlers parse, call one use case and translate the result.
Heavy modules are imported inside the handlers (``import function_app`` stays light).
"""
from __future__ import annotations

from typing import Any

import azure.functions as func

from shared.http import management_endpoint

bp = func.Blueprint()

_CONNECTIONS = "workspaces/{workspace}/users/{user}/connections"
MAX_FORM_BYTES = 64 * 1024


def _deps() -> Any:
    from shared import bootstrap

    return bootstrap.container().connection_deps()


# ----------------------------------------------------------------------------- browser responses
def _browser_response(result: Any, continue_page: bool = False) -> func.HttpResponse:
    """A use case's ``BrowserResult`` as a 302 or a result page (no-store, no referrer, strict CSP); with
    ``continue_page`` an ok result is the interstitial whose button POSTs to the same URL."""
    from shared.pages.templates import RESULT_PAGE_HEADERS, render_result_page

    if continue_page and result.ok:
        from shared.pages.interstitial import INTERSTITIAL_HEADERS, render_continue_page

        return func.HttpResponse(render_continue_page(result.title, result.message), status_code=200,
                                 mimetype="text/html", charset="utf-8", headers=dict(INTERSTITIAL_HEADERS))
    if result.redirect_to:
        return func.HttpResponse(status_code=302, headers={"Location": result.redirect_to, **RESULT_PAGE_HEADERS})
    detail = f"Reference: {result.reason}" if result.reason else None
    html = render_result_page(result.title, result.message, ok=result.ok, detail=detail)
    return func.HttpResponse(html, status_code=result.http_status, mimetype="text/html", charset="utf-8",
                             headers=dict(RESULT_PAGE_HEADERS))


def _browser(call: Any, continue_page: bool = False) -> func.HttpResponse:
    """Run a browser-facing use case; our errors become a result page, never JSON."""
    from shared.errors import BookbridgeError, ConfigurationError, TransientError
    from shared.usecases.connections import BrowserResult

    try:
        return _browser_response(call(), continue_page)
    except TransientError:
        result = BrowserResult(False, "Please try again", "A service did not answer in time. Try again in a moment.",
                               503, reason="temporarily_unavailable")
    except ConfigurationError as exc:
        import logging

        logging.getLogger("bookbridge.connections").error("configuration error: %s", exc.message)
        result = BrowserResult(False, "Not available", "Connecting Microsoft accounts is not configured on this "
                               "server. Contact your administrator.", 500, reason="not_configured")
    except BookbridgeError as exc:
        result = BrowserResult(False, "This link cannot be used", "The request could not be completed.", 400,
                               reason=exc.code)
    return _browser_response(result)


def _callback_params(req: func.HttpRequest) -> dict[str, str]:
    """The authorization response: query string (GET, ``response_mode=query``) or form body (``form_post``)."""
    from urllib.parse import parse_qsl

    params: dict[str, str] = {k: v for k, v in req.params.items()}
    if req.method.upper() == "POST":
        raw = req.get_body() or b""
        ctype = (req.headers.get("Content-Type") or "").lower()
        if raw and len(raw) <= MAX_FORM_BYTES and "application/x-www-form-urlencoded" in ctype:
            form: dict[str, str] = {}
            for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
                form.setdefault(key, value)
            params.update(form)
    return params


def _open_link(req: func.HttpRequest, admin: bool) -> func.HttpResponse:
    """GET: the interstitial (the link stays usable); POST: start the flow, bound to this browser by a cookie."""
    from shared import consent_cookie
    from shared.usecases import connections as uc

    token = req.route_params.get("token", "")
    if (req.method or "").upper() != "POST":
        return _browser(lambda: uc.preview_link(_deps(), token, admin=admin), continue_page=True)
    binding = consent_cookie.new_value()
    start = uc.open_admin_consent_link if admin else uc.open_connect_link
    resp = _browser(lambda: start(_deps(), token, binding))
    if resp.status_code == 302:
        secure = str(_deps().public_base_url).lower().startswith("https://")
        resp.headers["Set-Cookie"] = consent_cookie.set_cookie_header(binding, secure=secure)
    return resp


def _binding(req: func.HttpRequest) -> str | None:
    from shared import consent_cookie

    return consent_cookie.read(req.headers.get("Cookie"))


# ----------------------------------------------------------------------------- management (function key)
@bp.route(route=_CONNECTIONS + "/{kind}/connect-links", methods=["POST"])
@management_endpoint
def connections_create_connect_link(req: func.HttpRequest) -> func.HttpResponse:
    """201 ``{"url", "expires_at", "kind"}``: a one-time link the host opens (optional ``return_url``)."""
    from shared.http import json_response, parse_model, read_json
    from shared.schemas.connections import ConnectLinkIn, LinkOut
    from shared.usecases.connections import create_connect_link

    body = parse_model(ConnectLinkIn, read_json(req, required=False))
    rp = req.route_params
    link = create_connect_link(_deps(), rp.get("workspace", ""), rp.get("user", ""), rp.get("kind", ""),
                               body.return_url)
    return json_response(LinkOut(**link).model_dump(exclude_none=True), 201)


@bp.route(route=_CONNECTIONS, methods=["GET"])
@management_endpoint
def connections_list(req: func.HttpRequest) -> func.HttpResponse:
    """200: each kind's status, account, scopes, connected/disconnected times and last error."""
    from shared.http import json_response
    from shared.schemas.connections import ConnectionsOut
    from shared.usecases.connections import list_connections

    rp = req.route_params
    view = list_connections(_deps(), rp.get("workspace", ""), rp.get("user", ""))
    return json_response(ConnectionsOut.model_validate(view).model_dump())


@bp.route(route=_CONNECTIONS + "/{kind}", methods=["DELETE"])
@management_endpoint
def connections_disconnect(req: func.HttpRequest) -> func.HttpResponse:
    """200 with the slot, now ``disconnected`` (tokens deleted); 404 when never connected."""
    from shared import bootstrap
    from shared.http import json_response
    from shared.schemas.connections import ConnectionOut
    from shared.usecases.inbound import disconnect

    rp = req.route_params
    inbound = bootstrap.container().inbound_deps(for_disconnect=True)
    view = disconnect(inbound, _deps(), rp.get("workspace", ""), rp.get("user", ""), rp.get("kind", ""))
    return json_response(ConnectionOut.model_validate(view).model_dump())


@bp.route(route=_CONNECTIONS + "/{kind}", methods=["PUT"])
@management_endpoint
def connections_link_calendar(req: func.HttpRequest) -> func.HttpResponse:
    """200 with the slot: ``{"linked_calendar_id"}`` chooses the calendar booking events go to (422 for an id the
    account does not have); only ``microsoft_calendar``."""
    from shared.http import json_response, parse_model, read_json
    from shared.schemas.connections import ConnectionOut, LinkedCalendarIn
    from shared.usecases.connections import link_calendar

    body, rp = parse_model(LinkedCalendarIn, read_json(req)), req.route_params
    view = link_calendar(_deps(), rp.get("workspace", ""), rp.get("user", ""), rp.get("kind", ""),
                         body.linked_calendar_id)
    return json_response(ConnectionOut.model_validate(view).model_dump())


@bp.route(route=_CONNECTIONS + "/{kind}/calendars", methods=["GET"])
@management_endpoint
def connections_list_calendars(req: func.HttpRequest) -> func.HttpResponse:
    """200: the connected account's calendars (``id``, ``name``, ``is_default``, ``can_edit``, ``allows_teams``)
    and which one is linked; only ``microsoft_calendar``."""
    from shared.http import json_response
    from shared.schemas.connections import CalendarsOut
    from shared.usecases.connections import list_calendars

    rp = req.route_params
    view = list_calendars(_deps(), rp.get("workspace", ""), rp.get("user", ""), rp.get("kind", ""))
    return json_response(CalendarsOut.model_validate(view).model_dump())


@bp.route(route="workspaces/{workspace}/admin-consent-links", methods=["POST"])
@management_endpoint
def connections_create_admin_consent_link(req: func.HttpRequest) -> func.HttpResponse:
    """201 ``{"url", "expires_at", "tenant"}``: a one-time link for a Microsoft tenant administrator."""
    from shared.http import json_response, parse_model, read_json
    from shared.schemas.connections import AdminConsentLinkIn, LinkOut
    from shared.usecases.connections import create_admin_consent_link

    body = parse_model(AdminConsentLinkIn, read_json(req, required=False))
    link = create_admin_consent_link(_deps(), req.route_params.get("workspace", ""), body.tenant, body.return_url)
    return json_response(LinkOut(**link).model_dump(exclude_none=True), 201)


# ----------------------------------------------------------------------------- browser (anonymous)
@bp.route(route="connect/{token}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def connections_open_connect_link(req: func.HttpRequest) -> func.HttpResponse:
    """GET: a page with "Continue to Microsoft" (the link is not used up); POST: 302 to Microsoft's authorize
    URL (MSAL, PKCE) with the browser-binding cookie; a result page when the link is not usable."""
    return _open_link(req, admin=False)


@bp.route(route="reconnect/{token}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def connections_open_notice_link(req: func.HttpRequest) -> func.HttpResponse:
    """The link in a host notice (rule 21): 302 to a fresh one-time connect link, or a result page (expired,
    or already connected since the email was sent)."""
    from shared.usecases.connections import open_notice_link

    return _browser(lambda: open_notice_link(_deps(), req.route_params.get("token", "")))


@bp.route(route="auth/microsoft/callback", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def connections_callback(req: func.HttpRequest) -> func.HttpResponse:
    """Microsoft's redirect: 302 to the return URL with ``status=connected|error``, or a result page.

    Microsoft's ``form_post`` is a cross-site POST, which carries no SameSite=Lax cookie: it is answered
    303 to the same callback as a GET (a top-level navigation, which carries it), then checked.
    """
    from urllib.parse import urlencode

    from shared.usecases.connections import CALLBACK_PATH, complete_sign_in

    params, browser = _callback_params(req), _binding(req)
    if (req.method or "").upper() == "POST" and browser is None and params.get("state"):
        return func.HttpResponse(status_code=303, headers={"Location": f"{CALLBACK_PATH}?{urlencode(params)}",
                                                           "Cache-Control": "no-store",
                                                           "Referrer-Policy": "no-referrer"})
    return _browser(lambda: complete_sign_in(_deps(), params, browser))


@bp.route(route="auth/google/callback", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def connections_google_callback(req: func.HttpRequest) -> func.HttpResponse:
    """Google's redirect (a top-level GET, so the browser-binding cookie comes along): 302 to the return URL
    with ``status=connected|error``, or a result page."""
    from shared.usecases.connections import complete_google_sign_in

    return _browser(lambda: complete_google_sign_in(_deps(), _callback_params(req), _binding(req)))


@bp.route(route="admin-consent/{token}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def connections_open_admin_consent_link(req: func.HttpRequest) -> func.HttpResponse:
    """GET: a page with "Continue to Microsoft"; POST: 302 to ``<authority host>/{tenant}/v2.0/adminconsent``
    with the browser-binding cookie; a result page when the link is not usable."""
    return _open_link(req, admin=True)


@bp.route(route="auth/microsoft/admin-consent/callback", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def connections_admin_consent_callback(req: func.HttpRequest) -> func.HttpResponse:
    """Microsoft's admin-consent redirect: records the expected tenant; 302 to the return URL or a page."""
    from shared.usecases.connections import complete_admin_consent

    return _browser(lambda: complete_admin_consent(_deps(), _callback_params(req), _binding(req)))
