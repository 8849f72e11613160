"""Graph ``dateTimeTimeZone`` values for a calendar's IANA zone (SPEC rule 22).

Graph documents ``timeZone`` as a Windows time zone name plus a short list of IANA names
("dateTimeTimeZone resource type"); anything else is refused with 400 ``TimeZoneNotSupportedException``
(``Europe/Amsterdam``, ``Europe/Madrid``, ``America/Toronto`` are not on that list). So bookbridge sends
the Windows name of the calendar's zone, taken from the CLDR ``windowsZones`` mapping that the maintained
``tzlocal`` package ships (``tzlocal.windows_tz.tz_win``: every IANA zone of every territory), and ``UTC``
(with the wall-clock time in UTC) for a zone that has no Windows name. No hand-typed table.
"""
from __future__ import annotations

from datetime import UTC, datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC_NAME = "UTC"


@lru_cache(maxsize=1)
def _iana_to_windows() -> dict[str, str]:
    from tzlocal.windows_tz import tz_win  # pure data generated from CLDR windowsZones.xml

    return dict(tz_win)


def windows_zone_name(iana: str | None) -> str | None:
    """The Windows zone name CLDR maps ``iana`` to, or ``None`` when it has none."""
    if not iana:
        return None
    return _iana_to_windows().get(iana.strip())


def graph_zone(iana: str | None) -> tuple[str, ZoneInfo | timezone]:
    """``(name to send as timeZone, zone the wall-clock time is written in)`` for a calendar zone.

    A zone CLDR maps is sent by its Windows name with the wall-clock time of the IANA zone (the two
    follow the same rules); an unknown or unmapped zone is sent as ``UTC`` with the UTC wall-clock time.
    """
    name = windows_zone_name(iana)
    if name is None or name == UTC_NAME:
        return UTC_NAME, UTC
    try:
        return name, ZoneInfo(str(iana).strip())
    except (ZoneInfoNotFoundError, ValueError):
        return UTC_NAME, UTC


def date_time_time_zone(instant: datetime, iana: str | None) -> dict[str, str]:
    """A Graph ``dateTimeTimeZone`` for the aware ``instant`` in the calendar zone ``iana``."""
    name, zone = graph_zone(iana)
    local = instant.astimezone(zone)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": name}
