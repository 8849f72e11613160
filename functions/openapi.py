"""``GET /api/openapi.json`` (anonymous): the OpenAPI 3.1 document of every HTTP route.

The document is built from the pydantic models that validate requests (``shared.schemas.openapi``);
``docs/openapi.json`` is the committed copy.
"""
from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    """200: the OpenAPI document (JSON, cacheable for 5 minutes, CORS ``*`` so API explorers can read it)."""
    from shared.schemas.openapi import document_json

    return func.HttpResponse(document_json(), status_code=200, mimetype="application/json", charset="utf-8",
                             headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"})
