"""Issue 17: names with CR/LF or bidi overrides never reach Graph raw (bookings stored before intake
refused them included), and the text rules of intake."""
from __future__ import annotations

from shared.domain.input_limits import name_problem, notes_problem, one_line
from shared.domain.meeting_plan import event_with_teams_body, meeting_subject

BOOKING = {"workspace": "acme", "host": "alice", "id": "b" * 32, "revision": 1,
           "invitee_name": "Ivy\r\nBcc: evil@example.test\u202e gnp.exe", "invitee_email": "ivy@example.test",
           "start_utc": "2026-11-24T09:00:00Z", "end_utc": "2026-11-24T09:30:00Z", "calendar_timezone": "UTC"}


def test_the_graph_subject_and_attendee_name_are_one_clean_line():
    subject = meeting_subject(BOOKING, "Intro\ncall")
    assert subject == "Intro call with Ivy Bcc: evil@example.test gnp.exe"
    name = event_with_teams_body(BOOKING, "Intro")["attendees"][0]["emailAddress"]["name"]
    assert name == "Ivy Bcc: evil@example.test gnp.exe"
    assert one_line("\u2066\u2069") == ""


def test_names_refuse_and_notes_keep_line_breaks():
    assert name_problem("Ada Lovelace") is None and name_problem("Ada\tL") and name_problem("A\u200fB")
    assert notes_problem("one\r\ntwo\tthree") is None and notes_problem("x\u202ey") and notes_problem("\x1b[31m")
