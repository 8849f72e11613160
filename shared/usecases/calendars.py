"""Management of calendars: validate, claim the deployment-wide slug, store (function-key API)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.domain.calendar_config import CalendarConfig, validate_calendar
from shared.domain.model import ConnectionKind, ConnectionStatus, MeetingLocation
from shared.errors import ConcurrencyConflict, NotFound, ValidationError
from shared.ports import Clock, EntityExists, EntityStore, iso_utc
from shared.repositories import calendars as repo
from shared.repositories import workspaces as ws_repo
from shared.repositories.calendar_cache import calendar_changed
from shared.repositories.connection_reads import get_connection_row, status_of
from shared.repositories.optimistic import optimistic_update, starting_with
from shared.usecases.workspaces import check_id, require_workspace

log = logging.getLogger("bookbridge.calendars")


def raise_problems(problems: list[tuple[str, str]]) -> None:
    """A ``ValidationError`` (422) listing every ``(field, reason)``; nothing when empty."""
    if problems:
        errors = [{"field": f, "reason": r} for f, r in problems]
        raise ValidationError(problems[0][0], problems[0][1], errors=errors)


def _claim_slug(store: EntityStore, record: repo.CalendarRecord) -> None:
    """Write the slug row for ``record``; 422 when another calendar holds the slug."""
    entity = repo.slug_entity(record)

    def write(current: dict[str, Any] | None) -> None:
        if current is None:  # first try, or deleted in between
            store.insert(repo.SLUGS, entity)
            return
        if (current.get("ws"), current.get("calendar")) != (record.workspace, record.calendar):
            raise ValidationError("slug", "is already used by another calendar")
        store.update(repo.SLUGS, entity, current["_etag"])

    optimistic_update(starting_with(None, lambda: repo.get_slug_row(store, record.config.slug)), write,
                      what="the slug row", races=(EntityExists, ConcurrencyConflict, NotFound))


def _release_slug(store: EntityStore, ws: str, calendar: str, slug: str) -> None:
    """Delete the slug row a calendar no longer uses (left in place when it changed meanwhile)."""
    old = repo.get_slug_row(store, slug)
    if old and (old.get("ws"), old.get("calendar")) == (ws, calendar):
        try:
            store.delete(repo.SLUGS, slug, repo.SLUG_ROW, old["_etag"])
        except ConcurrencyConflict:
            log.warning("old slug row of calendar %s/%s changed; left in place", ws, calendar)


MEET_NEEDS_GOOGLE = ("google_meet needs the member's connected Google Calendar: connect google_calendar first "
                     "(POST .../users/{user}/connections/google_calendar/connect-links)")


def _meet_problems(store: EntityStore, ws: str, config: CalendarConfig) -> list[tuple[str, str]]:
    """Rule 28: a member meets on Google Meet only with a connected ``google_calendar`` (one point read each)."""
    return [(f"members[{i}].meeting_location", MEET_NEEDS_GOOGLE) for i, m in enumerate(config.members)
            if m.meeting_location is MeetingLocation.GOOGLE_MEET
            and status_of(get_connection_row(store, ws, m.user, ConnectionKind.GOOGLE_CALENDAR.value))
            is not ConnectionStatus.CONNECTED]


def put_calendar(store: EntityStore, clock: Clock, ws: str, calendar: str, config: CalendarConfig,
                 check_members: Callable[[str, list[str]], None] | None = None) -> tuple[dict[str, Any], bool]:
    """Create or replace a calendar after checking every rule. Returns ``(view, created)``.

    ``check_members(ws, users)``: rule 26, the linked Outlook calendars of the members who meet on Teams are
    checked after the save (best effort; what it finds shows on their connections and in the diagnostics).

    Nothing is written when a rule fails (422 naming the field). Storage: workspace read, one read per
    member (known users + name/e-mail snapshot), calendar read, slug claim, calendar upsert, and the old
    slug's release when the slug changed.
    """
    check_id("workspace", ws)
    check_id("calendar", calendar)
    require_workspace(store, ws)
    profiles: dict[str, dict[str, str]] = {}
    for user in dict.fromkeys(config.users):
        row = ws_repo.get_user(store, ws, user) if user else None
        if row:
            profiles[user] = {"name": row.get("name", ""), "email": row.get("email", "")}
    raise_problems(validate_calendar(config, known_users=set(profiles)) or _meet_problems(store, ws, config))

    existing = repo.get_calendar(store, ws, calendar)
    record = repo.CalendarRecord(ws, calendar, config, profiles, iso_utc(clock.now()))
    try:
        _claim_slug(store, record)
        store.upsert(repo.CALENDARS, repo.calendar_entity(record))
        if existing and existing.config.slug != config.slug:
            _release_slug(store, ws, calendar, existing.config.slug)
    finally:  # intake's cached copies of this process go at once (others within CALENDAR_CACHE_SECONDS)
        calendar_changed(config.slug, existing.config.slug if existing else None)
    log.info("calendar %s/%s saved (%s)", ws, calendar, "updated" if existing else "created")
    teams_users = [m.user for m in config.members if m.meeting_location is MeetingLocation.TEAMS]
    if check_members is not None and teams_users:
        check_members(ws, teams_users)
    return record.to_dict(), existing is None


def get_calendar(store: EntityStore, ws: str, calendar: str) -> repo.CalendarRecord:
    """The calendar, or ``NotFound``."""
    check_id("workspace", ws)
    check_id("calendar", calendar)
    record = repo.get_calendar(store, ws, calendar)
    if record is None:
        raise NotFound("no such calendar in this workspace")
    return record


def find_calendar(store: EntityStore, ws: str, id_or_slug: str) -> repo.CalendarRecord:
    """The calendar whose id is ``id_or_slug``, else the calendar of this workspace with that slug; ``NotFound``
    naming both when neither exists (``make run`` and ``stack.json`` name a calendar by both)."""
    check_id("workspace", ws)
    check_id("calendar", id_or_slug)
    record = repo.get_calendar(store, ws, id_or_slug)
    if record is not None:
        return record
    row = repo.get_slug_row(store, id_or_slug)
    if row and row.get("ws") == ws:
        record = repo.get_calendar(store, ws, str(row.get("calendar", "")))
        if record is not None:
            return record
    raise NotFound(f"no calendar with id or slug {id_or_slug!r} in workspace {ws!r}")
