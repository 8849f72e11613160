"""SmtpTransport against a real SmtpSink on a free loopback port (no fixed ports)."""
from __future__ import annotations

import email
import email.policy
import re
import smtplib
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from icalendar import Calendar

from devhost.smtp_sink import SmtpSink
from shared.errors import DeliveryRejected, TransientError
from shared.mail.ics import booking_uid, build_invitation, invitation_attachment
from shared.mail.message import OutgoingMessage
from shared.mail.smtp_transport import SmtpTransport
from shared.mail.templates import BookingView, render

TEAMS_URL = ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjQ5ZTQ2%40thread.v2/0"
             "?context=%7b%22Tid%22%3a%2272f988bf%22%2c%22Oid%22%3a%22550fae72%22%7d&anon=true")
START = datetime(2026, 1, 20, 13, 0, tzinfo=UTC)
END = datetime(2026, 1, 20, 13, 30, tzinfo=UTC)


@pytest.fixture()
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    server = SmtpSink(tmp_path / "outbox", port=0).start()
    try:
        yield server
    finally:
        server.stop()


def _transport(port: int) -> SmtpTransport:
    return SmtpTransport("127.0.0.1", port, sender="Bookings <bookings@bookbridge.local>", timeout=5)


def _confirmation(to: str = "ana@example.com") -> tuple[OutgoingMessage, bytes]:
    view = BookingView(
        calendar_name="Intro call", host_names=("Hana Host",), invitee_name="Ana Ünïcode",
        invitee_email=to, invitee_timezone="Europe/Berlin", start_utc=START, end_utc=END,
        meeting_url=TEAMS_URL, link_state="created", manage_url="https://book.example.com/m?t=1&w=2")
    rendered = render("confirmation", view, invitation_attached=True)
    ics = build_invitation(
        method="REQUEST", uid=booking_uid("b1"), sequence=0, start_utc=START, end_utc=END,
        summary="Intro call", description="Booked with bookbridge.", url=TEAMS_URL,
        organizer=("bookings@bookbridge.local", "Bookings"), attendee=(to, "Ana Ünïcode"), dtstamp=START)
    message = OutgoingMessage(to=to, to_name="Ana Ünïcode", subject=rendered.subject, text=rendered.text,
                              html=rendered.html, attachments=[invitation_attachment(ics, "REQUEST")],
                              idempotency_key="ws|b1|confirmation|0")
    return message, ics


def test_message_is_stored_as_eml_and_parses_back(sink: SmtpSink) -> None:
    message, ics = _confirmation()
    _transport(sink.port).send(message)

    (path,) = sink.paths()
    assert path.parent == sink.outbox_dir and path.suffix == ".eml"
    assert re.fullmatch(r"\d{8}T\d{12}Z-\d{6}-[0-9a-f]{8}\.eml", path.name)
    assert not [p for p in sink.outbox_dir.iterdir() if p.suffix != ".eml"]  # no temp files left

    (parsed,) = sink.messages()
    assert parsed["Subject"] == message.subject
    assert parsed["To"].addresses[0].addr_spec == "ana@example.com"
    assert parsed["To"].addresses[0].display_name == "Ana Ünïcode"
    assert parsed["X-Sink-RcptTo"] == "ana@example.com"
    plain_part, html_part_ = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain_part is not None and html_part_ is not None
    text, html_part = plain_part.get_content(), html_part_.get_content()
    assert TEAMS_URL in text
    assert TEAMS_URL.replace("&", "&amp;") in html_part

    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_filename() == "invite.ics"
    assert attachment["Content-Type"].params["method"] == "REQUEST"
    payload = attachment.get_payload(decode=True)
    assert isinstance(payload, bytes) and payload == ics  # byte for byte
    event = Calendar.from_ical(payload).walk("VEVENT")[0]
    assert str(event["LOCATION"]) == TEAMS_URL


def test_messages_are_sorted_by_arrival(sink: SmtpSink) -> None:
    transport = _transport(sink.port)
    for n in range(3):
        transport.send(OutgoingMessage(to=f"user{n}@example.com", subject=f"message {n}", text="t"))
    assert [m["Subject"] for m in sink.messages()] == ["message 0", "message 1", "message 2"]


def test_bounce_address_is_refused_permanently(sink: SmtpSink) -> None:
    with pytest.raises(DeliveryRejected) as info:
        _transport(sink.port).send(OutgoingMessage(to="nobody@bounce.invalid", subject="s", text="t"))
    assert "550" in str(info.value)
    assert sink.messages() == []


def test_tempfail_address_is_transient(sink: SmtpSink) -> None:
    with pytest.raises(TransientError) as info:
        _transport(sink.port).send(OutgoingMessage(to="later@tempfail.invalid", subject="s", text="t"))
    assert not isinstance(info.value, DeliveryRejected)
    assert "451" in str(info.value)


def test_connection_refused_is_transient() -> None:
    # A bound socket that never listens holds a free port and refuses connections.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        with pytest.raises(TransientError):
            _transport(port).send(OutgoingMessage(to="ana@example.com", subject="s", text="t"))


def test_stopped_sink_refuses_and_restarts_cleanly(tmp_path: Path) -> None:
    sink = SmtpSink(tmp_path, port=0).start()
    port = sink.port
    assert port > 0
    sink.stop()
    with pytest.raises(TransientError):
        _transport(port).send(OutgoingMessage(to="ana@example.com", subject="s", text="t"))


def test_cli_runs_a_sink(tmp_path: Path) -> None:
    outbox = tmp_path / "cli-outbox"
    with subprocess.Popen(
        [sys.executable, "-m", "devhost.smtp_sink", "--port", "0", "--outbox", str(outbox)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        cwd=Path(__file__).resolve().parents[2],
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            assert match, f"unexpected first line from the sink: {line!r}"
            with smtplib.SMTP("127.0.0.1", int(match.group(1)), timeout=5) as client:
                client.sendmail("a@example.com", ["b@example.com"], b"Subject: via cli\r\n\r\nhello\r\n")
            (stored,) = sorted(outbox.glob("*.eml"))
            parsed = email.message_from_bytes(stored.read_bytes(), policy=email.policy.default)
            assert parsed["Subject"] == "via cli"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0
