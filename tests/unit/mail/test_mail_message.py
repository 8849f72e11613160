"""Message building: header injection refused or neutralised, MIME shape, stable ids."""
from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from shared.errors import DeliveryRejected
from shared.mail.message import (
    Attachment,
    OutgoingMessage,
    build_email,
    clean_header_value,
    message_id_for,
    normalize_address,
    parse_sender,
)
from tests.unit.mail.helpers import TEAMS_URL

SENDER = "bookings@bookbridge.local"


def _roundtrip(message: OutgoingMessage) -> email.message.EmailMessage:
    raw = build_email(message, sender=SENDER, sender_name="Bookings").as_bytes()
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_subject_with_crlf_cannot_add_headers() -> None:
    parsed = _roundtrip(OutgoingMessage(
        to="ana@example.com", subject="Hello\r\nBcc: eve@evil.test\r\n\r\nbody", text="hi"))
    assert parsed.get_all("Bcc") is None
    assert parsed["Subject"] == "Hello Bcc: eve@evil.test body"
    assert parsed.get_all("To") == ["ana@example.com"]


@pytest.mark.parametrize("length", range(60, 100))
def test_a_folded_subject_reads_the_same_once_unfolded(length: int) -> None:
    # The standard library folds a value that fits one line onto a continuation line
    # ("Subject:" CRLF " Confirmed ..."), which unfolds to a value that starts with a space.
    words = ("Confirmed: Intro Bcc: boss@evil.example Subject: spoofed, Mon 7 Dec 11:52 EST " * 3)
    subject = words[:length].rstrip()
    raw = build_email(OutgoingMessage(to="ana@example.com", subject=subject, text="hi"), sender=SENDER).as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"Subject:\r\n" not in head and max(len(line) for line in head.split(b"\r\n")) <= 998
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == subject
    legacy = email.message_from_bytes(raw, policy=email.policy.compat32)  # what older readers see
    assert " ".join(str(legacy["Subject"]).split()) == subject


def test_display_name_with_crlf_is_neutralised() -> None:
    parsed = _roundtrip(OutgoingMessage(
        to="ana@example.com", to_name='Ana "A"\r\nBcc: eve@evil.test', subject="s", text="t"))
    assert parsed.get_all("Bcc") is None
    to = parsed["To"]
    assert len(to.addresses) == 1
    assert to.addresses[0].addr_spec == "ana@example.com"
    assert to.addresses[0].display_name == 'Ana "A" Bcc: eve@evil.test'


@pytest.mark.parametrize("bad", [
    "ana@example.com\r\nBcc: eve@evil.test",
    "ana@example.com\nX: y",
    "ana@example.com, eve@evil.test",
    "ana@example.com;eve@evil.test",
    "Ana <ana@example.com>",
    "ana",
    "ana@",
    "@example.com",
    "ana@exa mple.com",
    "ana@-bad-.com",
    "ana@example..com",
    "",
    "ana@ex\u2028ample.com",
])
def test_bad_recipient_is_refused_permanently(bad: str) -> None:
    with pytest.raises(DeliveryRejected) as info:
        build_email(OutgoingMessage(to=bad, subject="s", text="t"), sender=SENDER)
    assert info.value.code == "malformed_address"
    if bad:
        assert bad not in str(info.value)  # the error never repeats the address


def test_addresses_are_normalised() -> None:
    assert normalize_address(" Ana@Example.COM ") == "Ana@example.com"
    assert normalize_address("ana@bücher.example") == "ana@xn--bcher-kva.example"
    assert parse_sender("Bookings <bookings@bookbridge.local>") == ("bookings@bookbridge.local", "Bookings")


def test_clean_header_value() -> None:
    assert clean_header_value("a\r\nb\tc\x00d\u2029e\u202ef") == "a b c d e f"
    assert clean_header_value("  many   spaces ") == "many spaces"
    assert clean_header_value("x" * 300, max_length=10) == "x" * 9 + "\u2026"


def test_extra_headers_are_cleaned_and_reserved_ones_refused() -> None:
    parsed = _roundtrip(OutgoingMessage(to="ana@example.com", subject="s", text="t",
                                        headers={"X-Bookbridge-Kind": "confirmation\r\nBcc: e@evil.test"}))
    assert parsed["X-Bookbridge-Kind"] == "confirmation Bcc: e@evil.test"
    assert parsed.get_all("Bcc") is None
    for name in ("Bcc", "to", "Content-Type", "Bad Name", "X-Bad:Colon"):
        with pytest.raises(ValueError):
            build_email(OutgoingMessage(to="ana@example.com", subject="s", text="t", headers={name: "v"}),
                        sender=SENDER)


def test_mime_structure_text_html_and_calendar_attachment() -> None:
    ics = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
    text = f"Join the meeting: {TEAMS_URL}\n"
    parsed = _roundtrip(OutgoingMessage(
        to="ana@example.com", to_name="Ana", subject="Confirmed", text=text, html="<p>hi</p>",
        attachments=[Attachment("invite.ics", "text/calendar; method=REQUEST; charset=UTF-8", ics)]))
    assert parsed.get_content_type() == "multipart/mixed"
    plain = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert plain.replace("\r\n", "\n") == text  # SMTP line ends are CRLF on the wire
    assert parsed.get_body(("html",)).get_content().strip() == "<p>hi</p>"  # type: ignore[union-attr]
    (att,) = list(parsed.iter_attachments())
    assert att.get_content_type() == "text/calendar"
    assert att.get_filename() == "invite.ics"
    assert att["Content-Type"].params["method"] == "REQUEST"
    assert att["Content-Type"].params["charset"].upper() == "UTF-8"
    assert att.get_payload(decode=True) == ics


def test_ascii_text_keeps_long_urls_unbroken_in_the_raw_message() -> None:
    raw = build_email(OutgoingMessage(to="ana@example.com", subject="s", text=f"Join: {TEAMS_URL}\n"),
                      sender=SENDER).as_bytes()
    assert TEAMS_URL.encode() in raw


def test_message_id_is_stable_for_an_idempotency_key() -> None:
    first = build_email(OutgoingMessage(to="ana@example.com", subject="s", text="t",
                                        idempotency_key="ws|b1|confirmation|1"), sender=SENDER)
    again = build_email(OutgoingMessage(to="ana@example.com", subject="s", text="t",
                                        idempotency_key="ws|b1|confirmation|1"), sender=SENDER)
    assert first["Message-ID"] == again["Message-ID"] == message_id_for("ws|b1|confirmation|1", "bookbridge.local")
    assert "b1" not in first["Message-ID"]
    explicit = build_email(OutgoingMessage(to="ana@example.com", subject="s", text="t",
                                           message_id="<abc@bookbridge.local>"), sender=SENDER)
    assert explicit["Message-ID"] == "<abc@bookbridge.local>"
    with pytest.raises(ValueError):
        build_email(OutgoingMessage(to="ana@example.com", subject="s", text="t",
                                    message_id="<abc@x>\r\nBcc: e@evil.test"), sender=SENDER)


def test_date_header_is_utc() -> None:
    msg = build_email(OutgoingMessage(to="ana@example.com", subject="s", text="t"), sender=SENDER,
                      date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert msg["Date"] == "Fri, 02 Jan 2026 03:04:05 +0000"


def test_package_import_is_light() -> None:
    code = ("import sys, shared.mail, shared.mail.transport; "
            "heavy = [m for m in ('icalendar', 'requests', 'smtplib', 'aiosmtpd', 'azure.identity') "
            "if m in sys.modules]; print(heavy); assert not heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
