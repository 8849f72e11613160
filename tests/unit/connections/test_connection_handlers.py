"""The HTTP functions of ``functions/connections.py``: parse, call one use case, translate."""
from __future__ import annotations

import json
from urllib.parse import urlencode

import azure.functions as func
import pytest

from functions import connections as fn
from shared import bootstrap
from shared.pages.templates import render_result_page
from shared.settings import Settings
from tests.unit.connections.helpers import ALICE, CONTOSO, PERSONAL, PUBLIC_BASE, RETURN_URL, location_query

CONN = "workspaces/{workspace}/users/{user}/connections"


@pytest.fixture
def app(deps):
    container = bootstrap.Container(
        Settings({"PUBLIC_BASE_URL": PUBLIC_BASE}), store=deps.store, queue=deps.queue, clock=deps.clock,
        cipher=deps.cipher, signer=deps.signer, identity=deps.identity)
    bootstrap.install(container)
    yield deps
    bootstrap.install(None)


def _req(method, url, *, route=None, body=b"", headers=None, params=None):
    return func.HttpRequest(method, f"{PUBLIC_BASE}/api/{url}", headers=headers or {}, params=params or {},
                            route_params=route or {}, body=body)


def _json(resp):
    return json.loads(resp.get_body())


LINK_BODY = b'{"return_url": "' + RETURN_URL.encode() + b'"}'


def _link(kind="teams", body=LINK_BODY, ws="ws1", user="u1"):
    path = f"workspaces/{ws}/users/{user}/connections/{kind}/connect-links"
    return fn.connections_create_connect_link(_req("POST", path, route={"workspace": ws, "user": user, "kind": kind},
                                                   body=body, headers={"Content-Type": "application/json"}))


def _start(token, admin=False):
    """POST the link (the interstitial's button): ``(authorize URL, Cookie header of the binding)``."""
    opener = fn.connections_open_admin_consent_link if admin else fn.connections_open_connect_link
    resp = opener(_req("POST", "connect/x", route={"token": token}))
    assert resp.status_code == 302, resp.get_body()
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    return resp.headers["Location"], cookie.split(";", 1)[0]


def _form_post(form, cookie=None):
    headers = {"Content-Type": "application/x-www-form-urlencoded", **({"Cookie": cookie} if cookie else {})}
    return fn.connections_callback(_req("POST", "auth/microsoft/callback", body=urlencode(form).encode(),
                                        headers=headers))


def test_auth_levels_keep_function_keys_out_of_browsers():
    from tests.app_index import indexed_functions

    levels = {name: str(f["auth"]).upper() for name, f in indexed_functions().items()
              if name.startswith("connections_")}
    anonymous = {"connections_open_connect_link", "connections_callback", "connections_open_admin_consent_link",
                 "connections_admin_consent_callback", "connections_open_notice_link", "connections_google_callback"}
    assert len(levels) == 12  # two of them the linked calendar (function key), one Google's callback
    for name, level in levels.items():
        assert level.endswith("ANONYMOUS") == (name in anonymous), (name, level)


def test_connect_through_the_http_functions(app, ms):
    resp = _link()
    assert resp.status_code == 201
    link = _json(resp)
    assert set(link) == {"url", "expires_at", "kind"} and link["kind"] == "teams"
    token = link["url"].rsplit("/", 1)[1]

    resp = fn.connections_open_connect_link(_req("GET", f"connect/{token}", route={"token": token}))
    assert resp.status_code == 200 and resp.headers["Referrer-Policy"] == "no-referrer"
    page = resp.get_body().decode()
    assert '<form method="post">' in page and "Continue to Microsoft" in page
    assert "form-action 'self' https:" in resp.headers["Content-Security-Policy"] and "Set-Cookie" not in resp.headers
    authorize, cookie = _start(token)
    assert location_query(authorize)["code_challenge_method"] == "S256"

    form = ms.sign_in(authorize, ALICE)  # response_mode=form_post: a cross-site POST carries no Lax cookie
    resp = _form_post(form)
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/api/auth/microsoft/callback?")
    resp = fn.connections_callback(_req("GET", "auth/microsoft/callback", params=location_query(
        resp.headers["Location"]), headers={"Cookie": cookie}))
    assert resp.status_code == 302
    assert location_query(resp.headers["Location"])["status"] == "connected"
    assert resp.headers["Cache-Control"] == "no-store"

    resp = fn.connections_list(_req("GET", CONN, route={"workspace": "ws1", "user": "u1"}))
    assert resp.status_code == 200
    teams = {c["kind"]: c for c in _json(resp)["connections"]}["teams"]
    assert teams["status"] == "connected" and teams["account"]["upn"] == ALICE["upn"]
    assert teams["account"]["tenant_id"] == ALICE["tid"]

    resp = fn.connections_disconnect(_req("DELETE", CONN + "/teams", route={"workspace": "ws1", "user": "u1",
                                                                            "kind": "teams"}))
    assert resp.status_code == 200 and _json(resp)["status"] == "disconnected"
    assert _json(resp)["disconnected_at"] == "2026-11-23T08:00:00Z"


def test_query_mode_callback_and_result_page(app, ms):
    token = _json(_link(body=b""))["url"].rsplit("/", 1)[1]
    authorize, cookie = _start(token)
    resp = fn.connections_callback(_req("GET", "auth/microsoft/callback", params=ms.sign_in(authorize, PERSONAL),
                                        headers={"Cookie": cookie}))
    assert resp.status_code == 400 and resp.mimetype == "text/html"
    page = resp.get_body().decode()
    assert "work or school" in page and PERSONAL["upn"] not in page
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


def test_bad_state_is_a_400_page(app, ms):
    resp = fn.connections_callback(_req("GET", "auth/microsoft/callback", params={"code": "c", "state": "nope"}))
    assert resp.status_code == 400 and "not valid" in resp.get_body().decode()
    resp = fn.connections_callback(_req("POST", "auth/microsoft/callback", body=b"code=c",
                                        headers={"Content-Type": "application/x-www-form-urlencoded"}))
    assert resp.status_code == 400


def test_opening_a_link_does_not_use_it_up_and_a_used_link_says_how_to_get_a_new_one(app, ms):
    """Issue 21 item 2: a mail scanner's GET or a second click leaves the link working."""
    token = _json(_link(body=b""))["url"].rsplit("/", 1)[1]
    for _ in range(3):
        assert fn.connections_open_connect_link(_req("GET", "connect/x", route={"token": token})).status_code == 200
    _start(token)
    for method in ("GET", "POST"):
        resp = fn.connections_open_connect_link(_req(method, "connect/x", route={"token": token}))
        page = resp.get_body().decode()
        assert resp.status_code == 400 and "already used" in page
        assert "ask whoever sent it" in page and "15 minutes" in page


def test_a_connect_flow_finished_in_another_browser_is_refused_and_stores_nothing(app, ms):
    token = _json(_link(body=b""))["url"].rsplit("/", 1)[1]
    authorize, _ = _start(token)
    form = ms.sign_in(authorize, ALICE)
    for other in ("bb_consent=" + "x" * 43, None):
        resp = fn.connections_callback(_req("GET", "auth/microsoft/callback", params=form,
                                            headers={"Cookie": other} if other else {}))
        assert resp.status_code == 400
    assert app.store.all("tokencaches") == []
    conn = app.store.get("connections", "ws1|u1", "teams")
    assert conn is None or conn.get("status") != "connected"


@pytest.mark.parametrize(("body", "field"), [
    (b'{"return_url": "javascript:alert(1)"}', "return_url"),
    (b'{"return_url": "/relative/path"}', "return_url"),
    (b'{"return_url": 5}', "return_url"),
    (b'{"other": 1}', "other"),
    (b"[1]", "body"),
])
def test_connect_link_422(app, body, field):
    resp = _link(body=body)
    assert resp.status_code == 422 and _json(resp)["error"]["field"] == field


def test_unknown_kind_and_user(app):
    assert _link(kind="zoom", body=b"").status_code == 422
    assert _link(user="ghost", body=b"").status_code == 404
    resp = fn.connections_list(_req("GET", CONN, route={"workspace": "ws1", "user": "ghost"}))
    assert resp.status_code == 404
    resp = fn.connections_disconnect(_req("DELETE", CONN + "/teams", route={"workspace": "ws1", "user": "u1",
                                                                            "kind": "teams"}))
    assert resp.status_code == 404


def test_admin_consent_through_the_http_functions(app):
    resp = fn.connections_create_admin_consent_link(_req(
        "POST", "workspaces/ws1/admin-consent-links", route={"workspace": "ws1"},
        body=json.dumps({"tenant": CONTOSO, "return_url": RETURN_URL}).encode()))
    assert resp.status_code == 201
    token = _json(resp)["url"].rsplit("/", 1)[1]
    resp = fn.connections_open_admin_consent_link(_req("GET", "admin-consent/x", route={"token": token}))
    assert resp.status_code == 200 and "Continue to Microsoft" in resp.get_body().decode()
    authorize, cookie = _start(token, admin=True)
    assert f"/{CONTOSO}/v2.0/adminconsent?" in authorize
    state = location_query(authorize)["state"]
    resp = fn.connections_admin_consent_callback(_req("GET", "auth/microsoft/admin-consent/callback", params={
        "admin_consent": "True", "tenant": CONTOSO, "state": state}, headers={"Cookie": cookie}))
    assert resp.status_code == 302 and location_query(resp.headers["Location"])["status"] == "granted"
    resp = fn.connections_create_admin_consent_link(_req(
        "POST", "workspaces/ws1/admin-consent-links", route={"workspace": "ws1"}, body=b'{"tenant": "common"}'))
    assert resp.status_code == 422 and _json(resp)["error"]["field"] == "tenant"


def test_missing_microsoft_settings_show_a_page_not_a_traceback(deps):
    container = bootstrap.Container(Settings({"LINK_SIGNING_KEY": "k" * 32}), store=deps.store, clock=deps.clock,
                                    cipher=deps.cipher)
    bootstrap.install(container)
    try:
        token = deps.signer.sign("connect-link", {"n": "x", "x": 2**40})
        deps.store.insert("connectlinks", {"PartitionKey": __import__("hashlib").sha256(token.encode()).hexdigest(),
                                           "RowKey": "link", "ws": "ws1", "user": "u1", "kind": "teams",
                                           "return_url": "", "expires_at": "2099-01-01T00:00:00Z", "used": False})
        container.signer = deps.signer
        resp = fn.connections_open_connect_link(_req("POST", "connect/x", route={"token": token}))
        assert resp.status_code == 500 and "not configured" in resp.get_body().decode()
    finally:
        bootstrap.install(None)


def test_result_page_escapes_everything():
    html = render_result_page("<script>alert(1)</script>", 'a "quoted" <b>message</b>', ok=False,
                              detail="<img src=x>", action_url='https://a.example/?q="><script>',
                              action_label="<go>")
    assert "<script>" not in html and "<img" not in html and "<b>" not in html and "<go>" not in html
    assert "&lt;script&gt;" in html and "&quot;&gt;&lt;script&gt;" in html
    assert 'href="javascript:' not in render_result_page("t", "m", ok=True, action_url="javascript:alert(1)")
