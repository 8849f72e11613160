"""Rows of the ``calendars`` (PK ``{ws}``, RK ``{calendar}``) and ``calendarslugs`` (PK ``{slug}``,
RK ``slug``) tables, mapped to :class:`CalendarRecord`.

The calendar row keeps the settings as columns plus ``weekly_hours_json``, ``members_json`` and
``reminder_offsets_json``. The slug row carries ``ws``, ``calendar`` and a full copy of the record
(``calendar_json``) so the public API resolves a slug and gets every setting with ONE point read.
JSON longer than one Table property (32K characters) is split into ``*_json_0``, ``*_json_1``, ...
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.domain.calendar_config import CalendarConfig
from shared.ports import Entity, EntityStore

CALENDARS = "calendars"
SLUGS = "calendarslugs"
SLUG_ROW = "slug"
_CHUNK = 30_000


@dataclass(frozen=True)
class CalendarRecord:
    """A stored calendar: its workspace and id, the settings, and each member's name/e-mail snapshot."""

    workspace: str
    calendar: str
    config: CalendarConfig
    profiles: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    updated_at: str = ""
    etag: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The management API's view (and the JSON kept on the slug row)."""
        return {
            "workspace": self.workspace,
            "calendar": self.calendar,
            **self.config.to_dict(),
            "updated_at": self.updated_at,
        }

    def public(self) -> dict[str, Any]:
        """Fields an invitee may see."""
        c = self.config
        return {
            "slug": c.slug,
            "name": c.name,
            "type": c.type.value,
            "timezone": c.timezone,
            "duration_minutes": c.duration_minutes,
            "slot_interval_minutes": c.slot_interval_minutes,
            "minimum_notice_minutes": c.minimum_notice_minutes,
            "max_days_ahead": c.max_days_ahead,
            "hosts": [{"user": m.user, "name": self.profile(m.user).get("name", m.user)} for m in c.members],
        }

    def profile(self, user: str) -> Mapping[str, str]:
        """``{"name", "email"}`` of a member as of the last save (empty when unknown)."""
        return self.profiles.get(user, {})


def put_json(entity: Entity, name: str, value: Any) -> None:
    """Store ``value`` as ``{name}_json``, split into numbered parts when too long for one property."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    if len(text) <= _CHUNK:
        entity[f"{name}_json"] = text
        return
    parts = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)]
    entity[f"{name}_json_parts"] = len(parts)
    for i, part in enumerate(parts):
        entity[f"{name}_json_{i}"] = part


def get_json(entity: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """Inverse of :func:`put_json`."""
    if f"{name}_json" in entity:
        return json.loads(entity[f"{name}_json"])
    parts = entity.get(f"{name}_json_parts")
    if not parts:
        return default
    return json.loads("".join(entity[f"{name}_json_{i}"] for i in range(int(parts))))


def _record_json(record: CalendarRecord) -> dict[str, Any]:
    return {
        "workspace": record.workspace,
        "calendar": record.calendar,
        "config": record.config.to_dict(),
        "profiles": {u: dict(p) for u, p in record.profiles.items()},
        "updated_at": record.updated_at,
    }


def _record_from_json(data: Mapping[str, Any], etag: str | None) -> CalendarRecord:
    return CalendarRecord(
        workspace=data["workspace"],
        calendar=data["calendar"],
        config=CalendarConfig.from_dict(data["config"]),
        profiles={u: dict(p) for u, p in (data.get("profiles") or {}).items()},
        updated_at=data.get("updated_at", ""),
        etag=etag,
    )


def calendar_entity(record: CalendarRecord) -> Entity:
    """The ``calendars`` row of a record."""
    c = record.config
    entity: Entity = {
        "PartitionKey": record.workspace,
        "RowKey": record.calendar,
        "slug": c.slug,
        "name": c.name,
        "type": c.type.value,
        "timezone": c.timezone,
        "duration_minutes": c.duration_minutes,
        "slot_interval_minutes": c.slot_interval_minutes,
        "buffer_before_minutes": c.buffer_before_minutes,
        "buffer_after_minutes": c.buffer_after_minutes,
        "minimum_notice_minutes": c.minimum_notice_minutes,
        "max_days_ahead": c.max_days_ahead,
        "updated_at": record.updated_at,
    }
    if c.bookings_per_hour is not None:
        entity["bookings_per_hour"] = c.bookings_per_hour
    entity["external_delete"] = c.external_delete
    data = c.to_dict()
    put_json(entity, "weekly_hours", data["weekly_hours"])
    put_json(entity, "members", data["members"])
    put_json(entity, "reminder_offsets", data["reminder_offsets_minutes"])
    put_json(entity, "meeting_options", data["meeting_options"])
    put_json(entity, "profiles", {u: dict(p) for u, p in record.profiles.items()})
    return entity


def record_from_calendar_entity(entity: Mapping[str, Any]) -> CalendarRecord:
    """Inverse of :func:`calendar_entity`."""
    config = CalendarConfig.from_dict({
        "slug": entity["slug"],
        "name": entity["name"],
        "type": entity["type"],
        "timezone": entity["timezone"],
        "duration_minutes": entity["duration_minutes"],
        "slot_interval_minutes": entity["slot_interval_minutes"],
        "buffer_before_minutes": entity.get("buffer_before_minutes", 0),
        "buffer_after_minutes": entity.get("buffer_after_minutes", 0),
        "minimum_notice_minutes": entity.get("minimum_notice_minutes", 0),
        "max_days_ahead": entity.get("max_days_ahead", 60),
        "bookings_per_hour": entity.get("bookings_per_hour"),
        "external_delete": entity.get("external_delete"),
        "weekly_hours": get_json(entity, "weekly_hours", {}),
        "members": get_json(entity, "members", []),
        "reminder_offsets_minutes": get_json(entity, "reminder_offsets", []),
        "meeting_options": get_json(entity, "meeting_options", {}),
    })
    return CalendarRecord(
        workspace=entity["PartitionKey"],
        calendar=entity["RowKey"],
        config=config,
        profiles=get_json(entity, "profiles", {}) or {},
        updated_at=entity.get("updated_at", ""),
        etag=entity.get("_etag"),
    )


def slug_entity(record: CalendarRecord) -> Entity:
    """The ``calendarslugs`` row of a record (carries the whole record)."""
    entity: Entity = {
        "PartitionKey": record.config.slug,
        "RowKey": SLUG_ROW,
        "ws": record.workspace,
        "calendar": record.calendar,
        "updated_at": record.updated_at,
    }
    put_json(entity, "calendar", _record_json(record))
    return entity


def record_from_slug_entity(entity: Mapping[str, Any]) -> CalendarRecord | None:
    """The record copied on a slug row (``None`` for a slug row without a copy)."""
    data = get_json(entity, "calendar")
    if not data:
        return None
    return _record_from_json(data, entity.get("_etag"))


def get_calendar(store: EntityStore, ws: str, calendar: str) -> CalendarRecord | None:
    """Point read of the calendar row."""
    entity = store.get(CALENDARS, ws, calendar)
    return record_from_calendar_entity(entity) if entity else None


def get_slug_row(store: EntityStore, slug: str) -> Entity | None:
    """Point read of the slug row."""
    return store.get(SLUGS, slug, SLUG_ROW)


def get_by_slug(store: EntityStore, slug: str) -> CalendarRecord | None:
    """The calendar behind a public slug with ONE point read (the slug row's copy)."""
    entity = get_slug_row(store, slug)
    return record_from_slug_entity(entity) if entity else None
