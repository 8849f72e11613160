"""What a host notice says for each cause (rule 21): what happened and what the enclosed link does.

Keyed by ``shared.domain.host_notices.NoticeCause`` values; ``None`` (no cause known) reads as ``other``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NoticeText:
    """Subject, what happened, what to do, and the label of the link that does it."""

    subject: str
    happened: str
    todo: str
    link_label: str


_AUTO = "Once it is done, the link is created and sent to the invitee automatically."

NOTICE_TEXTS: dict[str, NoticeText] = {
    "google": NoticeText(
        "Action needed: connect Google Calendar",
        "A booking needs a Google Meet link, but your Google Calendar is not connected to bookbridge (or Google "
        "no longer accepts its sign-in). The booking is confirmed, and the invitee was told that the link will "
        "follow by email.",
        f"Connect your Google account with the link below. {_AUTO}",
        "Connect Google Calendar"),
    "not_connected": NoticeText(
        "Action needed: connect Microsoft Teams",
        "A booking needs a Microsoft Teams link, but you have not connected a Microsoft Teams account to "
        "bookbridge yet. The booking is confirmed, and the invitee was told that the link will follow by email.",
        f"Connect your Microsoft work or school account with the link below. {_AUTO}",
        "Connect Microsoft Teams"),
    "disconnected": NoticeText(
        "Action needed: connect Microsoft Teams again",
        "A booking needs a Microsoft Teams link, but your Microsoft Teams account was disconnected from "
        "bookbridge. The booking is confirmed, and the invitee was told that the link will follow by email.",
        f"Connect your Microsoft work or school account again with the link below. {_AUTO}",
        "Connect Microsoft Teams"),
    "reauth": NoticeText(
        "Action needed: reconnect Microsoft Teams",
        "Microsoft no longer accepts bookbridge's sign-in for your Microsoft Teams account (for example after "
        "a password change or a revoked session), so no meeting link could be created. The booking is "
        "confirmed, and the invitee was told that the link will follow by email.",
        f"Sign in again with the link below. {_AUTO}",
        "Reconnect Microsoft Teams"),
    "consent": NoticeText(
        "Action needed: your organisation must approve bookbridge",
        "Your organisation requires an administrator to approve bookbridge before it can create Teams "
        "meetings for you (admin consent is missing), so no meeting link could be created. The booking is "
        "confirmed.",
        "Ask your Microsoft 365 administrator to grant bookbridge admin consent, then sign in again with the "
        f"link below. {_AUTO}",
        "Reconnect Microsoft Teams"),
    "no_teams": NoticeText(
        "Action needed: your Microsoft account cannot create Teams meetings",
        "The Microsoft account connected for Teams cannot create Teams meetings: it has no Teams licence, or "
        "its organisation does not allow Teams meetings. The booking is confirmed, but has no meeting link.",
        "Ask your Microsoft 365 administrator for a Teams licence, or connect another work account with "
        f"the link below. {_AUTO}",
        "Connect another Microsoft account"),
    "calendar": NoticeText(
        "Action needed: reconnect your Microsoft calendar",
        "bookbridge could not write a booking to your linked Microsoft calendar: Microsoft no longer accepts "
        "its sign-in for that calendar.",
        "Sign in again with the link below; the booking is then written to your calendar automatically.",
        "Reconnect your Microsoft calendar"),
    "other": NoticeText(
        "Action needed: meeting link could not be created",
        "A Microsoft Teams link could not be created for the booking below. The booking is confirmed, but "
        "the invitee has no meeting link yet.",
        "Check the reason above. If it concerns your Microsoft account or its connection, sign in again with "
        f"the link below. {_AUTO}",
        "Reconnect Microsoft Teams"),
}


def notice_text(cause: str | None) -> NoticeText:
    """The texts of ``cause`` (``other`` when unknown)."""
    return NOTICE_TEXTS.get(cause or "", NOTICE_TEXTS["other"])


_KIND_NAMES = {"teams": "Microsoft Teams", "microsoft_calendar": "your Microsoft calendar",
               "google_calendar": "your Google Calendar"}


def connection_notice_text(kind: str, *, consent_required: bool) -> NoticeText:
    """The texts of a notice about one connection that needs a new sign-in (rule 21), whatever bookings wait."""
    name = _KIND_NAMES.get(kind, "your Microsoft account")
    effect = ("New bookings get no Teams link until then; they are confirmed and get their link automatically "
              "once you sign in again." if kind == "teams" else
              "Bookings are not written to your calendar until then; they are written automatically once you "
              "sign in again.")
    if consent_required:
        return NoticeText(
            "Action needed: your organisation must approve bookbridge",
            f"Microsoft stopped accepting bookbridge's sign-in for {name}: your organisation requires an "
            f"administrator to approve bookbridge first (admin consent is missing). {effect}",
            "Ask your Microsoft 365 administrator to grant bookbridge admin consent, then sign in again with the "
            "link below.",
            f"Reconnect {name}")
    return NoticeText(
        f"Action needed: reconnect {name}",
        f"{'Google' if kind == 'google_calendar' else 'Microsoft'} no longer accepts bookbridge's sign-in for "
        f"{name} (for example after a password change or a revoked session). {effect}",
        "Sign in again with the link below.",
        f"Reconnect {name}")


@dataclass(frozen=True)
class OutlookChangeText:
    """A host notice about what the host did to a booking's event in Outlook (rule 19): the subject's start,
    what happened, and what the host can do."""

    subject: str
    happened: str
    todo: str


#: Keyed by the booking's ``external_change``.
OUTLOOK_CHANGE_TEXTS: dict[str, OutlookChangeText] = {
    "deleted_in_outlook": OutlookChangeText(
        "A booked meeting was removed from your Outlook calendar",
        "The event of the booking below was deleted or declined in your Outlook calendar. The booking itself is "
        "still confirmed and the invitee has not been told: this calendar is set to tell you instead of "
        "cancelling.",
        "If the meeting should not happen, cancel the booking where your bookings are managed; the invitee is "
        "then told. If it should, nothing needs to be done."),
    "move_refused": OutlookChangeText(
        "A booked meeting was not moved",
        "You moved the event of the booking below in your Outlook calendar onto a time that another booking "
        "already holds. The booking keeps its time, and its event was put back there in your Outlook calendar "
        "(Outlook tells the invitee).",
        "To move the meeting, pick a free time: move the event there in Outlook, or reschedule the booking where "
        "your bookings are managed. The invitee is then told."),
}
