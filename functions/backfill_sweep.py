"""The backfill sweep (rule 4): a timer, the ``backfill`` queue and a management read-out.

* ``backfill_sweep_timer`` (``%BACKFILL_SCHEDULE%``, default every 5 minutes, not on startup): hosts that
  reconnected Teams since the checkpoint, then the next slice of hosts with candidates; puts
  ``meetings/create`` messages for their upcoming bookings stored ``awaiting_connection``.
* ``backfill_host`` (queue ``backfill``, ``{"workspace", "host", "reason": "reconnected"}`` from the OAuth
  callback): the same for one host at once. The timer remains the guarantee.
* ``GET /api/workspaces/{workspace}/users/{user}/backfill`` (function key): the host's last-sweep record
  and how many upcoming bookings await a link now.

Heavy modules are imported inside the handlers (``import function_app`` stays light).
"""
from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

from shared.http import management_endpoint
from shared.queue_trigger import message_json

bp = func.Blueprint()
log = logging.getLogger("bookbridge.backfill")


def _deps() -> Any:
    from shared import bootstrap

    return bootstrap.container().backfill_deps()


@bp.timer_trigger(arg_name="timer", schedule="%BACKFILL_SCHEDULE%", run_on_startup=False, use_monitor=True)
def backfill_sweep_timer(timer: func.TimerRequest) -> None:
    """Backfill Teams links for hosts whose connection is back (bounded run; resumes from its checkpoint)."""
    from shared.usecases.backfill import run_sweep

    if getattr(timer, "past_due", False):
        log.info("backfill sweep: timer is past due")
    run_sweep(_deps(), trigger="timer")


@bp.queue_trigger(arg_name="msg", queue_name="backfill", connection="AzureWebJobsStorage")
def backfill_host(msg: func.QueueMessage) -> None:
    """Backfill one host right after its Teams connection became ``connected`` again."""
    from shared.usecases.backfill import run_for_host

    body = message_json(msg, "backfill")
    if body is not None:
        run_for_host(_deps(), body)


@bp.route(route="workspaces/{workspace}/users/{user}/backfill", methods=["GET"])
@management_endpoint
def management_user_backfill(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/workspaces/{workspace}/users/{user}/backfill``: last sweep of this host, candidates now."""
    from shared import bootstrap
    from shared.http import json_response
    from shared.usecases.backfill import backfill_status

    c = bootstrap.container()
    return json_response(backfill_status(c.store, c.clock, req.route_params.get("workspace", ""),
                                         req.route_params.get("user", "")))
