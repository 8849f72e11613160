"""The management API of webhooks: put, read, delete one, and list its recent delivery attempts."""
from __future__ import annotations

import secrets
from typing import Any

from shared.domain import webhooks as rules
from shared.errors import Conflict, NotFound, ValidationError
from shared.ports import iso_utc
from shared.repositories import webhooks as repo
from shared.repositories.workspaces import get_workspace
from shared.usecases.webhooks.deps import MAX_LISTED_ATTEMPTS, WebhookDeps
from shared.usecases.workspaces import check_id


def _existing(deps: WebhookDeps, ws: str, webhook: str) -> repo.Webhook:
    check_id("workspace", ws)
    check_id("webhook", webhook)
    hook = repo.get_webhook(deps.store, ws, webhook)
    if hook is None:
        raise NotFound("no such webhook in this workspace")
    return hook


def check_subscription(url: Any, events: Any, secret: Any, *, local_development: bool, creating: bool) -> None:
    """422 naming the field: the URL (https unless local development), the event types, the secret."""
    problem = rules.url_problem(url, local_development=local_development)
    if problem:
        raise ValidationError("url", problem)
    problem = rules.events_problem(events)
    if problem:
        raise ValidationError("events", problem)
    if secret is None and creating:
        raise ValidationError("secret", "is required when the webhook is created")
    if secret is not None and not (rules.MIN_SECRET_LENGTH <= len(secret) <= rules.MAX_SECRET_LENGTH):
        raise ValidationError("secret", f"must be {rules.MIN_SECRET_LENGTH}-{rules.MAX_SECRET_LENGTH} characters")


def put_webhook(deps: WebhookDeps, ws: str, webhook: str, url: str, events: list[str],
                secret: str | None) -> tuple[dict[str, Any], bool]:
    """Create (``secret`` required) or replace a webhook (without ``secret``: the stored one is kept).
    Returns ``(view, created)``; the view never holds the secret."""
    check_id("workspace", ws)
    check_id("webhook", webhook)
    current = repo.get_webhook(deps.store, ws, webhook)
    check_subscription(url, events, secret, local_development=deps.local_development, creating=current is None)
    if get_workspace(deps.store, ws) is None:
        raise NotFound("no such workspace")
    if current is None and repo.count_webhooks(deps.store, ws) >= rules.MAX_WEBHOOKS_PER_WORKSPACE:
        raise Conflict(f"a workspace has at most {rules.MAX_WEBHOOKS_PER_WORKSPACE} webhooks")
    now = iso_utc(deps.clock.now())
    hook = repo.Webhook(
        workspace=ws, id=webhook, url=url, events=tuple(dict.fromkeys(events)),
        secret=deps.cipher.encrypt(secret) if secret is not None else (current.secret if current else ""),
        instance=current.instance if current else secrets.token_hex(8),
        created_at=current.created_at if current else now, updated_at=now)
    deps.store.upsert(repo.WEBHOOKS, repo.webhook_entity(hook))
    return hook.view(), current is None


def get_webhook(deps: WebhookDeps, ws: str, webhook: str) -> dict[str, Any]:
    """The webhook (never its secret)."""
    return _existing(deps, ws, webhook).view()


def delete_webhook(deps: WebhookDeps, ws: str, webhook: str) -> None:
    """Remove the webhook: nothing more is delivered to it (404 when there is none)."""
    _existing(deps, ws, webhook)
    deps.store.delete(repo.WEBHOOKS, ws, webhook)


def list_deliveries(deps: WebhookDeps, ws: str, webhook: str) -> dict[str, Any]:
    """The webhook's newest delivery attempts (at most ``MAX_LISTED_ATTEMPTS``), newest first."""
    hook = _existing(deps, ws, webhook)
    rows = repo.recent_attempts(deps.store, hook, MAX_LISTED_ATTEMPTS)
    return {"workspace": ws, "webhook": webhook, "deliveries": [repo.attempt_view(r) for r in rows]}
