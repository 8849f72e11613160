"""Settings, error translation and HTTP helpers."""
from __future__ import annotations

import json

import azure.functions as func
import pytest
from pydantic import BaseModel, Field

from shared.errors import ConfigurationError, Conflict, NotFound, Throttled, ValidationError
from shared.http import cors_headers, error_response, handle, parse_model, read_json
from shared.settings import SETTINGS, Settings


def test_required_setting_is_a_clear_error_only_when_used():
    settings = Settings({})
    assert settings.get("GRAPH_BASE_URL") == "https://graph.microsoft.com/v1.0"
    with pytest.raises(ConfigurationError, match="LINK_SIGNING_KEY"):
        settings.require("LINK_SIGNING_KEY")
    with pytest.raises(KeyError):
        settings.get("NOT_DECLARED")


def test_settings_are_declared_once():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert Settings({"CORS_ALLOWED_ORIGINS": " a , ,b"}).get_list("CORS_ALLOWED_ORIGINS") == ["a", "b"]


@pytest.mark.parametrize(
    ("error", "status"),
    [(ValidationError("start", "bad"), 422), (NotFound("x"), 404), (Conflict("taken"), 409),
     (Throttled("slow", retry_after=7), 503), (ConfigurationError("x"), 500)],
)
def test_errors_map_to_status_and_json(error, status):
    resp = error_response(error)
    assert resp.status_code == status
    body = json.loads(resp.get_body())
    assert body["error"]["code"] == error.code
    if isinstance(error, ValidationError):
        assert body["error"]["field"] == "start"
    if isinstance(error, Throttled):
        assert resp.headers["Retry-After"] == "7"


def _req(body: bytes, headers: dict | None = None) -> func.HttpRequest:
    return func.HttpRequest("POST", "http://x/api/t", headers=headers or {}, body=body)


def test_read_json_refuses_bad_bodies():
    for raw, reason in [(b"", "required"), (b"{", "not valid JSON"), (b"[1]", "JSON object"),
                        (b" " * 70_000, "larger")]:
        with pytest.raises(ValidationError, match=reason):
            read_json(_req(raw))
    assert read_json(_req(b'{"a": 1}')) == {"a": 1}


class _Model(BaseModel):
    name: str = Field(min_length=1)
    count: int


def test_parse_model_names_each_field():
    with pytest.raises(ValidationError) as info:
        parse_model(_Model, {"name": "", "count": "many"})
    fields = {e["field"] for e in info.value.errors}
    assert fields == {"name", "count"}


def test_handle_translates_our_errors_and_answers_a_bug_500_as_json_with_the_headers():
    assert handle(lambda: (_ for _ in ()).throw(NotFound("gone"))).status_code == 404
    resp = handle(lambda: (_ for _ in ()).throw(RuntimeError("bug with secret-ish detail")), {"X-Cors": "1"})
    assert resp.status_code == 500 and resp.headers["X-Cors"] == "1"
    assert b"internal_error" in resp.get_body() and b"secret-ish" not in resp.get_body()


def test_cors_only_for_allowed_origins():
    req = _req(b"", {"Origin": "https://shop.example"})
    assert cors_headers(req, ["https://shop.example"])["Access-Control-Allow-Origin"] == "https://shop.example"
    assert cors_headers(req, ["https://other.example"]) == {}
    assert cors_headers(req, ["*"])["Access-Control-Allow-Origin"] == "*"
    assert cors_headers(req, []) == {}
