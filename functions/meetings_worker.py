"""Queue functions of the meeting worker: ``meetings`` (create/reschedule/cancel) and ``meetings-poison``.

Returning normally acknowledges the message (the host deletes it); raising lets the host retry it after
``visibilityTimeout`` until ``maxDequeueCount``, then it moves to ``meetings-poison``. Throttling is not
an exception here: the use case re-queues a delayed copy and returns.
"""
from __future__ import annotations

import functools
import inspect
import logging
from pathlib import Path
from typing import Any

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger("bookbridge.meetings")


def build_meeting_deps(container: Any) -> Any:
    """``MeetingDeps`` from a ``shared.bootstrap.Container``.

    Tests (and the lead, later from ``bootstrap``) may put ready ports on the container as
    ``meeting_ports`` = ``{"access_token", "connection", "mark_teams_unavailable"}`` (and optionally
    ``"graph"``); otherwise they come from ``shared.usecases.connections`` and the container's Graph client.
    """
    from shared.usecases.meetings import MeetingDeps

    ports = dict(container.__dict__.get("meeting_ports") or {})
    if "graph" not in ports:
        from shared.adapters.graph_events import GraphEvents

        ports["graph"] = GraphEvents(container.graph)
    if not {"access_token", "connection", "mark_teams_unavailable"} <= ports.keys():
        for name, port in _connection_ports(container).items():
            ports.setdefault(name, port)
    return MeetingDeps(store=container.store, queue=container.queue, clock=container.clock, **ports)


def _connection_ports(container: Any) -> dict[str, Any]:
    """The three connection ports over ``shared.usecases.connections``."""
    from shared.usecases import connections

    cdeps = connections.ConnectionDeps.from_container(container)
    forced = "force_refresh" in inspect.signature(connections.get_access_token).parameters

    def access_token(workspace: str, user: str, kind: str, *, force_refresh: bool = False) -> str:
        if force_refresh and forced:
            return connections.get_access_token(cdeps, workspace, user, kind, force_refresh=True)
        # Without a forced refresh in the connections use case, a second silent acquisition still
        # returns a new token once MSAL's cached one is no longer valid.
        return connections.get_access_token(cdeps, workspace, user, kind)

    def connection(workspace: str, user: str, kind: str) -> dict[str, Any] | None:
        return connections.get_connection(container.store, workspace, user, kind)

    def mark_teams_unavailable(workspace: str, user: str, reason: str) -> None:
        connections.mark_teams_unavailable(cdeps, workspace, user, reason)

    return {"access_token": access_token, "connection": connection,
            "mark_teams_unavailable": mark_teams_unavailable}


@functools.lru_cache(maxsize=1)
def max_dequeue_count() -> int:
    """``extensions.queues.maxDequeueCount`` of the app's host.json (the host's default, 5, otherwise)."""
    import json

    try:
        data = json.loads((Path(__file__).resolve().parents[1] / "host.json").read_text(encoding="utf-8"))
        return max(1, int(data["extensions"]["queues"]["maxDequeueCount"]))
    except (OSError, ValueError, KeyError, TypeError):
        return 5


def _deps() -> Any:
    from shared import bootstrap

    return build_meeting_deps(bootstrap.container())


@bp.queue_trigger(arg_name="msg", queue_name="meetings", connection="AzureWebJobsStorage")
def meetings_worker(msg: func.QueueMessage) -> None:
    """Create, move or cancel a booking's Teams meeting / Outlook event (exactly once)."""
    from shared.usecases.meetings import handle_meeting_message

    try:
        body = msg.get_json()
    except ValueError:
        log.error("meetings: message %s is not JSON; dropped", msg.id)
        return
    handle_meeting_message(_deps(), body, dequeue_count=int(getattr(msg, "dequeue_count", None) or 1))


@bp.queue_trigger(arg_name="msg", queue_name="meetings-poison", connection="AzureWebJobsStorage")
def meetings_poison(msg: func.QueueMessage) -> None:
    """A meeting message that kept failing: mark the booking ``failed`` with the reason and tell people."""
    from shared.usecases.meetings import handle_poison_message

    try:
        body = msg.get_json()
    except ValueError:
        log.error("meetings-poison: message %s is not JSON; dropped", msg.id)
        return
    handle_poison_message(_deps(), body, max_dequeue_count=max_dequeue_count())
