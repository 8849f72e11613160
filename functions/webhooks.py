"""Webhooks (function key): ``PUT|GET|DELETE /api/workspaces/{workspace}/webhooks/{webhook}`` and
``GET .../webhooks/{webhook}/deliveries``; the queue functions that fan events out and deliver them; the timer
(every two minutes) that queues the events kept in the outbox while the queue service was down.

Queue functions return normally to acknowledge; a receiver's failure is never an exception (the use case
re-queues a delayed copy); storage trouble raises, the host retries, then ``webhookdeliveries-poison``.
"""
from __future__ import annotations

from typing import Any

import azure.functions as func

from shared.http import management_endpoint
from shared.queue_trigger import message_json

bp = func.Blueprint()


def _deps() -> Any:
    from shared import bootstrap

    return bootstrap.container().webhook_deps()


@bp.route(route="workspaces/{workspace}/webhooks/{webhook}", methods=["PUT", "GET", "DELETE"])
@management_endpoint
def webhooks_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """``PUT|GET|DELETE .../webhooks/{webhook}`` (``{"url", "events", "secret"}``; the secret is write-only)."""
    from shared.http import json_response, parse_model, read_json
    from shared.usecases import webhooks

    ws, hook = req.route_params.get("workspace", ""), req.route_params.get("webhook", "")
    method = (req.method or "").upper()
    if method == "PUT":
        from shared.schemas.webhooks import WebhookIn

        body = parse_model(WebhookIn, read_json(req))
        view, created = webhooks.put_webhook(_deps(), ws, hook, body.url, list(body.events), body.secret)
        return json_response(view, 201 if created else 200)
    if method == "DELETE":
        webhooks.delete_webhook(_deps(), ws, hook)
        return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})
    return json_response(webhooks.get_webhook(_deps(), ws, hook))


@bp.route(route="workspaces/{workspace}/webhooks/{webhook}/deliveries", methods=["GET"])
@management_endpoint
def webhooks_deliveries(req: func.HttpRequest) -> func.HttpResponse:
    """``GET .../webhooks/{webhook}/deliveries``: the newest attempts, newest first."""
    from shared.http import json_response
    from shared.usecases import webhooks

    return json_response(webhooks.list_deliveries(_deps(), req.route_params.get("workspace", ""),
                                                  req.route_params.get("webhook", "")))


@bp.queue_trigger(arg_name="msg", queue_name="webhookevents", connection="AzureWebJobsStorage")
def webhooks_fanout(msg: func.QueueMessage) -> None:
    """One event: a delivery per webhook subscribed to its type."""
    from shared.usecases.webhooks import handle_event_message

    body = message_json(msg, "webhookevents")
    if body is not None:
        handle_event_message(_deps(), body)


@bp.queue_trigger(arg_name="msg", queue_name="webhookdeliveries", connection="AzureWebJobsStorage")
def webhooks_deliver(msg: func.QueueMessage) -> None:
    """One attempt of one delivery (a delivered one is never sent again)."""
    from shared.usecases.webhooks import handle_delivery_message

    body = message_json(msg, "webhookdeliveries")
    if body is not None:
        handle_delivery_message(_deps(), body)


@bp.queue_trigger(arg_name="msg", queue_name="webhookdeliveries-poison", connection="AzureWebJobsStorage")
def webhooks_delivery_poison(msg: func.QueueMessage) -> None:
    """A delivery the worker kept failing on: recorded ``failed``."""
    from shared.usecases.webhooks import handle_delivery_poison

    body = message_json(msg, "webhookdeliveries-poison")
    if body is not None:
        handle_delivery_poison(_deps(), body)


@bp.timer_trigger(arg_name="timer", schedule="30 */2 * * * *", run_on_startup=False, use_monitor=True)
def webhooks_outbox_timer(timer: func.TimerRequest) -> None:
    """Queue the events kept in the outbox while the queue service was down (one partition read when empty)."""
    from shared import bootstrap
    from shared.usecases.webhooks import drain_event_outbox

    c = bootstrap.container()
    drain_event_outbox(c.store, c.queue)
