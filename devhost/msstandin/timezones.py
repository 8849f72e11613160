"""Graph ``dateTimeTimeZone`` values: parse (IANA or Windows names) and format, like Outlook."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The Windows zone names Outlook uses most, mapped to IANA (CLDR windowsZones, territory 001).
WINDOWS_TO_IANA: dict[str, str] = {
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "Romance Standard Time": "Europe/Paris",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev",
    "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow",
    "Turkey Standard Time": "Europe/Istanbul",
    "Israel Standard Time": "Asia/Jerusalem",
    "South Africa Standard Time": "Africa/Johannesburg",
    "Arabian Standard Time": "Asia/Dubai",
    "India Standard Time": "Asia/Kolkata",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "New Zealand Standard Time": "Pacific/Auckland",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix",
    "Pacific Standard Time": "America/Los_Angeles",
    "Alaskan Standard Time": "America/Anchorage",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Atlantic Standard Time": "America/Halifax",
    "E. South America Standard Time": "America/Sao_Paulo",
    "SA Pacific Standard Time": "America/Bogota",
    "Central Standard Time (Mexico)": "America/Mexico_City",
}
_WINDOWS_LOWER = {k.lower(): v for k, v in WINDOWS_TO_IANA.items()}
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


class TimeZoneNotSupported(ValueError):
    """The timeZone name is neither a known Windows name nor an IANA name."""


def zone(name: str | None) -> ZoneInfo | timezone:
    """The zone for a Windows or IANA name (``None``/empty: UTC)."""
    if not name or name.upper() in ("UTC", "ETC/UTC", "Z"):
        return UTC
    iana = _WINDOWS_LOWER.get(name.lower(), name)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeZoneNotSupported(
            f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{name}'."
        ) from exc


def parse_iso(value: str) -> datetime:
    """Parse ISO-8601 with up to 7 fractional digits (Graph style); naive results stay naive."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(lambda m: m.group(1), text, count=1)
    return datetime.fromisoformat(text)


def parse_dttz(value: object) -> datetime:
    """A ``dateTimeTimeZone`` dict -> aware UTC datetime. Raises ValueError / TimeZoneNotSupported."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise ValueError("dateTimeTimeZone must be an object with a dateTime string")
    tz = zone(value.get("timeZone"))
    try:
        dt = parse_iso(value["dateTime"])
    except ValueError as exc:
        raise ValueError(f"Cannot convert the literal '{value['dateTime']}' to the expected type.") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(UTC)


def parse_dto(value: str) -> datetime:
    """An ``Edm.DateTimeOffset`` string -> aware UTC datetime (naive strings are taken as UTC)."""
    dt = parse_iso(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_dttz(dt: datetime, tz_name: str | None = None) -> dict[str, str]:
    """``{"dateTime": "2024-05-01T09:00:00.0000000", "timeZone": tz_name or "UTC"}``."""
    name = tz_name or "UTC"
    local = dt.astimezone(zone(name))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S") + f".{local.microsecond:06d}0", "timeZone": name}


def format_dto(dt: datetime) -> str:
    """UTC ``Edm.DateTimeOffset`` like Graph writes it: ``2024-05-01T09:00:00Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{dt.microsecond:06d}".rstrip("0") if dt.microsecond else "") + "Z"


def prefer_timezone(prefer_header: str | None) -> str | None:
    """The zone of a ``Prefer: outlook.timezone="..."`` header, if any (validated)."""
    if not prefer_header:
        return None
    m = re.search(r'outlook\.timezone\s*=\s*"([^"]+)"', prefer_header, re.IGNORECASE)
    if not m:
        return None
    zone(m.group(1))
    return m.group(1)


def now_utc() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)
