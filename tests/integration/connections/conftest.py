"""Every test of this folder runs with all loggers at DEBUG (MSAL, urllib3, the Azure SDK included)
and fails if a code, state, token, secret or account name/upn reached a log record."""
from __future__ import annotations

import pytest

from tests.unit.connections.helpers import capture_everything, leaked, sensitive_values


@pytest.fixture(autouse=True)
def no_secret_in_logs(request, caplog):
    ms = request.getfixturevalue("ms") if "ms" in request.fixturenames else None
    capture_everything(caplog)
    yield
    assert leaked(caplog, sensitive_values(ms)) == [], "secrets or personal data reached the logs"
