"""Load local settings the way the Functions host (Core Tools) does.

``local.settings.json`` (or, when absent, ``local.settings.sample.json``) holds ``Values`` (the
app settings, handed to the worker as environment variables) and an optional ``Host`` section
(``LocalHttpPort``, ``CORS``, ``CORSCredentials``). Real environment variables win over the
file. ``host.json`` holds the host configuration (route prefix, queue options, ...).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCAL_SETTINGS = "local.settings.json"
SAMPLE_SETTINGS = "local.settings.sample.json"
HOST_JSON = "host.json"


class SettingsError(ValueError):
    """A settings file exists but cannot be used."""


@dataclass(frozen=True)
class LocalSettings:
    """What a ``local.settings.json`` file says; ``source`` is the file read (None: no file)."""

    values: dict[str, str] = field(default_factory=dict)
    local_http_port: int | None = None
    cors: tuple[str, ...] = ()
    cors_credentials: bool = False
    source: Path | None = None


def repo_root() -> Path:
    """The repository root: the folder that holds the ``devhost`` package."""
    return Path(__file__).resolve().parent.parent


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path.name} is not valid JSON: line {exc.lineno} column {exc.colno}") from exc


def _as_setting_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (str, int, float)):
        return str(value)
    raise SettingsError(f"setting {name!r} must be a string, number or boolean")


def parse_local_settings(data: Mapping[str, Any], source: Path | None = None) -> LocalSettings:
    """Interpret the JSON document of a ``local.settings.json`` file."""
    if not isinstance(data, Mapping):
        raise SettingsError("local settings must be a JSON object")
    if data.get("IsEncrypted"):
        raise SettingsError("encrypted local settings are not supported: set IsEncrypted to false")
    raw_values = data.get("Values") or {}
    if not isinstance(raw_values, Mapping):
        raise SettingsError("'Values' must be a JSON object")
    values = {str(k): _as_setting_value(str(k), v) for k, v in raw_values.items()}
    host = data.get("Host") or {}
    if not isinstance(host, Mapping):
        raise SettingsError("'Host' must be a JSON object")
    port = host.get("LocalHttpPort")
    cors_raw = host.get("CORS") or ""
    if isinstance(cors_raw, str):
        cors = tuple(o.strip() for o in cors_raw.split(",") if o.strip())
    else:
        cors = tuple(str(o).strip() for o in cors_raw if str(o).strip())
    return LocalSettings(
        values=values,
        local_http_port=int(port) if port not in (None, "") else None,
        cors=cors,
        cors_credentials=bool(host.get("CORSCredentials", False)),
        source=source,
    )


def load_local_settings(root: Path | str | None = None) -> LocalSettings:
    """Read ``local.settings.json`` in ``root``, falling back to ``local.settings.sample.json``."""
    base = Path(root) if root is not None else repo_root()
    for name in (LOCAL_SETTINGS, SAMPLE_SETTINGS):
        path = base / name
        if path.is_file():
            return parse_local_settings(_read_json(path), source=path)
    return LocalSettings()


def effective_settings(
    local: LocalSettings, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The app settings the functions see: the file's ``Values`` overridden by the environment."""
    env = os.environ if environ is None else environ
    merged = dict(local.values)
    merged.update(env)
    return merged


def apply_to_environ(values: Mapping[str, str], environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Export file values into the environment without overriding what is already set.

    Returns the names that were added (so a caller can remove them again).
    """
    env = os.environ if environ is None else environ
    added = [name for name in values if name not in env]
    for name in added:
        env[name] = values[name]
    return added


def load_host_json(root: Path | str | None = None) -> dict[str, Any]:
    """Read ``host.json`` in ``root`` (an empty configuration when the file is missing)."""
    base = Path(root) if root is not None else repo_root()
    path = base / HOST_JSON
    if not path.is_file():
        return {}
    data = _read_json(path)
    if not isinstance(data, dict):
        raise SettingsError("host.json must be a JSON object")
    return data
