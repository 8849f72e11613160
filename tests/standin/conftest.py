"""Fixtures: a Microsoft stand-in on a free port, an https session trusting its CA, MSAL helpers."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlparse

import pytest
import requests

from devhost.msstandin import StandIn

REDIRECT_URI = "http://localhost:7071/api/oauth/microsoft/callback"
TEAMS_SCOPES = ["OnlineMeetings.ReadWrite", "User.Read"]
CALENDAR_SCOPES = ["Calendars.ReadWrite", "User.Read"]
ALICE, BOB, CAROL, DAVE, ERIN = ("alice@contoso.example", "bob@contoso.example", "carol@fabrikam.example",
                                 "dave@contoso.example", "erin@outlook.example")


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """One stand-in per test module (port 0: a free port; certificates in a temporary folder)."""
    ms = StandIn(cert_dir=tmp_path_factory.mktemp("devcerts")).start()
    yield ms
    ms.stop()


@pytest.fixture
def ms(standin: StandIn) -> StandIn:
    """The module's stand-in, reset to a clean state."""
    standin.reset()
    return standin


def https_session(ca_bundle: Path | str) -> requests.Session:
    """A session trusting the stand-in CA. ``trust_env=False``: REQUESTS_CA_BUNDLE would override ``verify``."""
    session = requests.Session()
    session.verify = str(ca_bundle)
    session.trust_env = False
    return session


@pytest.fixture
def http(ms: StandIn) -> Iterator[requests.Session]:
    """An https session for the stand-in."""
    assert ms.ca_bundle_path is not None
    with https_session(ms.ca_bundle_path) as session:
        yield session


class Graph:
    """Tiny Graph client for tests: ``graph.get(upn, "/me")``."""

    def __init__(self, ms: StandIn, http: requests.Session) -> None:
        self.ms, self.http = ms, http
        self._tokens: dict[str, str] = {}

    def token(self, upn: str) -> str:
        if upn not in self._tokens:
            self._tokens[upn] = self.ms.access_token(upn)
        return self._tokens[upn]

    def call(self, method: str, upn: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token(upn)}", **kwargs.pop("headers", {})}
        return self.http.request(method, self.ms.graph_base_url + path, headers=headers, **kwargs)

    def get(self, upn: str, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", upn, path, **kw)

    def post(self, upn: str, path: str, **kw: Any) -> requests.Response:
        return self.call("POST", upn, path, **kw)

    def patch(self, upn: str, path: str, **kw: Any) -> requests.Response:
        return self.call("PATCH", upn, path, **kw)

    def delete(self, upn: str, path: str, **kw: Any) -> requests.Response:
        return self.call("DELETE", upn, path, **kw)


@pytest.fixture
def graph(ms: StandIn, http: requests.Session) -> Graph:
    """Graph calls with sandbox-minted tokens (all scopes bookbridge uses)."""
    return Graph(ms, http)


def msal_app(ms: StandIn, http: requests.Session, **kwargs: Any) -> Any:
    """MSAL configured exactly as the README tells the app to."""
    import msal

    return msal.ConfidentialClientApplication(
        ms.client_id, client_credential=ms.client_secret, authority=f"{ms.authority_host}/organizations",
        instance_discovery=False, http_client=http, **kwargs)


def query_of(location: str) -> dict[str, str]:
    """The query parameters of a redirect Location."""
    return dict(parse_qsl(urlparse(location).query))


def sign_in(ms: StandIn, http: requests.Session, upn: str, scopes: list[str] | None = None,
            app: Any = None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Auth-code flow with PKCE through MSAL; returns (app, flow, auth_response) before redemption."""
    app = app or msal_app(ms, http)
    flow = app.initiate_auth_code_flow(scopes=scopes or TEAMS_SCOPES, redirect_uri=REDIRECT_URI, login_hint=upn)
    resp = http.get(flow["auth_uri"], allow_redirects=False)
    assert resp.status_code == 302, resp.text
    return app, flow, query_of(resp.headers["Location"])
