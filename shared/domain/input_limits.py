"""Bounds on what the public routes accept (issue 17, rule 29). Pure: stdlib only.

* **Dates.** Public dates and instants lie in ``[MIN_DATE, MAX_DATE]``: far enough either way for any
  real booking, and far from ``datetime``'s own edges (years 1 and 9999), where converting between
  time zones overflows.
* **Text.** Names refuse every control character (tab and line breaks included), line/paragraph
  separators and the bidi embedding/override/isolate/mark characters; notes allow tab, CR and LF
  (line breaks are kept) and refuse the rest.
"""
from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime

MIN_DATE = date(2000, 1, 1)
MAX_DATE = date(2099, 12, 31)
MIN_INSTANT = datetime(MIN_DATE.year, 1, 2, tzinfo=UTC)
MAX_INSTANT = datetime(MAX_DATE.year, 12, 30, tzinfo=UTC)
DATE_RANGE_REASON = f"must lie between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}"

# LRM, RLM, ALM, LRE/RLE/PDF/LRO/RLO, LRI/RLI/FSI/PDI
BIDI_CONTROLS = frozenset("\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
NOTE_WHITESPACE = frozenset("\t\r\n")


def date_in_range(value: date) -> bool:
    """True for a date public routes accept."""
    return MIN_DATE <= value <= MAX_DATE


def year_in_range(value: datetime) -> bool:
    """True for a date-time (any offset) whose wall date public routes accept (checked before converting)."""
    return MIN_DATE.year <= value.year <= MAX_DATE.year and MIN_DATE <= value.date() <= MAX_DATE


def _refused(ch: str, allowed: frozenset[str]) -> bool:
    if ch in allowed:
        return False
    return ch in BIDI_CONTROLS or unicodedata.category(ch) in {"Cc", "Zl", "Zp"}


def name_problem(value: str) -> str | None:
    """Why ``value`` cannot be a name, or ``None``."""
    if any(_refused(ch, frozenset()) for ch in value):
        return "must not contain control, line-break or bidi-override characters"
    return None


def notes_problem(value: str) -> str | None:
    """Why ``value`` cannot be notes (tab and line breaks are fine), or ``None``."""
    if any(_refused(ch, NOTE_WHITESPACE) for ch in value):
        return "must not contain control or bidi-override characters (tab and line breaks are fine)"
    return None


def one_line(value: str) -> str:
    """``value`` with every character a name may not hold (control, line break, bidi) as a space, runs of
    whitespace collapsed: what is sent to Graph as a subject or display name, whatever was stored."""
    cleaned = "".join(" " if _refused(ch, frozenset()) else ch for ch in value)
    return " ".join(cleaned.split())
