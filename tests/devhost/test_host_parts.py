"""Pure parts of the local host: settings files, host.json options, routes, schedules, encodings."""
from __future__ import annotations

import datetime
import json
from pathlib import Path

import azure.functions as func
import pytest

from devhost.host_config import (
    ConfigError,
    HostKeys,
    QueueOptions,
    parse_timespan,
    resolve_connection,
    resolve_placeholders,
    route_prefix,
)
from devhost.host_http import from_function_response
from devhost.host_index import FunctionIndexError, app_functions, describe, index_app
from devhost.host_invoke import Invocation
from devhost.host_queues import decode_body, encode_body, output_messages
from devhost.host_routes import RouteError, RouteTemplate
from devhost.host_timers import Schedule
from devhost.settings_loader import (
    SettingsError,
    apply_to_environ,
    effective_settings,
    load_host_json,
    load_local_settings,
)

UTC = datetime.UTC


# settings files --------------------------------------------------------------------------------
def test_local_settings_win_over_sample_and_environment_wins_over_file(tmp_path: Path) -> None:
    (tmp_path / "local.settings.sample.json").write_text(json.dumps({"Values": {"A": "sample"}}))
    assert load_local_settings(tmp_path).values == {"A": "sample"}
    (tmp_path / "local.settings.json").write_text(json.dumps({
        "IsEncrypted": False,
        "Values": {"A": "file", "B": "file", "N": 3, "T": True},
        "Host": {"LocalHttpPort": 7072, "CORS": "http://a.test, http://b.test", "CORSCredentials": True},
    }))
    local = load_local_settings(tmp_path)
    assert local.values == {"A": "file", "B": "file", "N": "3", "T": "true"}
    assert local.local_http_port == 7072
    assert local.cors == ("http://a.test", "http://b.test") and local.cors_credentials
    merged = effective_settings(local, {"A": "env"})
    assert merged["A"] == "env" and merged["B"] == "file"
    environ = {"A": "env"}
    assert apply_to_environ(local.values, environ) == ["B", "N", "T"]
    assert environ["A"] == "env" and environ["B"] == "file"


def test_missing_files_and_bad_files(tmp_path: Path) -> None:
    assert load_local_settings(tmp_path).values == {}
    assert load_host_json(tmp_path) == {}
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    assert load_host_json(tmp_path) == {"version": "2.0"}
    (tmp_path / "local.settings.json").write_text('{"IsEncrypted": true, "Values": {}}')
    with pytest.raises(SettingsError):
        load_local_settings(tmp_path)
    (tmp_path / "local.settings.json").write_text('{"Values": ')
    with pytest.raises(SettingsError):
        load_local_settings(tmp_path)


# host.json and settings resolution -------------------------------------------------------------
def test_queue_options_defaults_and_overrides() -> None:
    assert QueueOptions.from_host_json({}) == QueueOptions(16, 8, 2.0, 0.0, 5, "base64")
    options = QueueOptions.from_host_json({"extensions": {"queues": {
        "batchSize": 4, "newBatchThreshold": 1, "maxPollingInterval": "00:00:00.250",
        "visibilityTimeout": "00:00:30", "maxDequeueCount": 2, "messageEncoding": "none"}}})
    assert options == QueueOptions(4, 1, 0.25, 30.0, 2, "none")
    with pytest.raises(ConfigError):
        QueueOptions.from_host_json({"extensions": {"queues": {"messageEncoding": "utf8"}}})


def test_timespans_prefix_placeholders_connections_keys() -> None:
    assert parse_timespan("1.02:03:04.5") == 93784.5
    assert parse_timespan(1500) == 1.5
    with pytest.raises(ConfigError):
        parse_timespan("soon")
    assert route_prefix({}) == "api"
    assert route_prefix({"extensions": {"http": {"routePrefix": "/v1/"}}}) == "v1"
    assert route_prefix({"extensions": {"http": {"routePrefix": ""}}}) == ""
    assert resolve_placeholders("%Q%-x", {"Q": "jobs"}) == "jobs-x"
    with pytest.raises(ConfigError):
        resolve_placeholders("%MISSING%", {})
    assert resolve_connection("", {"AzureWebJobsStorage": "conn"}) == "conn"
    assert resolve_connection("Other", {"AzureWebJobsOther": "other"}) == "other"
    with pytest.raises(ConfigError):
        resolve_connection("Other", {})
    assert not HostKeys.from_settings({}).enforced
    assert HostKeys.from_settings({"DEVHOST_MASTER_KEY": "m"}).enforced


# routes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("template,path,expected", [
    ("books/{id}", "books/42", {"id": "42"}),
    ("books/{id}", "BOOKS/42/", {"id": "42"}),
    ("books/{id}", "books", None),
    ("books/{id?}", "books", {}),
    ("books/{id=7}", "books", {"id": "7"}),
    ("books/{id:int}", "books/x", None),
    ("books/{id:int:min(10)}", "books/9", None),
    ("books/{id:int:range(1,10)}", "books/9", {"id": "9"}),
    ("books/{id:guid}", "books/not-a-guid", None),
    ("books/{id:alpha:maxlength(3)}", "books/abc", {"id": "abc"}),
    ("files/{*rest}", "files/a/b%20c", {"rest": "a/b c"}),
    ("files/{*rest}", "files", {}),
    ("p/{name}.{ext}", "p/report.pdf", {"name": "report", "ext": "pdf"}),
    ("", "", {}),
])
def test_route_templates(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate(template).match(path) == expected


def test_route_precedence_and_errors() -> None:
    templates = sorted([RouteTemplate(t) for t in ("{*all}", "a/{x?}", "a/{x}", "a/{x:int}", "a/b")],
                       key=RouteTemplate.sort_key)
    assert [t.template for t in templates] == ["a/b", "a/{x:int}", "a/{x}", "a/{x?}", "{*all}"]
    with pytest.raises(RouteError):
        RouteTemplate("a/{x:nosuch}")
    with pytest.raises(RouteError):
        RouteTemplate("a//b")


# schedules -------------------------------------------------------------------------------------
def test_ncrontab_six_fields_seconds_first_and_timespan() -> None:
    base = datetime.datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)
    every_five = Schedule.parse("*/5 * * * * *")
    assert every_five.next_after(base) == base + datetime.timedelta(seconds=5)
    assert Schedule.parse("0 */5 * * * *").next_after(base) == base + datetime.timedelta(minutes=5)
    assert Schedule.parse("0 30 9 * * MON-FRI").next_after(base) == datetime.datetime(2024, 1, 1, 9, 30, tzinfo=UTC)
    assert Schedule.parse("00:00:10").next_after(base) == base + datetime.timedelta(seconds=10)
    paris = Schedule.parse("0 0 9 * * *", "Europe/Paris")
    assert paris.next_after(base) == datetime.datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
    for bad in ("every minute", "* * * * * * * *", "61 * * * * *"):
        with pytest.raises(ConfigError):
            Schedule.parse(bad)


# encodings and responses -----------------------------------------------------------------------
def test_message_encodings_and_output_values() -> None:
    assert encode_body("héllo", "base64") == "aMOpbGxv"
    assert decode_body("aMOpbGxv", "base64") == "héllo".encode()
    assert decode_body("plain", "none") == b"plain"
    assert encode_body(b"x", "none") == "x"
    with pytest.raises(ValueError):
        decode_body("not base64!", "base64")
    assert output_messages(None) == []
    assert output_messages("a") == ["a"]
    assert output_messages(["a", b"b", func.QueueMessage(body="c")]) == ["a", b"b", b"c"]
    with pytest.raises(TypeError):
        output_messages({"a": 1})


def test_http_responses_like_the_worker() -> None:
    assert from_function_response(None).status == 204
    text = from_function_response("hi")
    assert (text.status, text.body) == (200, b"hi")
    made = from_function_response(func.HttpResponse("x", status_code=201, mimetype="text/html", charset="latin-1",
                                                    headers={"X-A": "1"}))
    assert made.status == 201 and ("Content-Type", "text/html; charset=latin-1") in made.headers
    assert ("X-A", "1") in made.headers
    binary = from_function_response(func.HttpResponse(b"\x00", mimetype="application/octet-stream"))
    assert ("Content-Type", "application/octet-stream") in binary.headers


# indexing --------------------------------------------------------------------------------------
def test_index_caches_get_functions_and_reports_unsupported_bindings() -> None:
    app = func.FunctionApp()

    @app.route(route="x")
    def x(req: func.HttpRequest) -> str:
        return "x"

    @app.blob_trigger(arg_name="blob", path="c/{name}", connection="AzureWebJobsStorage")
    def blobby(blob: func.InputStream) -> None:
        return None

    first = app_functions(app)
    assert app_functions(app) == first  # a second get_functions() would raise on this app
    found, errors = index_app(app)
    assert [f.name for f in found] == ["x"] and "blobby" in errors
    info = found[0]
    assert info.trigger_type == "http" and info.trigger.auth_level == "function"  # type: ignore[union-attr]
    assert info.trigger.methods == ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")  # type: ignore

    other = func.FunctionApp()

    @other.queue_trigger(arg_name="msg", queue_name="q", connection="")
    def stray(msg: func.QueueMessage, extra: str) -> None:
        return None

    with pytest.raises(FunctionIndexError):
        describe(app_functions(other)[0])


# CORS and timers without storage ---------------------------------------------------------------
def test_host_cors_preflight_and_simple_requests() -> None:
    from devhost.host_http import HttpDispatcher, Request

    def never(*_: object) -> Invocation:
        raise AssertionError("no function should run")

    dispatcher = HttpDispatcher([], "api", HostKeys(), never, lambda name, data: 404, cors=("http://a.test",))
    preflight = dispatcher.dispatch(Request("OPTIONS", "/api/x", "", {
        "origin": "http://a.test", "access-control-request-method": "POST"}, b"", "http://h/api/x"))
    assert preflight.status == 204
    assert ("Access-Control-Allow-Origin", "http://a.test") in preflight.headers
    assert ("Access-Control-Allow-Methods", "POST") in preflight.headers
    other = dispatcher.dispatch(Request("OPTIONS", "/api/x", "", {
        "origin": "http://evil.test", "access-control-request-method": "POST"}, b"", "http://h/api/x"))
    assert not any(k.startswith("Access-Control") for k, _ in other.headers)
    missing = dispatcher.dispatch(Request("GET", "/api/x", "", {"origin": "http://a.test"}, b"", "http://h/api/x"))
    assert missing.status == 404 and ("Access-Control-Allow-Origin", "http://a.test") in missing.headers


def test_timer_falling_behind_runs_once_past_due() -> None:
    import threading
    import time

    from devhost.host_timers import TimerRunner
    from tests.devhost.helpers import wait_for

    seen: list[bool] = []
    lock = threading.Lock()

    def invoke(fn: object, request: func.TimerRequest) -> Invocation:
        with lock:
            seen.append(request.past_due)
            first = len(seen) == 1
        if first:
            time.sleep(2.5)  # longer than the one-second period: the next occurrence passes meanwhile
        return Invocation("slow")

    app = func.FunctionApp()

    @app.timer_trigger(arg_name="timer", schedule="* * * * * *")
    def slow(timer: func.TimerRequest) -> None:
        return None

    fn = describe(app_functions(app)[0])
    runner = TimerRunner(fn, Schedule.parse("* * * * * *"), False, invoke)
    runner.start()
    try:
        wait_for(lambda: len(seen) >= 3)
    finally:
        runner.stop()
    assert seen[:2] == [False, True]
