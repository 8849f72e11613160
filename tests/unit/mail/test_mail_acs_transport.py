"""ACS Email transport against `responses`: signature, body shape, idempotency, error mapping."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import types
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import responses

from shared.errors import ConfigurationError, DeliveryRejected, TransientError
from shared.mail.acs_transport import (
    ACS_SCOPE,
    AcsEmailTransport,
    operation_id_for,
    retry_after_seconds,
)
from shared.mail.ics import invitation_attachment
from shared.mail.message import OutgoingMessage
from shared.settings import Settings
from tests.unit.mail.helpers import TEAMS_URL

ENDPOINT = "https://contoso.communication.azure.com/"
SEND_URL = "https://contoso.communication.azure.com/emails:send?api-version=2023-03-31"
ACCESS_KEY = base64.b64encode(b"not-a-real-key-but-32-bytes-long").decode()
NOW = datetime(2026, 1, 10, 8, 30, 15, tzinfo=UTC)


def _message(**overrides: object) -> OutgoingMessage:
    fields: dict[str, object] = dict(
        to="ana@example.com", to_name="Ana\r\nInvitee", subject="Confirmed\r\nBcc: x@evil.test",
        text=f"Join the meeting: {TEAMS_URL}\n", html="<p>hi</p>",
        attachments=[invitation_attachment(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "REQUEST")],
        headers={"X-Bookbridge-Kind": "confirmation"},
        idempotency_key="ws1|b1|confirmation|1")
    fields.update(overrides)
    return OutgoingMessage(**fields)  # type: ignore[arg-type]


def _transport(**kwargs: object) -> AcsEmailTransport:
    args: dict[str, object] = dict(sender="Bookings <bookings@contoso.example>", access_key=ACCESS_KEY,
                                   clock=lambda: NOW)
    args.update(kwargs)
    return AcsEmailTransport(ENDPOINT, **args)  # type: ignore[arg-type]


@responses.activate
def test_send_posts_signed_request_with_expected_body() -> None:
    responses.add(responses.POST, SEND_URL, status=202,
                  json={"id": "x", "status": "Running"}, headers={"Operation-Location": "https://x"})
    _transport().send(_message())

    (call,) = responses.calls
    request = call.request
    assert isinstance(request.body, bytes)
    body: bytes = request.body
    assert json.loads(body) == {
        "senderAddress": "bookings@contoso.example",
        "recipients": {"to": [{"address": "ana@example.com", "displayName": "Ana Invitee"}]},
        "content": {"subject": "Confirmed Bcc: x@evil.test",
                    "plainText": f"Join the meeting: {TEAMS_URL}\n", "html": "<p>hi</p>"},
        "attachments": [{"name": "invite.ics", "contentType": "text/calendar",
                         "contentInBase64": base64.b64encode(
                             b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n").decode()}],
        "headers": {"X-Bookbridge-Kind": "confirmation"},
        "userEngagementTrackingDisabled": True,
    }
    headers = request.headers
    assert headers["Operation-Id"] == operation_id_for("ws1|b1|confirmation|1")
    assert headers["x-ms-date"] == "Sat, 10 Jan 2026 08:30:15 GMT"
    content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert headers["x-ms-content-sha256"] == content_hash

    # recompute the signature independently from what went on the wire
    url = urlsplit(request.url)
    assert url.path == "/emails:send" and url.query == "api-version=2023-03-31"
    to_sign = f"POST\n{url.path}?{url.query}\n{headers['x-ms-date']};{url.netloc};{content_hash}"
    expected = base64.b64encode(hmac.new(base64.b64decode(ACCESS_KEY), to_sign.encode(),
                                         hashlib.sha256).digest()).decode()
    assert headers["Authorization"] == (
        f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={expected}")


def test_operation_id_is_a_stable_uuid_per_key() -> None:
    first = operation_id_for("ws1|b1|confirmation|1")
    assert first == operation_id_for("ws1|b1|confirmation|1")
    assert first != operation_id_for("ws1|b1|confirmation|2")
    assert len(first) == 36 and first.count("-") == 4
    assert operation_id_for(None) != operation_id_for(None)


@responses.activate
def test_managed_identity_token_when_no_key() -> None:
    responses.add(responses.POST, SEND_URL, status=202, json={"id": "x", "status": "Running"})
    scopes: list[tuple[str, ...]] = []

    class FakeCredential:
        def get_token(self, *requested: str) -> types.SimpleNamespace:
            scopes.append(requested)
            return types.SimpleNamespace(token="tok-123")

    _transport(access_key=None, credential=FakeCredential()).send(_message())
    assert scopes == [(ACS_SCOPE,)]
    assert responses.calls[0].request.headers["Authorization"] == "Bearer tok-123"
    assert "x-ms-content-sha256" not in responses.calls[0].request.headers


@responses.activate
def test_default_azure_credential_is_imported_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    responses.add(responses.POST, SEND_URL, status=202, json={"id": "x", "status": "Running"})
    created: list[object] = []

    class FakeDefault:
        def __init__(self) -> None:
            created.append(self)

        def get_token(self, *scopes: str) -> types.SimpleNamespace:
            return types.SimpleNamespace(token="mi-token")

    fake_module = types.ModuleType("azure.identity")
    fake_module.DefaultAzureCredential = FakeDefault  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.identity", fake_module)
    transport = _transport(access_key=None)
    assert created == []  # nothing until the first send
    transport.send(_message())
    transport.send(_message())
    assert len(created) == 1
    assert responses.calls[1].request.headers["Authorization"] == "Bearer mi-token"


@responses.activate
def test_token_failure_is_transient() -> None:
    class Broken:
        def get_token(self, *scopes: str) -> object:
            raise RuntimeError("no identity endpoint")

    with pytest.raises(TransientError):
        _transport(access_key=None, credential=Broken()).send(_message())
    assert len(responses.calls) == 0


@pytest.mark.parametrize(("status", "headers", "retry_after"), [
    (429, {"Retry-After": "17"}, 17.0),
    (503, {"retry-after-ms": "2500"}, 2.5),
    (500, {}, None),
    (408, {}, None),
])
@responses.activate
def test_throttling_and_server_errors_are_transient(status: int, headers: dict[str, str],
                                                   retry_after: float | None) -> None:
    responses.add(responses.POST, SEND_URL, status=status, headers=headers,
                  json={"error": {"code": "TooManyRequests", "message": "ana@example.com slow down"}})
    with pytest.raises(TransientError) as info:
        _transport().send(_message())
    assert info.value.retry_after == retry_after
    assert "ana@example.com" not in str(info.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
@responses.activate
def test_client_errors_are_permanent(status: int) -> None:
    responses.add(responses.POST, SEND_URL, status=status,
                  json={"error": {"code": "InvalidRecipient", "message": "bad ana@example.com"}})
    with pytest.raises(DeliveryRejected) as info:
        _transport().send(_message())
    assert "InvalidRecipient" in str(info.value)
    assert "ana@example.com" not in str(info.value)


@responses.activate
def test_conflict_on_the_same_operation_id_counts_as_sent() -> None:
    responses.add(responses.POST, SEND_URL, status=409, json={"error": {"code": "Conflict"}})
    _transport().send(_message())  # no exception: the operation was accepted before


@responses.activate
def test_connection_error_is_transient() -> None:
    import requests

    responses.add(responses.POST, SEND_URL, body=requests.ConnectionError("refused"))
    with pytest.raises(TransientError):
        _transport().send(_message())


def test_malformed_recipient_is_refused_before_any_request() -> None:
    with responses.RequestsMock() as rsps:  # fails if any request were made
        with pytest.raises(DeliveryRejected):
            _transport().send(_message(to="ana@example.com\r\nBcc: eve@evil.test"))
        assert len(rsps.calls) == 0


def test_retry_after_http_date() -> None:
    later = "Sat, 10 Jan 2026 08:31:15 GMT"
    assert retry_after_seconds({"Retry-After": later}, now=NOW) == 60.0
    assert retry_after_seconds({"Retry-After": "soon"}, now=NOW) is None
    assert retry_after_seconds({}, now=NOW) is None


def test_configuration_is_checked() -> None:
    with pytest.raises(ConfigurationError):
        AcsEmailTransport("contoso.communication.azure.com", sender="a@b.example")
    with pytest.raises(ConfigurationError):
        AcsEmailTransport(ENDPOINT, sender="a@b.example", access_key="***not base64***")
    with pytest.raises(ConfigurationError):
        AcsEmailTransport(ENDPOINT, sender="not an address")
    with pytest.raises(ConfigurationError):
        AcsEmailTransport.from_settings(Settings({"MAIL_TRANSPORT": "acs"}))
    transport = AcsEmailTransport.from_settings(Settings({
        "ACS_EMAIL_ENDPOINT": ENDPOINT, "ACS_EMAIL_ACCESS_KEY": ACCESS_KEY, "MAIL_FROM": "a@b.example"}))
    assert isinstance(transport, AcsEmailTransport)


@responses.activate
def test_from_settings_uses_a_shared_session() -> None:
    import requests

    responses.add(responses.POST, SEND_URL, status=202, json={"id": "x", "status": "Running"})
    session = requests.Session()
    session.headers["User-Agent"] = "bookbridge-test"
    transport = AcsEmailTransport.from_settings(Settings({
        "ACS_EMAIL_ENDPOINT": ENDPOINT, "ACS_EMAIL_ACCESS_KEY": ACCESS_KEY, "MAIL_FROM": "a@b.example"}), session)
    transport.send(_message())
    assert responses.calls[0].request.headers["User-Agent"] == "bookbridge-test"
