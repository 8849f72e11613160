"""Graph ``dateTimeTimeZone`` values: parse (Windows names, UTC, the documented IANA names) and format."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Page "dateTimeTimeZone resource type": besides the Windows zone names, ``timeZone`` takes these IANA
#: names ("Additional time zones"; the page's parenthesised spellings are listed as both names). Every other
#: IANA name is answered 400 ``TimeZoneNotSupportedException`` (e.g. Europe/Amsterdam, America/Toronto).
DOCUMENTED_IANA: tuple[str, ...] = (
    "Etc/GMT+12", "Etc/GMT+11", "Pacific/Honolulu", "America/Anchorage", "America/Santa_Isabel",
    "America/Los_Angeles", "America/Phoenix", "America/Chihuahua", "America/Denver", "America/Guatemala",
    "America/Chicago", "America/Mexico_City", "America/Regina", "America/Bogota", "America/New_York",
    "America/Indiana/Indianapolis", "America/Caracas", "America/Asuncion", "America/Halifax", "America/Cuiaba",
    "America/La_Paz", "America/Santiago", "America/St_Johns", "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires", "America/Cayenne", "America/Godthab", "America/Montevideo", "America/Bahia",
    "Etc/GMT+2", "Atlantic/Azores", "Atlantic/Cape_Verde", "Africa/Casablanca", "Etc/GMT", "Europe/London",
    "Atlantic/Reykjavik", "Europe/Berlin", "Europe/Budapest", "Europe/Paris", "Europe/Warsaw", "Africa/Lagos",
    "Africa/Windhoek", "Europe/Bucharest", "Asia/Beirut", "Africa/Cairo", "Asia/Damascus", "Africa/Johannesburg",
    "Europe/Kyiv", "Europe/Kiev", "Europe/Istanbul", "Asia/Jerusalem", "Asia/Amman", "Asia/Baghdad",
    "Europe/Kaliningrad", "Asia/Riyadh", "Africa/Nairobi", "Asia/Tehran", "Asia/Dubai", "Asia/Baku",
    "Europe/Moscow", "Indian/Mauritius", "Asia/Tbilisi", "Asia/Yerevan", "Asia/Kabul", "Asia/Karachi",
    "Asia/Tashkent", "Asia/Kolkata", "Asia/Colombo", "Asia/Kathmandu", "Asia/Almaty", "Asia/Dhaka",
    "Asia/Yekaterinburg", "Asia/Yangon", "Asia/Rangoon", "Asia/Bangkok", "Asia/Novosibirsk", "Asia/Shanghai",
    "Asia/Krasnoyarsk", "Asia/Singapore", "Australia/Perth", "Asia/Taipei", "Asia/Ulaanbaatar", "Asia/Irkutsk",
    "Asia/Tokyo", "Asia/Seoul", "Australia/Adelaide", "Australia/Darwin", "Australia/Brisbane", "Australia/Sydney",
    "Pacific/Port_Moresby", "Australia/Hobart", "Asia/Yakutsk", "Pacific/Guadalcanal", "Asia/Vladivostok",
    "Pacific/Auckland", "Etc/GMT-12", "Pacific/Fiji", "Asia/Magadan", "Pacific/Tongatapu", "Pacific/Apia",
    "Pacific/Kiritimati",
)


def _windows_to_iana() -> dict[str, str]:
    """Every Windows zone name (CLDR windowsZones, as shipped by ``tzlocal``) -> its IANA zone."""
    from tzlocal.windows_tz import win_tz

    return {**win_tz, "UTC": "UTC"}


WINDOWS_TO_IANA: dict[str, str] = _windows_to_iana()
_WINDOWS_LOWER = {k.lower(): v for k, v in WINDOWS_TO_IANA.items()}
_IANA_LOWER = {n.lower(): n for n in DOCUMENTED_IANA}
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


class TimeZoneNotSupported(ValueError):
    """The timeZone name is neither a Windows name, ``UTC`` nor one of Graph's documented IANA names."""


def zone(name: str | None) -> ZoneInfo | timezone:
    """The zone for a Windows name or a documented IANA name (``None``/empty/``UTC``: UTC)."""
    if not name or name.upper() == "UTC":
        return UTC
    iana = _WINDOWS_LOWER.get(name.lower()) or _IANA_LOWER.get(name.lower())
    try:
        if iana is None:
            raise ZoneInfoNotFoundError(name)
        return UTC if iana == "UTC" else ZoneInfo(iana)
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
