"""Values as a stored row holds them, read leniently (pure): a missing or malformed value is ``None`` / the
default, never an exception, so the rules can judge any row."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def stored_int(value: Any, default: int) -> int:
    """``value`` when it is an int (not a bool), else ``default``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def stored_instant(value: Any) -> datetime | None:
    """An ISO-8601 instant with an offset (or ``Z``) in UTC; ``None`` when missing, malformed or naive."""
    try:
        parsed = datetime.fromisoformat(str(value or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None
