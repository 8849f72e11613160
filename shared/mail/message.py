"""What a transport sends (:class:`OutgoingMessage`) and its safe conversion to MIME.

Every value that ends up in a header goes through :func:`clean_header_value` (CR, LF
and other control or line-separator characters become spaces), and every address
through :func:`normalize_address` (one plain ``local@domain``, nothing else), so a
user-supplied name, subject or address can never add a header or a recipient.
"""
from __future__ import annotations

import email.utils
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from typing import NamedTuple

from shared.errors import DeliveryRejected

#: Longest subject we send; longer ones are shortened with an ellipsis.
MAX_SUBJECT_LENGTH = 200
#: Longest display name we send.
MAX_DISPLAY_NAME_LENGTH = 120
#: RFC 5321 limit on a path (``local@domain``).
MAX_ADDRESS_LENGTH = 254

# Headers that only the builder sets: callers may not override or add them.
_RESERVED_HEADERS = frozenset({
    "to", "from", "cc", "bcc", "sender", "reply-to", "subject", "date", "message-id",
    "mime-version", "return-path", "received", "content-type", "content-transfer-encoding",
    "content-disposition",
})
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII except ':' (RFC 5322 ftext)
_MESSAGE_ID = re.compile(r"^<[^<>\s@\"]+@[^<>\s@\"]+>$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_WHITESPACE_RUN = re.compile(r"\s+")


class _SmtpPolicy(EmailPolicy):
    """``email.policy.SMTP`` whose folded headers never start with an empty line.

    The standard library moves a whole value that fits one line to a continuation line
    (``Subject:\r\n Confirmed: ...``); unfolding that gives a value that starts with a
    space, which some readers keep. Joining that first break back keeps the line well
    under RFC 5322's 998-octet limit (the value already fit one folded line)."""

    def fold(self, name: str, value: str) -> str:  # noqa: D102 - the base docstring applies
        return _join_empty_first_line(name, super().fold(name, value), self.linesep)

    def fold_binary(self, name: str, value: str) -> bytes:  # noqa: D102
        folded = super().fold_binary(name, value)
        return _join_empty_first_line(name, folded.decode("ascii", "surrogateescape"),
                                      self.linesep).encode("ascii", "surrogateescape")


def _join_empty_first_line(name: str, folded: str, linesep: str) -> str:
    empty_first = f"{name}:{linesep} "
    if folded.startswith(empty_first):
        return f"{name}: " + folded[len(empty_first):]
    return folded


SMTP_POLICY = _SmtpPolicy(linesep="\r\n")


class Attachment(NamedTuple):
    """A file attached to a message; ``content_type`` may carry parameters
    (``text/calendar; method=REQUEST; charset=UTF-8``)."""

    filename: str
    content_type: str
    content: bytes


@dataclass
class OutgoingMessage:
    """One message to one recipient, independent of the transport that sends it.

    ``message_id`` (``<id@domain>``) is set by the builder when absent; derive it from
    ``idempotency_key`` with :func:`message_id_for` so that a retried send carries the
    same Message-ID. ``idempotency_key`` is also what the ACS transport turns into its
    ``Operation-Id``. ``headers`` are extra, non-reserved headers (e.g. ``X-...``).
    """

    to: str
    subject: str
    text: str
    html: str | None = None
    to_name: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None
    idempotency_key: str | None = None
    reply_to: str | None = None


def _is_unsafe_char(ch: str) -> bool:
    if ch in _BIDI_CONTROLS:
        return True
    return unicodedata.category(ch) in {"Cc", "Zl", "Zp"}


def clean_header_value(value: str, *, max_length: int | None = None) -> str:
    """``value`` on one line: control, line/paragraph-separator and bidi-override
    characters become spaces, whitespace runs collapse, ends are stripped, and the
    result is shortened to ``max_length`` (with an ellipsis) when given."""
    cleaned = "".join(" " if _is_unsafe_char(ch) else ch for ch in str(value))
    cleaned = _WHITESPACE_RUN.sub(" ", cleaned).strip()
    if max_length is not None and len(cleaned) > max_length:
        cleaned = cleaned[: max_length - 1].rstrip() + "\u2026"
    return cleaned


def normalize_address(value: str) -> str:
    """The plain ``local@domain`` form of ``value`` (domain in IDNA ASCII form).

    Raises :class:`DeliveryRejected` (permanent) when the value contains CR, LF or any
    other control character, is not exactly one ``addr-spec`` (no display name, no
    list, no comment), or has an unusable domain. The error never repeats the address.
    """
    if not isinstance(value, str) or not value.strip():
        raise DeliveryRejected("the recipient address is empty", code="malformed_address")
    if any(_is_unsafe_char(ch) for ch in value):
        raise DeliveryRejected("the address contains control characters", code="malformed_address")
    candidate = value.strip()
    try:
        parsed = Address(addr_spec=candidate)
    except Exception as exc:  # the parser raises ValueError, IndexError, HeaderParseError, defects
        raise DeliveryRejected("the address is not a valid email address",
                               code="malformed_address") from exc
    if parsed.addr_spec != candidate or not parsed.username or not parsed.domain:
        raise DeliveryRejected("the address is not a plain email address", code="malformed_address")
    domain = _ascii_domain(parsed.domain)
    result = f"{parsed.addr_spec.rsplit('@', 1)[0]}@{domain}"
    if len(result) > MAX_ADDRESS_LENGTH:
        raise DeliveryRejected("the address is too long", code="malformed_address")
    return result


def _ascii_domain(domain: str) -> str:
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise DeliveryRejected("the address has an invalid domain", code="malformed_address") from exc
    labels = ascii_domain.split(".")
    if not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise DeliveryRejected("the address has an invalid domain", code="malformed_address")
    return ascii_domain


def message_id_for(key: str, domain: str = "bookbridge") -> str:
    """A stable ``<hash@domain>`` Message-ID for an idempotency key (no personal data)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    safe_domain = re.sub(r"[^A-Za-z0-9.-]", "", domain) or "bookbridge"
    return f"<{digest}@{safe_domain}>"


def _format_address(addr: str, name: str | None) -> Address:
    local, domain = normalize_address(addr).rsplit("@", 1)
    display = clean_header_value(name or "", max_length=MAX_DISPLAY_NAME_LENGTH)
    return Address(display_name=display, username=local, domain=domain)


def _split_content_type(content_type: str) -> tuple[str, str, dict[str, str]]:
    header = SMTP_POLICY.header_factory("content-type", clean_header_value(content_type))
    maintype, subtype = header.maintype, header.subtype
    params = {k: clean_header_value(v) for k, v in header.params.items()}
    return maintype, subtype, params


def _safe_filename(filename: str) -> str:
    name = clean_header_value(filename).replace("/", "_").replace("\\", "_").strip(". ")
    return name or "attachment"


def build_email(
    message: OutgoingMessage,
    *,
    sender: str,
    sender_name: str | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """The MIME form of ``message``: ``multipart/alternative`` text (+ HTML), wrapped in
    ``multipart/mixed`` when there are attachments.

    Raises :class:`DeliveryRejected` for a malformed recipient, sender or reply-to
    address, and ``ValueError`` for a reserved or malformed extra header name (a
    programming error, not user input).
    """
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = _format_address(sender, sender_name)
    msg["To"] = _format_address(message.to, message.to_name)
    if message.reply_to:
        msg["Reply-To"] = _format_address(message.reply_to, None)
    msg["Subject"] = clean_header_value(message.subject, max_length=MAX_SUBJECT_LENGTH)
    when = (date or datetime.now(UTC)).astimezone(UTC)
    msg["Date"] = email.utils.format_datetime(when)
    msg["Message-ID"] = _message_id(message, sender)
    for name, value in message.headers.items():
        if not _HEADER_NAME.match(name) or name.lower() in _RESERVED_HEADERS:
            raise ValueError(f"header {name!r} may not be set on an outgoing message")
        msg[name] = clean_header_value(value)

    msg.set_content(message.text, subtype="plain", charset="utf-8", cte=_body_cte(message.text))
    if message.html is not None:
        msg.add_alternative(message.html, subtype="html", charset="utf-8", cte=_body_cte(message.html))
    for att in message.attachments:
        maintype, subtype, params = _split_content_type(att.content_type)
        params.pop("name", None)
        msg.add_attachment(
            bytes(att.content), maintype=maintype, subtype=subtype,
            filename=_safe_filename(att.filename), params=params,
        )
    return msg


def _body_cte(body: str) -> str | None:
    """``7bit`` for ASCII bodies whose lines fit SMTP's 998-octet limit, so that links
    stay unbroken in the raw message too; otherwise the library's choice (QP/base64)."""
    if body.isascii() and max((len(line) for line in body.splitlines()), default=0) <= 998:
        return "7bit"
    return None


def _message_id(message: OutgoingMessage, sender: str) -> str:
    domain = normalize_address(sender).rsplit("@", 1)[1]
    if message.message_id:
        candidate = clean_header_value(message.message_id)
        if not _MESSAGE_ID.match(candidate):
            raise ValueError("message_id must look like <id@domain>")
        return candidate
    if message.idempotency_key:
        return message_id_for(message.idempotency_key, domain)
    return email.utils.make_msgid(domain=domain)


def parse_sender(value: str) -> tuple[str, str | None]:
    """``(address, display name or None)`` from a sender setting such as
    ``bookings@example.com`` or ``Bookings <bookings@example.com>``.

    Raises :class:`DeliveryRejected` when the address is malformed.
    """
    parsed = email.utils.getaddresses([clean_header_value(value)])
    name, addr = parsed[0] if len(parsed) == 1 else ("", "")
    if not addr:
        raise DeliveryRejected("the sender address is not a valid email address",
                               code="malformed_address")
    return normalize_address(addr), (clean_header_value(name) or None)
