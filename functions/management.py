"""Management API (function key): workspaces, users, calendars and a calendar's diagnostics.

``PUT`` answers 201 when it created the resource and 200 when it replaced it; bad input is a 422
naming the field and the reason, and nothing is stored.
"""
from __future__ import annotations

import azure.functions as func

from shared.http import management_endpoint

bp = func.Blueprint()


def _is_put(req: func.HttpRequest) -> bool:
    return (req.method or "").upper() == "PUT"


@bp.route(route="workspaces/{workspace}", methods=["PUT", "GET"])
@management_endpoint
def management_workspace(req: func.HttpRequest) -> func.HttpResponse:
    """``PUT|GET /api/workspaces/{workspace}`` (``{"name"}``)."""
    from shared import bootstrap
    from shared.http import json_response, parse_model, read_json
    from shared.usecases import workspaces

    c = bootstrap.container()
    ws = req.route_params.get("workspace", "")
    if _is_put(req):
        from shared.schemas.calendars import WorkspaceIn

        workspaces.check_id("workspace", ws)
        body = parse_model(WorkspaceIn, read_json(req))
        view, created = workspaces.put_workspace(c.store, c.clock, ws, body.name)
        return json_response(view, 201 if created else 200)
    return json_response(workspaces.get_workspace(c.store, ws))


@bp.route(route="workspaces/{workspace}/users/{user}", methods=["PUT", "GET"])
@management_endpoint
def management_user(req: func.HttpRequest) -> func.HttpResponse:
    """``PUT|GET /api/workspaces/{workspace}/users/{user}`` (``{"name", "email", "timezone"}``)."""
    from shared import bootstrap
    from shared.http import json_response, parse_model, read_json
    from shared.usecases import workspaces

    c = bootstrap.container()
    ws, user = req.route_params.get("workspace", ""), req.route_params.get("user", "")
    if _is_put(req):
        from shared.schemas.calendars import UserIn

        workspaces.check_id("workspace", ws)
        workspaces.check_id("user", user)
        body = parse_model(UserIn, read_json(req))
        view, created = workspaces.put_user(c.store, c.clock, ws, user, body.name, body.email, body.timezone)
        return json_response(view, 201 if created else 200)
    return json_response(workspaces.get_user(c.store, ws, user))


@bp.route(route="workspaces/{workspace}/calendars/{calendar}", methods=["PUT", "GET"])
@management_endpoint
def management_calendar(req: func.HttpRequest) -> func.HttpResponse:
    """``PUT|GET /api/workspaces/{workspace}/calendars/{calendar}`` (GET also takes the slug)."""
    from shared import bootstrap
    from shared.http import json_response, parse_model, read_json
    from shared.usecases import calendars, workspaces

    c = bootstrap.container()
    ws, cal = req.route_params.get("workspace", ""), req.route_params.get("calendar", "")
    if _is_put(req):
        from functools import partial

        from shared.schemas.calendars import CalendarIn
        from shared.usecases.connections import check_members

        workspaces.check_id("workspace", ws)
        workspaces.check_id("calendar", cal)
        body = parse_model(CalendarIn, read_json(req))
        view, created = calendars.put_calendar(c.store, c.clock, ws, cal, body.to_config(),
                                               partial(check_members, c.connection_deps()))
        return json_response(view, 201 if created else 200)
    return json_response(calendars.find_calendar(c.store, ws, cal).to_dict())


@bp.route(route="workspaces/{workspace}/calendars/{calendar}/diagnostics", methods=["GET"])
@management_endpoint
def management_calendar_diagnostics(req: func.HttpRequest) -> func.HttpResponse:
    """``GET .../calendars/{calendar}/diagnostics`` (id or slug): per member, can it produce what the calendar
    promises (free/busy, Teams), and why not."""
    from shared import bootstrap
    from shared.http import json_response
    from shared.usecases import calendars
    from shared.usecases.availability import diagnose_calendar

    c = bootstrap.container()
    record = calendars.find_calendar(c.store, req.route_params.get("workspace", ""),
                                     req.route_params.get("calendar", ""))
    return json_response(diagnose_calendar(c.availability_deps(), record))
