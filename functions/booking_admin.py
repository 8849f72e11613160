"""Host and admin views of bookings, and the manual repair (function key; rule 21).

* ``GET /api/workspaces/{workspace}/users/{user}/bookings?from=&to=&link_status=``
* ``GET /api/workspaces/{workspace}/bookings/{id}``
* ``POST /api/workspaces/{workspace}/bookings/{id}/repair``: reconcile now; answers the booking view.
"""
from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="workspaces/{workspace}/users/{user}/bookings", methods=["GET"])
def management_user_bookings(req: func.HttpRequest) -> func.HttpResponse:
    """The host's bookings with link state, reason, next attempt, errors, participants and history."""
    from shared import bootstrap
    from shared.http import handle, json_response, parse_model
    from shared.usecases import booking_admin

    def run() -> func.HttpResponse:
        from shared.schemas.bookings import HostBookingsQuery

        query = parse_model(HostBookingsQuery, {k: req.params[k] for k in ("from", "to", "link_status")
                                                if k in req.params})
        c = bootstrap.container()
        return json_response(booking_admin.list_host_bookings(
            c.store, req.route_params.get("workspace", ""), req.route_params.get("user", ""),
            start_from=query.start_from, start_to=query.start_to, link_status=query.link_status))

    return handle(run)


@bp.route(route="workspaces/{workspace}/bookings/{id}/repair", methods=["POST"])
def management_booking_repair(req: func.HttpRequest) -> func.HttpResponse:
    """Reconcile one booking now (also a ``failed`` one); answers the booking view afterwards."""
    from shared import bootstrap
    from shared.http import handle, json_response
    from shared.usecases.reconcile.repair import repair_booking

    def run() -> func.HttpResponse:
        c = bootstrap.container()
        return json_response(repair_booking(c.meeting_deps(), c.store, req.route_params.get("workspace", ""),
                                            req.route_params.get("id", "")))

    return handle(run)


@bp.route(route="workspaces/{workspace}/bookings/{id}", methods=["GET"])
def management_booking(req: func.HttpRequest) -> func.HttpResponse:
    """One booking of the workspace, by id."""
    from shared import bootstrap
    from shared.http import handle, json_response
    from shared.usecases import booking_admin

    def run() -> func.HttpResponse:
        c = bootstrap.container()
        return json_response(booking_admin.get_admin_booking(c.store, req.route_params.get("workspace", ""),
                                                             req.route_params.get("id", "")))

    return handle(run)
