"""Fixtures of the connection tests: Microsoft behind ``responses``, deps over the in-memory fakes.

Every test of this folder runs with all loggers at DEBUG (MSAL and urllib3 included) and fails if a
code, state, nonce, verifier, token, secret or account name/upn reached a log record.
"""
from __future__ import annotations

import pytest
import responses

from tests.unit.connections.helpers import (
    FakeMicrosoft,
    capture_everything,
    leaked,
    make_deps,
    seed_user,
    sensitive_values,
)


@pytest.fixture(autouse=True)
def no_secret_in_logs(request, caplog):
    ms = request.getfixturevalue("ms") if "ms" in request.fixturenames else None
    capture_everything(caplog)
    yield
    assert leaked(caplog, sensitive_values(ms)) == [], "secrets or personal data reached the logs"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def ms(rsps) -> FakeMicrosoft:
    return FakeMicrosoft().install(rsps)


@pytest.fixture
def deps(ms):
    d = make_deps()
    for ws, user in (("ws1", "u1"), ("ws1", "u2"), ("ws2", "u1"), ("ws2", "u9")):
        seed_user(d.store, ws, user)
    return d
