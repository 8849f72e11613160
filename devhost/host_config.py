"""host.json options and app-setting resolution, with the Functions host's defaults."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_CONNECTION = "AzureWebJobsStorage"
FUNCTION_KEY_SETTING = "DEVHOST_FUNCTION_KEY"
MASTER_KEY_SETTING = "DEVHOST_MASTER_KEY"
_PLACEHOLDER = re.compile(r"%([^%]+)%")
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d+))?)?$")


class ConfigError(ValueError):
    """A binding or host.json value cannot be resolved."""


def parse_timespan(value: Any, *, number_unit: float = 0.001) -> float:
    """Seconds in a .NET TimeSpan string (``[d.]hh:mm[:ss[.fff]]``) or a number (milliseconds)."""
    if isinstance(value, bool):
        raise ConfigError(f"not a time span: {value!r}")
    if isinstance(value, (int, float)):
        return float(value) * number_unit
    match = _TIMESPAN.match(str(value).strip())
    if not match:
        raise ConfigError(f"not a time span: {value!r}")
    days, hours, minutes, seconds, fraction = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)
    return total + (float(f"0.{fraction}") if fraction else 0.0)


@dataclass(frozen=True)
class QueueOptions:
    """``extensions.queues`` of host.json (Storage extension 5.x defaults)."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_polling_interval: float = 2.0
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(cls, host_json: Mapping[str, Any]) -> QueueOptions:
        """Read the options, applying the host's defaults and limits."""
        raw = _section(host_json, "queues")
        batch = int(raw.get("batchSize", 16))
        if not 1 <= batch <= 32:
            raise ConfigError("extensions.queues.batchSize must be between 1 and 32")
        threshold = int(raw.get("newBatchThreshold", batch // 2))
        polling = parse_timespan(raw.get("maxPollingInterval", "00:00:02"))
        encoding = str(raw.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise ConfigError("extensions.queues.messageEncoding must be 'base64' or 'none'")
        max_dequeue = int(raw.get("maxDequeueCount", 5))
        if max_dequeue < 1:
            raise ConfigError("extensions.queues.maxDequeueCount must be at least 1")
        return cls(
            batch_size=batch,
            new_batch_threshold=max(0, threshold),
            max_polling_interval=max(0.1, polling),
            visibility_timeout=max(0.0, parse_timespan(raw.get("visibilityTimeout", "00:00:00"))),
            max_dequeue_count=max_dequeue,
            message_encoding=encoding,
        )


def _section(host_json: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    extensions = host_json.get("extensions") or {}
    section = extensions.get(name) if isinstance(extensions, Mapping) else None
    return section if isinstance(section, Mapping) else {}


def route_prefix(host_json: Mapping[str, Any]) -> str:
    """``extensions.http.routePrefix`` without slashes (default ``api``; may be empty)."""
    value = _section(host_json, "http").get("routePrefix", "api")
    return str(value if value is not None else "api").strip("/")


def resolve_placeholders(text: str, settings: Mapping[str, str]) -> str:
    """Replace every ``%NAME%`` with the app setting NAME, as the host does for binding values."""

    def _one(match: re.Match[str]) -> str:
        name = match.group(1)
        value = settings.get(name)
        if value is None or value == "":
            raise ConfigError(f"'%{name}%' does not resolve to a value")
        return value

    return _PLACEHOLDER.sub(_one, text)


def resolve_connection(name: str | None, settings: Mapping[str, str]) -> str:
    """The connection string named by a binding's ``connection`` (X, then AzureWebJobsX)."""
    setting = (name or "").strip() or DEFAULT_CONNECTION
    for candidate in (setting, f"AzureWebJobs{setting}"):
        value = settings.get(candidate)
        if value:
            return value
    raise ConfigError(f"storage connection setting '{setting}' is missing or empty")


def is_disabled(function_name: str, settings: Mapping[str, str]) -> bool:
    """``AzureWebJobs.<name>.Disabled`` = true disables a function, as in the real host."""
    value = settings.get(f"AzureWebJobs.{function_name}.Disabled", "")
    return value.strip().lower() in ("true", "1")


@dataclass(frozen=True)
class HostKeys:
    """The function key and master key; when neither is configured nothing is enforced."""

    function_key: str | None = None
    master_key: str | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> HostKeys:
        """Read ``DEVHOST_FUNCTION_KEY`` and ``DEVHOST_MASTER_KEY``."""
        return cls(settings.get(FUNCTION_KEY_SETTING) or None, settings.get(MASTER_KEY_SETTING) or None)

    @property
    def enforced(self) -> bool:
        """True when at least one key is configured."""
        return bool(self.function_key or self.master_key)
