"""The e-mail a co-host without a connected calendar gets with the booking's .ics (rule 20): subject and text."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.mail.times import format_time_range, short_when


@dataclass(frozen=True)
class CohostText:
    """Subject and plain text of one co-host e-mail."""

    subject: str
    text: str


def cohost_text(*, cancelled: bool, calendar_name: str, organizer: str, invitee: str, start_utc: datetime,
                end_utc: datetime, timezone: str | None, link: str | None) -> CohostText:
    """What a co-host reads: the invitation (times, link) or its cancellation; the .ics is attached."""
    when = format_time_range(start_utc, end_utc, timezone)
    if cancelled:
        subject = f"Cancelled: {calendar_name} with {invitee}, {short_when(start_utc, timezone)}"
        lines = [f"The booking of {calendar_name} with {invitee} was cancelled.", "", f"When: {when}", "",
                 "The attached cancellation removes the event from your calendar."]
    else:
        subject = f"Invitation: {calendar_name} with {invitee}, {short_when(start_utc, timezone)}"
        lines = [f"You take part in {calendar_name} with {invitee}, organized by {organizer}.", "",
                 f"When: {when}"]
        if link:
            lines += [f"Join: {link}"]
        lines += ["", "The attached invitation adds the event to your calendar; it follows every change of the "
                      "booking. Connect your calendar in bookbridge to get the event there instead."]
    return CohostText(subject, "\n".join(lines) + "\n")


__all__ = ["CohostText", "cohost_text"]
