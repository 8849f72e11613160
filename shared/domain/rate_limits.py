"""Rate limits of the public routes (rule 29): how a limit is written, its fixed windows, the client address.

Pure: stdlib only. A limit is a setting written ``count/period`` (``10/10m``; units ``s``, ``m``, ``h``,
``d``); ``0`` (or empty) turns it off. Limits count in **fixed windows** aligned to the epoch
(``[k * period, (k + 1) * period)``): one counter row per key, one conditional write per request, and a
``Retry-After`` that is simply the time to the window's end. A client can at most double a limit across
a window boundary, the price of keeping intake at one storage write per limit.

The client address is the one Azure's front end reports: App Service appends the caller's address
(sometimes with ``:port``) as the LAST entry of ``X-Forwarded-For`` and sets ``X-Client-IP``; every
entry before the last is whatever the client wrote, so only the last one is trusted. ``X-Client-IP``
is used when ``X-Forwarded-For`` is absent. The local host (``devhost``) sets both the same way.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

#: The table of the counters (``shared.adapters.rate_limit_store``), which housekeeping also prunes.
COUNTERS_TABLE = "ratelimits"
_LIMIT = re.compile(r"^\s*(\d{1,9})\s*/\s*(\d{0,6})\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Limit:
    """At most ``count`` hits per ``period_seconds`` window; ``name`` is the setting that says so."""

    name: str
    count: int
    period_seconds: int

    def window(self, now: datetime) -> tuple[int, int]:
        """``(index of the window holding now, whole seconds until it ends, at least 1)``."""
        epoch = now.timestamp()
        index = int(epoch // self.period_seconds)
        left = (index + 1) * self.period_seconds - epoch
        return index, max(1, int(left + 0.999))

    def describe(self) -> str:
        """``10 per 600 seconds``."""
        return f"{self.count} per {self.period_seconds} seconds"


def parse_limit(name: str, text: str | None) -> Limit | None:
    """The limit a setting value describes; ``None`` when it is off (``0`` or empty).

    Raises ``ValueError`` for anything else than ``count/period``.
    """
    value = (text or "").strip()
    if value in ("", "0"):
        return None
    match = _LIMIT.match(value)
    if not match:
        raise ValueError(f"{name} must be written count/period such as 10/10m (units s, m, h, d) or 0 for off")
    count, amount, unit = int(match.group(1)), int(match.group(2) or "1"), match.group(3)
    if count == 0:
        return None
    if amount == 0:
        raise ValueError(f"{name}: the period must not be zero")
    return Limit(name, count, amount * _UNITS[unit])


def _address(text: str) -> str | None:
    value = text.strip().strip('"')
    if not value:
        return None
    if value.startswith("["):  # [v6]:port
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_address(headers: Mapping[str, str], trusted_header: str | None = None) -> str | None:
    """The caller's address as Azure's front end reports it (see the module doc); ``None`` when unknown.

    With ``trusted_header`` (setting ``CLIENT_IP_HEADER``: a proxy such as Front Door that is the only way
    to the app sets it), that header's address is used instead.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    if trusted_header:
        return _address(lowered.get(trusted_header.strip().lower()) or "")
    forwarded = lowered.get("x-forwarded-for") or ""
    if forwarded.strip():
        return _address(forwarded.split(",")[-1])
    return _address(lowered.get("x-client-ip") or "")
