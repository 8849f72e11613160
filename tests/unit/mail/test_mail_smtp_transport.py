"""SMTP transport with a fake smtplib.SMTP: session steps and error classification."""
from __future__ import annotations

import logging
import smtplib
import socket
from email.message import EmailMessage
from typing import Any

import pytest

from shared.errors import ConfigurationError, DeliveryRejected, TransientError
from shared.mail import smtp_transport
from shared.mail.acs_transport import AcsEmailTransport
from shared.mail.message import OutgoingMessage
from shared.mail.smtp_transport import SmtpTransport
from shared.mail.transport import MailTransport, transport_from_settings
from shared.settings import Settings


class FakeSMTP:
    """Records calls; ``fail`` maps a step name to the exception it raises."""

    instances: list[FakeSMTP] = []
    fail: dict[str, BaseException] = {}

    def __init__(self, host: str, port: int, timeout: float) -> None:
        if "connect" in self.fail:
            raise self.fail["connect"]
        self.args = (host, port, timeout)
        self.steps: list[str] = []
        self.sent: list[tuple[EmailMessage, str, list[str]]] = []
        FakeSMTP.instances.append(self)

    def _step(self, name: str) -> None:
        self.steps.append(name)
        if name in self.fail:
            raise self.fail[name]

    def ehlo(self) -> None:
        self._step("ehlo")

    def starttls(self, context: Any) -> None:
        self._step("starttls")

    def login(self, user: str, password: str) -> None:
        self._step("login")
        self.credentials = (user, password)

    def send_message(self, msg: EmailMessage, from_addr: str, to_addrs: list[str]) -> dict[str, Any]:
        self._step("send")
        self.sent.append((msg, from_addr, to_addrs))
        return {}

    def quit(self) -> None:
        self._step("quit")

    def close(self) -> None:
        self.steps.append("close")


@pytest.fixture(autouse=True)
def fake_smtp(monkeypatch: pytest.MonkeyPatch) -> type[FakeSMTP]:
    FakeSMTP.instances = []
    FakeSMTP.fail = {}
    monkeypatch.setattr(smtp_transport.smtplib, "SMTP", FakeSMTP)
    return FakeSMTP


def _msg(to: str = "ana@example.com") -> OutgoingMessage:
    return OutgoingMessage(to=to, to_name="Ana", subject="Hello", text="secret body text")


def _transport(**kwargs: Any) -> SmtpTransport:
    return SmtpTransport("mail.example.com", 587, sender="Bookings <bookings@example.com>", **kwargs)


def test_plain_session() -> None:
    _transport().send(_msg())
    (smtp,) = FakeSMTP.instances
    assert smtp.args == ("mail.example.com", 587, smtp_transport.DEFAULT_TIMEOUT)
    assert smtp.steps == ["ehlo", "send", "quit"]
    mime, from_addr, to_addrs = smtp.sent[0]
    assert from_addr == "bookings@example.com" and to_addrs == ["ana@example.com"]
    assert mime["From"] == "Bookings <bookings@example.com>"


def test_starttls_and_login() -> None:
    _transport(starttls=True, username="user", password="pw", timeout=5).send(_msg())
    (smtp,) = FakeSMTP.instances
    assert smtp.steps == ["ehlo", "starttls", "ehlo", "login", "send", "quit"]
    assert smtp.credentials == ("user", "pw")
    assert smtp.args[2] == 5


@pytest.mark.parametrize(("step", "exc", "expected", "code"), [
    ("send", smtplib.SMTPRecipientsRefused({"ana@example.com": (550, b"5.1.1 <ana@example.com> unknown")}),
     DeliveryRejected, "recipient_refused"),
    ("send", smtplib.SMTPRecipientsRefused({"ana@example.com": (553, b"bad")}), DeliveryRejected,
     "recipient_refused"),
    ("send", smtplib.SMTPRecipientsRefused({"ana@example.com": (450, b"mailbox busy")}), TransientError,
     "transient"),
    ("send", smtplib.SMTPSenderRefused(550, b"no", "bookings@example.com"), DeliveryRejected, "sender_refused"),
    ("send", smtplib.SMTPDataError(552, b"too big"), DeliveryRejected, "message_refused"),
    ("send", smtplib.SMTPDataError(451, b"try later"), TransientError, "transient"),
    ("send", smtplib.SMTPServerDisconnected("gone"), TransientError, "transient"),
    ("send", TimeoutError("timed out"), TransientError, "transient"),
    ("send", smtplib.SMTPNotSupportedError("SMTPUTF8"), DeliveryRejected, "smtp_not_supported"),
    ("login", smtplib.SMTPAuthenticationError(535, b"bad credentials"), DeliveryRejected,
     "smtp_authentication_failed"),
    ("login", smtplib.SMTPAuthenticationError(454, b"temporary"), TransientError, "transient"),
    ("ehlo", smtplib.SMTPHeloError(421, b"closing"), TransientError, "transient"),
    ("connect", ConnectionRefusedError(111, "refused"), TransientError, "transient"),
    ("connect", TimeoutError("timed out"), TransientError, "transient"),
    ("connect", socket.gaierror(-2, "Name or service not known"), TransientError, "transient"),
    ("connect", smtplib.SMTPConnectError(554, b"no service"), TransientError, "transient"),
])
def test_error_classification(step: str, exc: BaseException, expected: type[Exception], code: str) -> None:
    FakeSMTP.fail = {step: exc}
    with pytest.raises(expected) as info:
        _transport(username="user", password="pw").send(_msg())
    assert info.value.code == code  # type: ignore[attr-defined]
    assert "ana@example.com" not in str(info.value)
    for smtp in FakeSMTP.instances:
        assert smtp.steps[-1] == "close"  # an aborted session is closed, not QUIT


def test_failure_after_acceptance_is_not_reported() -> None:
    FakeSMTP.fail = {"quit": smtplib.SMTPServerDisconnected("gone")}
    _transport().send(_msg())  # accepted by DATA: a failing QUIT must not cause a resend
    assert FakeSMTP.instances[0].steps[-2:] == ["quit", "close"]


def test_malformed_recipient_never_connects() -> None:
    with pytest.raises(DeliveryRejected):
        _transport().send(_msg("ana@example.com\r\nRCPT TO:<eve@evil.test>"))
    assert FakeSMTP.instances == []


def test_logs_carry_no_addresses_or_body(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="shared.mail")
    _transport().send(_msg())
    FakeSMTP.fail = {"send": smtplib.SMTPRecipientsRefused({"ana@example.com": (550, b"no")})}
    with pytest.raises(DeliveryRejected):
        _transport().send(_msg())
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records
    assert "ana@example.com" not in text and "secret body text" not in text


def test_configuration_checks() -> None:
    with pytest.raises(ConfigurationError):
        SmtpTransport("", 25, sender="a@b.example")
    with pytest.raises(ConfigurationError):
        SmtpTransport("h", 0, sender="a@b.example")
    with pytest.raises(ConfigurationError):
        SmtpTransport("h", 25, sender="a@b.example", password="pw")
    with pytest.raises(ConfigurationError):
        SmtpTransport("h", 25, sender="not-an-address")


def test_from_settings_and_factory() -> None:
    settings = Settings({"SMTP_HOST": "smtp.example.com", "SMTP_PORT": "2525", "SMTP_STARTTLS": "true",
                         "SMTP_USERNAME": "u", "SMTP_PASSWORD": "p", "MAIL_FROM": "Bookings <b@example.com>"})
    transport = transport_from_settings(settings)
    assert isinstance(transport, SmtpTransport) and isinstance(transport, MailTransport)
    transport.send(_msg())
    (smtp,) = FakeSMTP.instances
    assert smtp.args[:2] == ("smtp.example.com", 2525)
    assert smtp.steps == ["ehlo", "starttls", "ehlo", "login", "send", "quit"]
    assert isinstance(transport_from_settings(Settings({})), SmtpTransport)  # defaults: loopback 8025
    acs = transport_from_settings(Settings({"MAIL_TRANSPORT": "ACS", "ACS_EMAIL_ENDPOINT":
                                            "https://x.communication.azure.com"}))
    assert isinstance(acs, AcsEmailTransport)
    with pytest.raises(ConfigurationError):
        transport_from_settings(Settings({"MAIL_TRANSPORT": "pigeon"}))


def test_the_sender_gets_a_display_name_from_mail_from_name() -> None:
    """Issue 21 (9): a bare MAIL_FROM used to arrive with no display name."""
    transport_from_settings(Settings({"MAIL_FROM": "bookings@example.com", "MAIL_FROM_NAME": "Acme Bookings"})) \
        .send(_msg())
    transport_from_settings(Settings({"MAIL_FROM": "bookings@example.com"})).send(_msg())
    transport_from_settings(Settings({"MAIL_FROM": "Desk <desk@example.com>", "MAIL_FROM_NAME": "Ignored"})) \
        .send(_msg())
    froms = [smtp.sent[0][0]["From"] for smtp in FakeSMTP.instances]
    assert froms == ["Acme Bookings <bookings@example.com>", "bookbridge <bookings@example.com>",
                     "Desk <desk@example.com>"]
