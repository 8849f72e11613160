"""Inbound sync (rule 19): Graph's change and lifecycle notifications, the ``inbound`` worker, the renewal timer.

* ``POST /api/notifications/microsoft`` and ``POST /api/notifications/microsoft/lifecycle`` (anonymous: Graph
  carries no key): the validation request (``?validationToken=``) is answered ``200 text/plain`` with the
  token; a notification collection is checked (``clientState`` per subscription) and enqueued, answered 202.
* ``inbound`` (queue): subscribe, apply a change (re-read, rule 19), lifecycle events; ``inbound-poison``: a
  message that failed 5 times is replaced by a delta recovery of the host's window.
* ``inbound_renewal_timer`` (every 30 minutes): renews the subscriptions due for it (renewal index only).
"""
from __future__ import annotations

import azure.functions as func

from shared.http import management_endpoint
from shared.queue_trigger import message_json

bp = func.Blueprint()
_ANON = func.AuthLevel.ANONYMOUS


def _notifications(req: func.HttpRequest, *, lifecycle: bool) -> func.HttpResponse:
    from shared import bootstrap
    from shared.http import check_body_size, json_response, parse_model, read_json
    from shared.schemas.notifications import ChangeNotificationCollectionIn
    from shared.usecases import inbound

    token = req.params.get("validationToken")
    if token is not None:
        return func.HttpResponse(inbound.validation_answer(token), status_code=200, mimetype="text/plain",
                                 headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
    check_body_size(req)
    body = parse_model(ChangeNotificationCollectionIn, read_json(req))
    c = bootstrap.container()
    store, queue = c.request_storage
    done = inbound.accept(store, queue, c.cipher, [n.model_dump(exclude_none=True) for n in body.value],
                          lifecycle=lifecycle)
    return json_response({"enqueued": done.enqueued, "dropped": done.dropped}, 202)


@bp.route(route="notifications/microsoft", methods=["POST"], auth_level=_ANON)
@management_endpoint
def notifications_microsoft(req: func.HttpRequest) -> func.HttpResponse:
    """Graph change notifications on hosts' events (and the validation request)."""
    return _notifications(req, lifecycle=False)


@bp.route(route="notifications/microsoft/lifecycle", methods=["POST"], auth_level=_ANON)
@management_endpoint
def notifications_microsoft_lifecycle(req: func.HttpRequest) -> func.HttpResponse:
    """Graph lifecycle notifications (reauthorizationRequired, subscriptionRemoved, missed)."""
    return _notifications(req, lifecycle=True)


@bp.queue_trigger(arg_name="msg", queue_name="inbound", connection="AzureWebJobsStorage")
def inbound_worker(msg: func.QueueMessage) -> None:
    """One ``inbound`` message (subscribe, change, lifecycle)."""
    from shared import bootstrap
    from shared.usecases.inbound import handle_inbound_message

    body = message_json(msg, "inbound")
    if body is not None:
        handle_inbound_message(bootstrap.container().inbound_deps(), body)


@bp.queue_trigger(arg_name="msg", queue_name="inbound-poison", connection="AzureWebJobsStorage")
def inbound_poison(msg: func.QueueMessage) -> None:
    """An ``inbound`` message that failed 5 times: the host's window is recovered with a delta query instead."""
    from shared import bootstrap
    from shared.usecases.inbound import handle_inbound_poison

    body = message_json(msg, "inbound-poison")
    if body is not None:
        handle_inbound_poison(bootstrap.container().inbound_deps(), body)


@bp.timer_trigger(arg_name="timer", schedule="0 */30 * * * *", run_on_startup=False, use_monitor=True)
def inbound_renewal_timer(timer: func.TimerRequest) -> None:
    """Renew the Graph subscriptions whose renewal time came (only those: no request for the others)."""
    from shared import bootstrap
    from shared.usecases.inbound import renew_due

    renew_due(bootstrap.container().inbound_deps())
