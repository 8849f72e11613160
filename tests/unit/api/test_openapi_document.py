"""The OpenAPI document: committed copy equal to the generated one, every HTTP function described once,
request schemas taken from the very models the handlers validate with, and a document schemathesis loads."""
from __future__ import annotations

import json
from pathlib import Path

import azure.functions as func

from shared.schemas import bookings, calendars, connections
from shared.schemas.openapi import OPERATIONS, build_document, document_json
from tests.app_index import indexed_functions

ROOT = Path(__file__).resolve().parents[3]
REGENERATE = ".venv/bin/python -m shared.schemas.openapi --write docs/openapi.json"


def test_committed_document_equals_the_generated_one():
    committed = (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == document_json(), f"docs/openapi.json is stale: run {REGENERATE}"


def test_every_http_function_and_method_is_described_exactly_once():
    described = {(op["x-azure-function"], path, method.upper())
                 for path, item in build_document()["paths"].items() for method, op in item.items()}
    indexed = {(name, "/api/" + info["route"], method.upper())
               for name, info in indexed_functions().items() if info["type"] == "httpTrigger"
               for method in info["methods"] if method.upper() != "OPTIONS"}
    assert described == indexed
    assert len(described) == len(OPERATIONS)


def test_auth_schemes_follow_the_functions_auth_level():
    functions = indexed_functions()
    for path, item in build_document()["paths"].items():
        for op in item.values():
            anonymous = functions[op["x-azure-function"]]["auth"] == "anonymous"
            assert (op["security"] == []) is anonymous, path


def test_request_bodies_are_the_handlers_models():
    doc = build_document()
    schemas = doc["components"]["schemas"]
    expected = {
        ("/api/workspaces/{workspace}/calendars/{calendar}", "put"): calendars.CalendarIn,
        ("/api/workspaces/{workspace}/users/{user}", "put"): calendars.UserIn,
        ("/api/calendars/{slug}/bookings", "post"): bookings.BookingIn,
        ("/api/bookings/{id}/reschedule", "post"): bookings.RescheduleIn,
        ("/api/workspaces/{workspace}/admin-consent-links", "post"): connections.AdminConsentLinkIn,
    }
    for (path, method), model in expected.items():
        ref = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{model.__name__}"
        own = model.model_json_schema(ref_template="#/components/schemas/{model}")
        own.pop("$defs", None)
        assert schemas[model.__name__] == own
    assert schemas["CalendarIn"]["additionalProperties"] is False  # unknown fields are refused, as documented


def test_slot_query_parameters_come_from_the_query_model():
    params = {p["name"]: p for p in build_document()["paths"]["/api/calendars/{slug}/slots"]["get"]["parameters"]}
    assert params["start"]["required"] and params["start"]["schema"]["format"] == "date"
    assert not params["timezone"]["required"] and params["timezone"]["schema"]["type"] == "string"
    assert set(params) == {"slug", "start", "end", "timezone"}


def test_error_body_is_described_for_validation_errors():
    doc = build_document()
    op = doc["paths"]["/api/workspaces/{workspace}"]["put"]
    assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    detail = doc["components"]["schemas"]["ErrorDetail"]
    assert {"code", "message"} <= set(detail["required"]) and "errors" in detail["properties"]


def test_the_handler_serves_the_document():
    from functions.openapi import openapi_document

    fn = openapi_document.build().get_user_function()
    resp = fn(func.HttpRequest("GET", "http://localhost/api/openapi.json", body=b""))
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert json.loads(resp.get_body()) == build_document()


def test_schemathesis_loads_every_operation():
    import schemathesis

    schema = schemathesis.openapi.from_dict(build_document())
    loaded = [result.ok() for result in schema.get_all_operations()]
    assert len(loaded) == len(OPERATIONS)
    assert json.loads(document_json())["openapi"] == "3.1.0"
