"""shared.http's endpoint decorators: CORS, preflight and error translation in one place, and the
Functions host still binds the handler's ``req`` parameter (checked with the local host's indexer)."""
from __future__ import annotations

import json
import typing
from collections.abc import Iterator

import azure.functions as func
import pytest

from devhost.host_index import index_app
from functions import connections, management, public_booking
from shared import bootstrap
from shared.errors import NotFound, ValidationError
from shared.http import management_endpoint, public_endpoint
from shared.settings import Settings
from tests.fakes import FixedClock, InMemoryEntityStore, InMemoryMessageQueue

ORIGIN = "https://shop.example"


@pytest.fixture(autouse=True)
def container() -> Iterator[None]:
    bootstrap.install(bootstrap.Container(Settings({"CORS_ALLOWED_ORIGINS": ORIGIN}), store=InMemoryEntityStore(),
                                          queue=InMemoryMessageQueue(), clock=FixedClock()))
    yield
    bootstrap.install(None)


def request(method: str, origin: str | None = ORIGIN) -> func.HttpRequest:
    return func.HttpRequest(method, "http://localhost/api/x", headers={"Origin": origin} if origin else {}, body=b"")


@public_endpoint
def public_missing(req: func.HttpRequest) -> func.HttpResponse:
    raise NotFound("no such booking")


@management_endpoint
def management_invalid(req: func.HttpRequest) -> func.HttpResponse:
    raise ValidationError("name", "is required")


def test_the_host_binds_req_of_every_decorated_handler() -> None:
    app = func.FunctionApp()
    for blueprint in (public_booking.bp, management.bp, connections.bp):
        app.register_functions(blueprint)
    found, errors = index_app(app)
    assert errors == {}
    decorated = [f for f in found if hasattr(f.func, "__wrapped__")]
    assert {f.name for f in decorated} >= {"public_slots", "public_create_booking", "public_reschedule_booking",
                                           "management_workspace", "management_calendar", "connections_list"}
    for info in decorated:
        assert info.params == ("req",) and info.trigger.param == "req"
        hints = typing.get_type_hints(info.func)
        assert hints["req"] is func.HttpRequest and hints["return"] is func.HttpResponse


def test_a_public_preflight_is_answered_with_cors_for_an_allowed_origin_only() -> None:
    allowed = public_missing(request("OPTIONS"))
    assert allowed.status_code == 204 and allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    other = public_missing(request("OPTIONS", "https://elsewhere.example"))
    assert other.status_code == 204 and "Access-Control-Allow-Origin" not in other.headers


def test_public_errors_are_json_and_carry_cors() -> None:
    response = public_missing(request("GET"))
    assert response.status_code == 404 and response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert json.loads(response.get_body())["error"]["code"] == "not_found"


def test_management_errors_are_json_naming_the_field_without_cors() -> None:
    response = management_invalid(request("PUT"))
    assert response.status_code == 422 and "Access-Control-Allow-Origin" not in response.headers
    assert json.loads(response.get_body())["error"] == {"code": "validation_error", "message": "name: is required",
                                                         "field": "name", "reason": "is required",
                                                         "errors": [{"field": "name", "reason": "is required"}]}
