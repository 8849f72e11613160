"""Plain-text and HTML bodies for every communication kind.

Each kind is first described as a short list of blocks (paragraphs, detail rows, links,
notes); the same blocks are then written out as text and as HTML, so both parts always
say the same thing. In HTML every value is escaped with :func:`html.escape`; a meeting
URL is written verbatim in the text part and as both ``href`` and visible text in the
HTML part (escaped, so ``&`` reads ``&amp;`` in the markup and the URL itself once
parsed). Only ``http``/``https`` URLs become links; anything else is shown as text.
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shared.mail.message import clean_header_value
from shared.mail.notice_texts import OUTLOOK_CHANGE_TEXTS, NoticeText, OutlookChangeText, notice_text
from shared.mail.times import format_time_range as format_time_range
from shared.mail.times import in_how_long, short_when

#: Kinds of message this module renders (the ``kind`` of a ``communications`` queue message).
KINDS: tuple[str, ...] = (
    "confirmation", "reminder", "link_update", "reschedule", "cancellation", "host_notice",
)

_SAFE_URL = re.compile(r"^https?://", re.IGNORECASE)
_WAITING_STATES = frozenset({"awaiting_connection", "pending", "retrying"})
#: How a host reconnects Teams when the notice carries no link of its own (there is no settings page).
NOTICE_LINK_HELP = ("This link works for 7 days and opens a new sign-in each time; open it in the browser "
                    "where you will finish signing in.")
CONNECT_LINK_HELP = ("To reconnect, ask your workspace admin for a new Microsoft Teams connect link and open "
                     "it in your browser. Each link works once and expires 15 minutes after it is made; if it "
                     "has expired, ask for another.")


@dataclass(frozen=True)
class BookingView:
    """What a message needs to know about a booking, already resolved to plain values.

    ``meeting_url`` is the join link exactly as stored on the booking (Teams or a
    custom static URL), ``None`` when there is none yet. ``custom_location`` is a
    free-text place (e.g. an address) shown when there is no URL. ``previous_*`` are
    the old times of a rescheduled booking. ``host_timezone``, ``reconnect_url`` and
    ``notice_cause`` are used by ``host_notice`` (times in the host's zone, the link that fixes it, why).
    """

    calendar_name: str
    host_names: Sequence[str]
    invitee_name: str
    invitee_email: str
    invitee_timezone: str
    start_utc: datetime
    end_utc: datetime
    meeting_url: str | None = None
    link_state: str = "not_applicable"
    link_reason: str | None = None
    manage_url: str | None = None
    reschedule_url: str | None = None
    cancel_url: str | None = None
    notes: str | None = None
    custom_location: str | None = None
    previous_start_utc: datetime | None = None
    previous_end_utc: datetime | None = None
    host_timezone: str | None = None
    reconnect_url: str | None = None
    notice_cause: str | None = None  # host_notice: shared.domain.host_notices.NoticeCause's value
    time_format: str | None = None  # "12h" or "24h" (the invitee's clock, as on the booking page); default 24h
    external_change: str | None = None  # "deleted_in_outlook" / "move_refused": the host's Outlook change (rule 19)
    meeting_label: str = "Microsoft Teams meeting"  # "Google Meet" for a Meet link (rule 28)


@dataclass(frozen=True)
class RenderedMessage:
    """A rendered message: subject (one line), plain text and HTML."""

    subject: str
    text: str
    html: str


# ------------------------------------------------------------------ blocks
@dataclass(frozen=True)
class _Para:
    text: str


@dataclass(frozen=True)
class _Details:
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Link:
    label: str
    url: str
    url_as_text: bool = False  # True: the visible HTML text is the URL itself


@dataclass(frozen=True)
class _Notes:
    label: str
    text: str


_Block = _Para | _Details | _Link | _Notes


@dataclass(frozen=True)
class _Options:
    offset_minutes: int | None = None
    invitation_attached: bool = False
    recipient_name: str | None = None
    invitation_by_outlook: bool = False
    invitation_by_google: bool = False


@dataclass
class _Doc:
    subject: str
    blocks: list[_Block] = field(default_factory=list)


# ------------------------------------------------------------------ shared pieces
def _one_line(value: str | None) -> str:
    return clean_header_value(value or "")


def _hosts(view: BookingView) -> str:
    return ", ".join(n for n in (_one_line(h) for h in view.host_names) if n)


def _details(view: BookingView, *, tz_name: str | None, with_invitee: bool = False,
             extra: Sequence[tuple[str, str]] = ()) -> _Details:
    rows: list[tuple[str, str]] = [("What", _one_line(view.calendar_name))]
    rows.append(("When", format_time_range(view.start_utc, view.end_utc, tz_name, view.time_format)))
    if with_invitee:
        rows.append(("Invitee", f"{_one_line(view.invitee_name)} <{_one_line(view.invitee_email)}>"))
    hosts = _hosts(view)
    if hosts:
        rows.append(("With", hosts))
    rows.extend(extra)
    return _Details(tuple(rows))


def _location(view: BookingView) -> tuple[list[tuple[str, str]], list[_Block]]:
    """The "Where" row(s) and the blocks that follow the details (join link or wording)."""
    if view.meeting_url:
        where = view.meeting_label if view.link_state == "created" else "Online meeting"
        return [("Where", where)], [_Link("Join the meeting", view.meeting_url, True)]
    if view.link_state in _WAITING_STATES:
        return [("Where", view.meeting_label)], [_Para("The meeting link will follow by email.")]
    if view.link_state == "failed":
        return [("Where", "Online meeting")], [
            _Para("The meeting link is not available yet. Your host has been informed, "
                  "and the link will follow by email.")]
    if view.custom_location:
        return [("Where", _one_line(view.custom_location))], []
    return [], []


def _invitee_core(view: BookingView, extra: Sequence[tuple[str, str]] = ()) -> list[_Block]:
    rows, after = _location(view)
    return [_details(view, tz_name=view.invitee_timezone, extra=[*extra, *rows]), *after]


def _notes(view: BookingView) -> list[_Block]:
    text = "\n".join(_one_line(line) for line in (view.notes or "").splitlines()).strip()
    return [_Notes("Notes", text)] if text else []


def _manage(view: BookingView) -> list[_Block]:
    blocks: list[_Block] = []
    for label, url in (("Manage your booking", view.manage_url),
                       ("Reschedule", view.reschedule_url),
                       ("Cancel", view.cancel_url)):
        if url:
            blocks.append(_Link(label, url))
    return blocks


def _outlook_invitation(view: BookingView, opts: _Options) -> list[_Block]:
    """Same-account path (rule 8): Outlook (or a Google member's Google Calendar, rule 28) carries the invitation."""
    if not (opts.invitation_by_outlook or opts.invitation_by_google) or opts.invitation_attached:
        return []
    sender, app = _hosts(view) or "your host", "Google Calendar" if opts.invitation_by_google else "Microsoft Outlook"
    return [_Para(f"The calendar invitation comes from {app} in a separate email from {sender}: "
                  "accept it there to add the meeting to your calendar. No invitation is attached to this email.")]


def _greeting(name: str | None) -> _Para:
    clean = _one_line(name)
    return _Para(f"Hello {clean}," if clean else "Hello,")


# ------------------------------------------------------------------ kinds
def _confirmation(view: BookingView, opts: _Options) -> _Doc:
    tz = view.invitee_timezone
    doc = _Doc(f"Confirmed: {_one_line(view.calendar_name)}, {short_when(view.start_utc, tz, view.time_format)}")
    doc.blocks += [_greeting(view.invitee_name), _Para("Your booking is confirmed.")]
    doc.blocks += [*_invitee_core(view), *_notes(view)]
    if opts.invitation_attached:
        doc.blocks.append(_Para("A calendar invitation is attached."))
    doc.blocks += _outlook_invitation(view, opts)
    doc.blocks += _manage(view)
    return doc


def _reminder(view: BookingView, opts: _Options) -> _Doc:
    tz = view.invitee_timezone
    doc = _Doc(f"Reminder: {_one_line(view.calendar_name)}, {short_when(view.start_utc, tz, view.time_format)}")
    intro = "This is a reminder of your upcoming meeting."
    if opts.offset_minutes and opts.offset_minutes > 0:
        intro = f"This is a reminder: your meeting starts in {in_how_long(opts.offset_minutes)}."
    doc.blocks += [_greeting(view.invitee_name), _Para(intro)]
    doc.blocks += [*_invitee_core(view), *_notes(view), *_manage(view)]
    return doc


def _link_update(view: BookingView, opts: _Options) -> _Doc:
    tz = view.invitee_timezone
    when = short_when(view.start_utc, tz, view.time_format)
    doc = _Doc(f"Your meeting link: {_one_line(view.calendar_name)}, {when}")
    intro = ("The meeting link for your booking is now available." if view.meeting_url
             else "There is an update about the meeting link for your booking.")
    doc.blocks += [_greeting(view.invitee_name), _Para(intro)]
    doc.blocks += _invitee_core(view)
    if opts.invitation_attached:
        doc.blocks.append(_Para("An updated calendar invitation is attached."))
    doc.blocks += _outlook_invitation(view, opts)
    doc.blocks += _manage(view)
    return doc


def _reschedule(view: BookingView, opts: _Options) -> _Doc:
    tz = view.invitee_timezone
    doc = _Doc(f"Rescheduled: {_one_line(view.calendar_name)}, {short_when(view.start_utc, tz, view.time_format)}")
    doc.blocks += [_greeting(view.invitee_name), _Para("Your booking has been moved to a new time.")]
    previously: list[tuple[str, str]] = []
    if view.previous_start_utc is not None:
        prev_end = view.previous_end_utc or (view.previous_start_utc + (view.end_utc - view.start_utc))
        previously.append(("Previously", format_time_range(view.previous_start_utc, prev_end, tz, view.time_format)))
    doc.blocks += [*_invitee_core(view, previously), *_notes(view)]
    if opts.invitation_attached:
        doc.blocks.append(_Para("An updated calendar invitation is attached."))
    doc.blocks += _outlook_invitation(view, opts)
    doc.blocks += _manage(view)
    return doc


def _cancellation(view: BookingView, opts: _Options) -> _Doc:
    tz = view.invitee_timezone
    doc = _Doc(f"Cancelled: {_one_line(view.calendar_name)}, {short_when(view.start_utc, tz, view.time_format)}")
    doc.blocks += [_greeting(view.invitee_name),
                   _Para("Your booking has been cancelled. The meeting will not take place.")]
    doc.blocks.append(_details(view, tz_name=tz))
    if opts.invitation_attached:
        doc.blocks.append(_Para("A calendar cancellation is attached to remove the event "
                                "from your calendar."))
    return doc


def _outlook_change(view: BookingView, opts: _Options, texts: OutlookChangeText) -> _Doc:
    tz = view.host_timezone or view.invitee_timezone
    invitee = _one_line(view.invitee_name) or "an invitee"
    doc = _Doc(f"{texts.subject} ({invitee}, {short_when(view.start_utc, tz, view.time_format)})")
    doc.blocks += [_greeting(opts.recipient_name), _Para(texts.happened),
                   _details(view, tz_name=tz, with_invitee=True), _Para(texts.todo)]
    return doc


def _host_notice(view: BookingView, opts: _Options) -> _Doc:
    if view.external_change in OUTLOOK_CHANGE_TEXTS:
        return _outlook_change(view, opts, OUTLOOK_CHANGE_TEXTS[view.external_change])
    tz = view.host_timezone or view.invitee_timezone
    invitee = _one_line(view.invitee_name) or "an invitee"
    texts = notice_text(view.notice_cause or ("other" if view.link_state == "failed" else "reauth"))
    doc = _Doc(f"{texts.subject} ({invitee}, {short_when(view.start_utc, tz, view.time_format)})")
    doc.blocks.append(_greeting(opts.recipient_name))
    doc.blocks.append(_Para(texts.happened))
    reason = _one_line(view.link_reason)
    doc.blocks.append(_details(view, tz_name=tz, with_invitee=True,
                               extra=[("Reason", reason)] if reason else []))
    doc.blocks.append(_Para(texts.todo))
    if view.reconnect_url:
        doc.blocks.append(_Link(texts.link_label, view.reconnect_url))
        doc.blocks.append(_Para(NOTICE_LINK_HELP))
    else:
        doc.blocks.append(_Para(CONNECT_LINK_HELP))
    return doc


def render_connection_notice(texts: NoticeText, *, reason: str | None, link_url: str,
                             recipient_name: str | None = None) -> RenderedMessage:
    """A host notice about a connection (not a booking) that needs a new sign-in: ``texts``, the reason
    Microsoft gave, and the notice link that mints a fresh connect link."""
    doc = _Doc(texts.subject, [_greeting(recipient_name), _Para(texts.happened)])
    if _one_line(reason):
        doc.blocks.append(_Details((("Reason", _one_line(reason)),)))
    doc.blocks += [_Para(texts.todo), _Link(texts.link_label, link_url), _Para(NOTICE_LINK_HELP)]
    doc.subject = clean_header_value(doc.subject)
    return RenderedMessage(subject=doc.subject, text=_text(doc), html=_html(doc))


_BUILDERS: dict[str, Callable[[BookingView, _Options], _Doc]] = {
    "confirmation": _confirmation,
    "reminder": _reminder,
    "link_update": _link_update,
    "reschedule": _reschedule,
    "cancellation": _cancellation,
    "host_notice": _host_notice,
}


# ------------------------------------------------------------------ output
def _text(doc: _Doc) -> str:
    parts: list[str] = []
    for block in doc.blocks:
        if isinstance(block, _Para):
            parts.append(block.text)
        elif isinstance(block, _Details):
            width = max(len(label) for label, _ in block.rows) + 1
            parts.append("\n".join(f"{label + ':':<{width}} {value}" for label, value in block.rows))
        elif isinstance(block, _Link):
            parts.append(f"{block.label}: {block.url}")
        else:
            parts.append(f"{block.label}:\n{block.text}")
    return "\n\n".join(parts) + "\n"


def _esc(value: str) -> str:
    return html.escape(value, quote=True)


def _html_link(block: _Link) -> str:
    safe = _SAFE_URL.match(block.url) is not None
    if block.url_as_text:
        target = f'<a href="{_esc(block.url)}">{_esc(block.url)}</a>' if safe else _esc(block.url)
        return f"<p><strong>{_esc(block.label)}:</strong><br>{target}</p>"
    if safe:
        return f'<p><a href="{_esc(block.url)}">{_esc(block.label)}</a></p>'
    return f"<p>{_esc(block.label)}: {_esc(block.url)}</p>"


def _html(doc: _Doc) -> str:
    body: list[str] = []
    for block in doc.blocks:
        if isinstance(block, _Para):
            body.append(f"<p>{_esc(block.text)}</p>")
        elif isinstance(block, _Details):
            rows = "".join(
                f'<tr><th align="left" style="padding:2px 12px 2px 0;vertical-align:top">{_esc(label)}</th>'
                f"<td>{_esc(value)}</td></tr>"
                for label, value in block.rows)
            body.append(f'<table role="presentation" style="border-collapse:collapse">{rows}</table>')
        elif isinstance(block, _Link):
            body.append(_html_link(block))
        else:
            lines = "<br>".join(_esc(line) for line in block.text.split("\n"))
            body.append(f"<p><strong>{_esc(block.label)}:</strong><br>{lines}</p>")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{_esc(doc.subject)}</title></head>\n"
            '<body style="font-family:Arial,Helvetica,sans-serif;color:#222;line-height:1.5">\n'
            + "\n".join(body) + "\n</body></html>\n")


def render(
    kind: str,
    view: BookingView,
    *,
    offset_minutes: int | None = None,
    invitation_attached: bool = False,
    recipient_name: str | None = None,
    invitation_by_outlook: bool = False,
    invitation_by_google: bool = False,
) -> RenderedMessage:
    """Subject, text and HTML of a ``kind`` message (one of :data:`KINDS`) about ``view``.

    ``offset_minutes`` words a reminder ("starts in 1 hour"); ``invitation_attached``
    mentions the attached .ics; ``recipient_name`` greets the host of a ``host_notice``;
    ``invitation_by_outlook`` says that Outlook sends the invitation (same-account path, no .ics).
    Raises ``ValueError`` for an unknown kind.
    """
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ValueError(f"unknown message kind {kind!r}")
    doc = builder(view, _Options(offset_minutes, invitation_attached, recipient_name, invitation_by_outlook,
                                 invitation_by_google))
    subject = clean_header_value(doc.subject)
    doc.subject = subject
    return RenderedMessage(subject=subject, text=_text(doc), html=_html(doc))
