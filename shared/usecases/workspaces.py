"""Management of workspaces and users (function-key API)."""
from __future__ import annotations

import re
from typing import Any

from shared.errors import NotFound, ValidationError
from shared.ports import Clock, EntityStore, iso_utc
from shared.repositories import workspaces as repo

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_id(field: str, value: str | None) -> str:
    """A workspace/user/calendar id from a route: 1-64 letters, digits, ``_ . -`` (never ``|`` or ``/``)."""
    if not value or not _ID.match(value):
        raise ValidationError(field, "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
    return value


def put_workspace(store: EntityStore, clock: Clock, ws: str, name: str) -> tuple[dict[str, Any], bool]:
    """Create or rename a workspace. Returns ``(view, created)``."""
    check_id("workspace", ws)
    row, created = repo.put_workspace(store, ws, name, iso_utc(clock.now()))
    return repo.workspace_view(row), created


def get_workspace(store: EntityStore, ws: str) -> dict[str, Any]:
    """The workspace, or ``NotFound``."""
    check_id("workspace", ws)
    row = repo.get_workspace(store, ws)
    if not row:
        raise NotFound("no such workspace")
    return repo.workspace_view(row)


def require_workspace(store: EntityStore, ws: str) -> None:
    """``NotFound`` unless the workspace exists."""
    get_workspace(store, ws)


def put_user(store: EntityStore, clock: Clock, ws: str, user: str, name: str, email: str,
             tz: str) -> tuple[dict[str, Any], bool]:
    """Create or replace a user of an existing workspace. Returns ``(view, created)``."""
    check_id("user", user)
    require_workspace(store, ws)
    row, created = repo.put_user(store, ws, user, name, email, tz, iso_utc(clock.now()))
    return repo.user_view(row), created


def get_user(store: EntityStore, ws: str, user: str) -> dict[str, Any]:
    """The user, or ``NotFound``."""
    check_id("workspace", ws)
    check_id("user", user)
    row = repo.get_user(store, ws, user)
    if not row:
        raise NotFound("no such user in this workspace")
    return repo.user_view(row)
