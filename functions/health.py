"""GET /api/health: the version and whether Table and Queue storage answer."""
from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """200 when storage answers, 503 with the same JSON when it does not."""
    from shared import bootstrap
    from shared.http import json_response
    from shared.usecases.health import check_health

    tables, queues = bootstrap.container().storage_probe
    result = check_health(lambda: tables.get("health", "health", "ping"), queues.ping)
    return json_response(result, 200 if result["status"] == "healthy" else 503)
