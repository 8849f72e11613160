"""Identity endpoints of the stand-in, driven with requests and with real MSAL."""
from __future__ import annotations

import base64
import hashlib
import json

import jwt
import pytest
import requests

from devhost.msstandin import PERSONAL_TENANT_ID, StandIn

from .conftest import ALICE, BOB, CALENDAR_SCOPES, CAROL, ERIN, REDIRECT_URI, TEAMS_SCOPES, msal_app, query_of, sign_in

pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended:UserWarning")

CONTOSO = "f20819f0-fd3e-4491-aad0-0479085b2e6f"
FABRIKAM = "ad09e6a0-c1ad-4d3a-a59d-8e85fb357169"


def test_openid_configuration_like_entra(ms: StandIn, http: requests.Session) -> None:
    cfg = http.get(f"{ms.base_url}/organizations/v2.0/.well-known/openid-configuration").json()
    assert cfg["issuer"] == f"{ms.base_url}/{{tenantid}}/v2.0"
    assert cfg["authorization_endpoint"] == f"{ms.base_url}/organizations/oauth2/v2.0/authorize"
    assert cfg["token_endpoint"] == f"{ms.base_url}/organizations/oauth2/v2.0/token"
    assert cfg["jwks_uri"] == f"{ms.base_url}/organizations/discovery/v2.0/keys"
    tenant_cfg = http.get(f"{ms.base_url}/{CONTOSO}/v2.0/.well-known/openid-configuration").json()
    assert tenant_cfg["issuer"] == f"{ms.base_url}/{CONTOSO}/v2.0"
    bad = http.get(f"{ms.base_url}/no-such-tenant/v2.0/.well-known/openid-configuration")
    assert bad.status_code == 400 and bad.json()["error_codes"] == [90002]


def test_msal_auth_code_flow_with_pkce(ms: StandIn, http: requests.Session) -> None:
    app, flow, auth_response = sign_in(ms, http, ALICE)
    assert "code_challenge_method=S256" in flow["auth_uri"]
    assert auth_response["state"] == flow["state"]
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert "access_token" in result, result
    claims = result["id_token_claims"]
    assert (claims["tid"], claims["oid"], claims["preferred_username"]) == (
        CONTOSO, "3743f5ba-10c7-41d8-838b-7d52ca026829", ALICE)
    assert claims["aud"] == ms.client_id and claims["iss"] == f"{ms.base_url}/{CONTOSO}/v2.0"
    assert "idp" not in claims and claims["nbf"] <= claims["iat"] < claims["exp"]
    accounts = app.get_accounts()
    assert [a["home_account_id"] for a in accounts] == [f"{claims['oid']}.{claims['tid']}"]
    me = http.get(f"{ms.graph_base_url}/me", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert me.status_code == 200 and me.json()["userPrincipalName"] == ALICE


def test_id_token_signature_verifies_with_jwks(ms: StandIn, http: requests.Session) -> None:
    app, flow, auth_response = sign_in(ms, http, BOB)
    id_token = app.acquire_token_by_auth_code_flow(flow, auth_response)["id_token"]
    jwks = http.get(f"{ms.base_url}/organizations/discovery/v2.0/keys").json()
    header = jwt.get_unverified_header(id_token)
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(id_token, jwt.PyJWK(key).key, algorithms=["RS256"], audience=ms.client_id,
                        issuer=f"{ms.base_url}/{CONTOSO}/v2.0")
    assert claims["preferred_username"] == BOB
    assert claims["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()  # MSAL sends the hash


def test_wrong_pkce_verifier_is_refused(ms: StandIn, http: requests.Session) -> None:
    app, flow, auth_response = sign_in(ms, http, ALICE)
    flow["code_verifier"] = "x" * 43
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert result["error"] == "invalid_grant" and result["error_codes"] == [501481]


def test_code_is_one_time_and_bound_to_redirect_uri(ms: StandIn, http: requests.Session) -> None:
    app, flow, auth_response = sign_in(ms, http, ALICE)
    form = {"client_id": ms.client_id, "client_secret": ms.client_secret, "grant_type": "authorization_code",
            "code": auth_response["code"], "redirect_uri": REDIRECT_URI + "/other",
            "code_verifier": flow["code_verifier"], "scope": " ".join(TEAMS_SCOPES)}
    token_url = f"{ms.base_url}/organizations/oauth2/v2.0/token"
    wrong_uri = http.post(token_url, data=form)
    assert wrong_uri.status_code == 400 and wrong_uri.json()["error_codes"] == [500112]
    again = http.post(token_url, data={**form, "redirect_uri": REDIRECT_URI})
    assert again.json()["error_codes"] == [54005]  # the first attempt used the code up


def test_client_credentials_are_checked(ms: StandIn, http: requests.Session) -> None:
    _, flow, auth_response = sign_in(ms, http, ALICE)
    form = {"client_id": ms.client_id, "client_secret": "wrong", "grant_type": "authorization_code",
            "code": auth_response["code"], "redirect_uri": REDIRECT_URI, "code_verifier": flow["code_verifier"]}
    resp = http.post(f"{ms.base_url}/organizations/oauth2/v2.0/token", data=form)
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
    unknown = http.post(f"{ms.base_url}/organizations/oauth2/v2.0/token", data={**form, "client_id": "nobody"})
    assert unknown.json()["error_codes"] == [700016]


def test_refresh_rotates_and_works_through_msal(ms: StandIn, http: requests.Session) -> None:
    app, flow, auth_response = sign_in(ms, http, ALICE)
    first = app.acquire_token_by_auth_code_flow(flow, auth_response)
    account = app.get_accounts()[0]
    cached = app.acquire_token_silent(TEAMS_SCOPES, account=account)
    assert cached["access_token"] == first["access_token"]
    refreshed = app.acquire_token_silent(TEAMS_SCOPES, account=account, force_refresh=True)
    assert refreshed["token_source"] == "identity_provider"
    assert refreshed["access_token"] != first["access_token"]
    assert refreshed["refresh_token"] != first["refresh_token"]
    grants = [r["body"]["grant_type"] for r in ms.requests(path_regex="/oauth2/v2.0/token$")]
    assert grants == ["authorization_code", "refresh_token"]


def test_revoke_makes_refresh_fail_with_invalid_grant(ms: StandIn, http: requests.Session) -> None:
    app, flow, auth_response = sign_in(ms, http, CAROL)
    first = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert ms.revoke(CAROL)["revoked_tokens"] == 2
    me = http.get(f"{ms.graph_base_url}/me", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert me.status_code == 401 and me.json()["error"]["code"] == "InvalidAuthenticationToken"
    result = app.acquire_token_silent_with_error(TEAMS_SCOPES, account=app.get_accounts()[0], force_refresh=True)
    assert result["error"] == "invalid_grant" and result["error_codes"] == [50173]
    # a new sign-in works again
    app2, flow2, auth2 = sign_in(ms, http, CAROL)
    assert "access_token" in app2.acquire_token_by_auth_code_flow(flow2, auth2)


def test_revoke_reason_consent_gives_65001(ms: StandIn, http: requests.Session) -> None:
    app, flow, auth_response = sign_in(ms, http, BOB, CALENDAR_SCOPES)
    app.acquire_token_by_auth_code_flow(flow, auth_response)
    ms.revoke(BOB, reason="consent")
    result = app.acquire_token_silent_with_error(CALENDAR_SCOPES, account=app.get_accounts()[0], force_refresh=True)
    assert result["error_codes"] == [65001] and result.get("suberror") == "consent_required"


def test_refresh_for_scopes_never_granted_needs_consent(ms: StandIn, http: requests.Session) -> None:
    app, flow, auth_response = sign_in(ms, http, ALICE, TEAMS_SCOPES)
    app.acquire_token_by_auth_code_flow(flow, auth_response)
    result = app.acquire_token_silent_with_error(CALENDAR_SCOPES, account=app.get_accounts()[0])
    assert result["error"] == "invalid_grant" and result["error_codes"] == [65001]


def test_personal_account_id_token(ms: StandIn, http: requests.Session) -> None:
    app, flow, auth_response = sign_in(ms, http, ERIN)
    claims = app.acquire_token_by_auth_code_flow(flow, auth_response)["id_token_claims"]
    assert claims["tid"] == PERSONAL_TENANT_ID and claims["idp"] == "live.com"


def test_sign_in_page_lists_accounts_and_posts_consent(ms: StandIn, http: requests.Session) -> None:
    app = msal_app(ms, http)
    flow = app.initiate_auth_code_flow(scopes=TEAMS_SCOPES, redirect_uri=REDIRECT_URI)
    page = http.get(flow["auth_uri"])
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    for upn in (ALICE, BOB, CAROL, ERIN):
        assert f'data-upn="{upn}"' in page.text
    params = {k: v for k, v in query_of(flow["auth_uri"]).items()}
    action = flow["auth_uri"].split("?")[0]
    resp = http.post(action, data={**params, "login_hint": BOB, "consent": "accept"}, allow_redirects=False)
    assert resp.status_code == 302
    result = app.acquire_token_by_auth_code_flow(flow, query_of(resp.headers["Location"]))
    assert result["id_token_claims"]["preferred_username"] == BOB


def test_form_post_response_mode(ms: StandIn, http: requests.Session) -> None:
    app = msal_app(ms, http)
    flow = app.initiate_auth_code_flow(scopes=TEAMS_SCOPES, redirect_uri=REDIRECT_URI, login_hint=ALICE,
                                       response_mode="form_post")
    page = http.get(flow["auth_uri"], allow_redirects=False)
    assert page.status_code == 200 and f'action="{REDIRECT_URI}"' in page.text
    assert 'name="code"' in page.text and f'value="{flow["state"]}"' in page.text


def test_tenant_specific_authority(ms: StandIn, http: requests.Session) -> None:
    import msal

    app = msal.ConfidentialClientApplication(ms.client_id, client_credential=ms.client_secret,
                                             authority=f"{ms.authority_host}/{FABRIKAM}", instance_discovery=False,
                                             http_client=http)
    _, flow, auth_response = sign_in(ms, http, CAROL, app=app)
    assert app.acquire_token_by_auth_code_flow(flow, auth_response)["id_token_claims"]["tid"] == FABRIKAM
    flow = app.initiate_auth_code_flow(scopes=TEAMS_SCOPES, redirect_uri=REDIRECT_URI, login_hint=ALICE)
    wrong = http.get(flow["auth_uri"], allow_redirects=False)
    assert wrong.status_code == 400 and "AADSTS50020" in wrong.text


def test_client_info_is_base64url_json(ms: StandIn, http: requests.Session) -> None:
    app, flow, auth_response = sign_in(ms, http, ALICE)
    raw = app.acquire_token_by_auth_code_flow(flow, auth_response)["client_info"]
    info = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    assert info == {"uid": "3743f5ba-10c7-41d8-838b-7d52ca026829", "utid": CONTOSO}


@pytest.mark.parametrize("knob", ["grant", "deny"])
def test_admin_consent(ms: StandIn, http: requests.Session, knob: str) -> None:
    ms.configure(admin_consent=knob)
    resp = http.get(f"{ms.base_url}/organizations/v2.0/adminconsent", allow_redirects=False, params={
        "client_id": ms.client_id, "scope": "https://graph.microsoft.com/.default", "redirect_uri": REDIRECT_URI,
        "state": "s1", "login_hint": CAROL})
    assert resp.status_code == 302 and resp.headers["Location"].startswith(REDIRECT_URI)
    q = query_of(resp.headers["Location"])
    assert q["state"] == "s1"
    if knob == "grant":
        assert q["admin_consent"] == "True" and q["tenant"] == FABRIKAM and "error" not in q
    else:
        assert q["error"] == "access_denied" and "AADSTS65004" in q["error_description"]


def test_msal_refreshes_expired_access_tokens_and_single_use_knob(ms: StandIn, http: requests.Session) -> None:
    ms.configure(access_token_lifetime_s=0, single_use_refresh_tokens=True)
    app, flow, auth_response = sign_in(ms, http, ALICE)
    first = app.acquire_token_by_auth_code_flow(flow, auth_response)
    account = app.get_accounts()[0]
    again = app.acquire_token_silent(TEAMS_SCOPES, account=account)  # cached token expired: MSAL refreshes
    assert again["token_source"] == "identity_provider" and again["access_token"] != first["access_token"]
    form = {"client_id": ms.client_id, "client_secret": ms.client_secret, "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"], "scope": " ".join(TEAMS_SCOPES)}
    reused = http.post(f"{ms.base_url}/organizations/oauth2/v2.0/token", data=form)
    assert reused.status_code == 400 and reused.json()["error_codes"] == [70008]
