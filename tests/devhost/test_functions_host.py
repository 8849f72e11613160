"""The local Functions host against real Azurite, with a small FunctionApp defined here."""
from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator

import azure.functions as func
import pytest
import requests

from devhost.functions_host import FunctionsHost
from tests.devhost.helpers import Recorder, b64, peek_texts, send_text, wait_for

SEEN = Recorder()
FUNCTION_KEY = "function-key-" + uuid.uuid4().hex
MASTER_KEY = "master-key-" + uuid.uuid4().hex

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="books/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_book(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"id": req.route_params["id"], "q": req.params.get("q")}),
                             mimetype="application/json", headers={"X-Test": "yes"})


@app.route(route="greet/{name?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def greet(req: func.HttpRequest) -> str:
    return "hello " + str(req.route_params.get("name", "world"))


@app.route(route="items/{id:int}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def get_item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"item {int(req.route_params['id'])}", status_code=200)


@app.route(route="items/new", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def new_item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("literal wins")


@app.route(route="secure", methods=["GET", "POST"])
def secure(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("secret ok", status_code=200)


@app.route(route="adminonly", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin ok")


@app.route(route="boom", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("kaboom-internal-detail")


@app.route(route="enqueue", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.queue_output(arg_name="out", queue_name="%HTTP_OUT_QUEUE%", connection="AzureWebJobsStorage")
def enqueue(req: func.HttpRequest, out: func.Out[list[str]]) -> func.HttpResponse:
    out.set([f"{item}" for item in req.get_json()["items"]])
    return func.HttpResponse(status_code=202)


@app.queue_trigger(arg_name="msg", queue_name="%FAIL_QUEUE%", connection="AzureWebJobsStorage")
def always_fails(msg: func.QueueMessage) -> None:
    SEEN.add("always_fails", (msg.get_body().decode(), msg.dequeue_count, msg.id))
    raise ValueError("always fails")


@app.queue_trigger(arg_name="msg", queue_name="%RELAY_QUEUE%", connection="")
@app.queue_output(arg_name="out", queue_name="%RELAY_OUT_QUEUE%", connection="AzureWebJobsStorage")
async def relay(msg: func.QueueMessage, out: func.Out[str], context: func.Context) -> None:
    SEEN.add("relay", (msg.get_body().decode(), msg.dequeue_count, context.function_name))
    out.set("relayed:" + msg.get_body().decode())


@app.queue_trigger(arg_name="msg", queue_name="%ADMIN_QUEUE%", connection="AzureWebJobsStorage")
def admin_target(msg: str) -> None:
    SEEN.add("admin_target", msg)


@app.timer_trigger(arg_name="timer", schedule="%FAST_SCHEDULE%")
def every_second(timer: func.TimerRequest) -> None:
    SEEN.add("every_second", timer.past_due)


@app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *", run_on_startup=True)
def on_startup(timer: func.TimerRequest) -> None:
    SEEN.add("on_startup", timer.past_due)


@app.function_name("disabled_one")
@app.timer_trigger(arg_name="timer", schedule="* * * * * *")
def disabled(timer: func.TimerRequest) -> None:
    SEEN.add("disabled", True)


def _queue(kind: str) -> str:
    return f"dh-{kind}-{uuid.uuid4().hex[:12]}"


QUEUES = {name: _queue(name.split("_")[0].lower()) for name in
          ("FAIL_QUEUE", "RELAY_QUEUE", "RELAY_OUT_QUEUE", "HTTP_OUT_QUEUE", "ADMIN_QUEUE")}
HOST_JSON = {
    "version": "2.0",
    "extensions": {"queues": {"maxDequeueCount": 3, "maxPollingInterval": "00:00:00.200", "batchSize": 4}},
}


@pytest.fixture(scope="module")
def settings(storage_connection_string: str) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": storage_connection_string,
        "FAST_SCHEDULE": "* * * * * *",
        "DEVHOST_FUNCTION_KEY": FUNCTION_KEY,
        "DEVHOST_MASTER_KEY": MASTER_KEY,
        "AzureWebJobs.disabled_one.Disabled": "true",
        **QUEUES,
    }


@pytest.fixture(scope="module")
def host(settings: dict[str, str]) -> Iterator[FunctionsHost]:
    with FunctionsHost(app, settings, HOST_JSON, port=0) as running:
        yield running


def url(host: FunctionsHost, path: str) -> str:
    return host.base_url + path


# HTTP ------------------------------------------------------------------------------------------
def test_http_route_parameter_query_and_response_passthrough(host: FunctionsHost) -> None:
    response = requests.get(url(host, "/api/books/42?q=x%20y"), timeout=10)
    assert response.status_code == 200
    assert response.json() == {"id": "42", "q": "x y"}
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Test"] == "yes"


def test_optional_route_parameter_and_str_return(host: FunctionsHost) -> None:
    assert requests.get(url(host, "/api/greet"), timeout=10).text == "hello world"
    response = requests.get(url(host, "/api/greet/bob"), timeout=10)
    assert response.text == "hello bob"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_constraints_async_function_and_literal_precedence(host: FunctionsHost) -> None:
    assert requests.get(url(host, "/api/items/7"), timeout=10).text == "item 7"
    assert requests.get(url(host, "/api/items/new"), timeout=10).text == "literal wins"
    assert requests.get(url(host, "/api/items/abc"), timeout=10).status_code == 404


def test_unknown_route_is_404_and_wrong_method_is_405(host: FunctionsHost) -> None:
    assert requests.get(url(host, "/api/nothing/here"), timeout=10).status_code == 404
    assert requests.get(url(host, "/books/42"), timeout=10).status_code == 404
    response = requests.delete(url(host, "/api/books/42"), timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


def test_function_key_required_in_query_or_header(host: FunctionsHost) -> None:
    assert requests.get(url(host, "/api/secure"), timeout=10).status_code == 401
    assert requests.get(url(host, "/api/secure?code=wrong"), timeout=10).status_code == 401
    assert requests.get(url(host, f"/api/secure?code={FUNCTION_KEY}"), timeout=10).text == "secret ok"
    by_header = requests.post(url(host, "/api/secure"), headers={"x-functions-key": FUNCTION_KEY}, timeout=10)
    assert by_header.status_code == 200
    assert requests.get(url(host, "/api/secure"), headers={"x-functions-key": MASTER_KEY}, timeout=10).ok


def test_admin_level_refuses_the_function_key(host: FunctionsHost) -> None:
    assert requests.get(url(host, f"/api/adminonly?code={FUNCTION_KEY}"), timeout=10).status_code == 401
    response = requests.get(url(host, "/api/adminonly"), headers={"x-functions-key": MASTER_KEY}, timeout=10)
    assert response.status_code == 200 and response.text == "admin ok"


def test_exception_is_500_with_generic_body_and_logged(host: FunctionsHost, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="devhost"):
        response = requests.post(url(host, "/api/boom?token=s3cret"), data=b"private-body", timeout=10)
    assert response.status_code == 500
    assert b"kaboom" not in response.content
    failed = [r for r in caplog.records if "Functions.boom" in r.getMessage()]
    assert failed and "Failed" in failed[0].getMessage() and failed[0].exc_info is not None
    text = caplog.text
    assert "s3cret" not in text and "private-body" not in text


def test_http_queue_output_binding_writes_each_item(host: FunctionsHost, storage_connection_string: str) -> None:
    response = requests.post(url(host, "/api/enqueue"), json={"items": ["a", "b"]}, timeout=10)
    assert response.status_code == 202
    texts = wait_for(lambda: peek_texts(storage_connection_string, QUEUES["HTTP_OUT_QUEUE"]))
    assert texts == [b64("a"), b64("b")]


def test_admin_host_status_requires_master_key(host: FunctionsHost) -> None:
    assert requests.get(url(host, "/admin/host/status"), timeout=10).status_code == 401
    response = requests.get(url(host, "/admin/host/status"), headers={"x-functions-key": MASTER_KEY}, timeout=10)
    assert response.status_code == 200 and response.json() == {"state": "Running"}


def test_admin_functions_lists_every_function_like_the_real_host(host: FunctionsHost) -> None:
    assert requests.get(url(host, "/admin/functions"), headers={"x-functions-key": FUNCTION_KEY},
                        timeout=10).status_code == 401
    response = requests.get(url(host, "/admin/functions"), headers={"x-functions-key": MASTER_KEY}, timeout=10)
    assert response.status_code == 200
    listed = {f["name"]: f for f in response.json()}
    assert set(listed) == set(host.functions)
    book = listed["get_book"]
    assert book["invoke_url_template"] == url(host, "/api/books/{id}")
    assert book["config"]["bindings"][0] == {"name": "req", "direction": "in", "type": "httpTrigger",
                                             "route": "books/{id}", "methods": ["get"], "authLevel": "anonymous"}
    assert book["language"] == "python" and book["isDisabled"] is False
    queue_triggers = [f for f in listed.values() if f["config"]["bindings"][0]["type"] == "queueTrigger"]
    assert queue_triggers and all(f["invoke_url_template"] == "" for f in queue_triggers)


def test_two_hundred_concurrent_requests_are_all_answered(host: FunctionsHost) -> None:
    """200 POSTs released at once (a listen backlog of 5 reset about a quarter of them): 0 resets."""
    barrier = threading.Barrier(200)
    statuses: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def ask(i: int) -> None:
        barrier.wait()
        try:
            status = requests.post(url(host, "/api/secure"), data=b"x" * 1000,
                                   headers={"x-functions-key": FUNCTION_KEY}, timeout=60).status_code
            with lock:
                statuses.append(status)
        except requests.RequestException as exc:  # a reset lands here
            with lock:
                errors.append(type(exc).__name__)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert statuses == [200] * 200


# queues ----------------------------------------------------------------------------------------
def test_failing_message_goes_to_poison_after_max_dequeue_count(host: FunctionsHost,
                                                               storage_connection_string: str) -> None:
    queue = QUEUES["FAIL_QUEUE"]
    send_text(storage_connection_string, queue, "doomed")
    poison = wait_for(lambda: peek_texts(storage_connection_string, queue + "-poison"))
    assert poison == [b64("doomed")]
    attempts = SEEN.get("always_fails")
    assert [(body, count) for body, count, _ in attempts] == [("doomed", 1), ("doomed", 2), ("doomed", 3)]
    assert len({message_id for _, _, message_id in attempts}) == 1
    assert peek_texts(storage_connection_string, queue) == []


def test_queue_trigger_output_binding_and_delete_on_success(host: FunctionsHost,
                                                            storage_connection_string: str) -> None:
    send_text(storage_connection_string, QUEUES["RELAY_QUEUE"], "ping")
    texts = wait_for(lambda: peek_texts(storage_connection_string, QUEUES["RELAY_OUT_QUEUE"]))
    assert texts == [b64("relayed:ping")]
    assert SEEN.get("relay") == [("ping", 1, "relay")]
    assert peek_texts(storage_connection_string, QUEUES["RELAY_QUEUE"]) == []


def test_invalid_base64_goes_straight_to_poison(host: FunctionsHost, storage_connection_string: str) -> None:
    queue = QUEUES["ADMIN_QUEUE"]
    send_text(storage_connection_string, queue, "not base64 !!", encode=False)
    assert wait_for(lambda: peek_texts(storage_connection_string, queue + "-poison")) == ["not base64 !!"]


def test_admin_invoke_runs_a_queue_function(host: FunctionsHost) -> None:
    endpoint = url(host, "/admin/functions/admin_target")
    assert requests.post(endpoint, json={"input": "direct"}, timeout=10).status_code == 401
    assert requests.post(endpoint, json={"input": "direct"}, headers={"x-functions-key": FUNCTION_KEY},
                         timeout=10).status_code == 401
    response = requests.post(endpoint, json={"input": "direct"}, headers={"x-functions-key": MASTER_KEY}, timeout=10)
    assert response.status_code == 202
    assert wait_for(lambda: "direct" in SEEN.get("admin_target"))
    missing = requests.post(url(host, "/admin/functions/nope"), json={}, headers={"x-functions-key": MASTER_KEY},
                            timeout=10)
    assert missing.status_code == 404


# timers ----------------------------------------------------------------------------------------
def test_timer_schedule_from_setting_runs_repeatedly(host: FunctionsHost) -> None:
    wait_for(lambda: len(SEEN.get("every_second")) >= 2)


def test_run_on_startup_and_run_timer_now(host: FunctionsHost) -> None:
    wait_for(lambda: SEEN.get("on_startup"))
    before = len(SEEN.get("on_startup"))
    invocation = host.run_timer_now("on_startup")
    assert invocation.ok and len(SEEN.get("on_startup")) == before + 1


def test_admin_invoke_runs_a_timer(host: FunctionsHost) -> None:
    before = len(SEEN.get("on_startup"))
    response = requests.post(url(host, "/admin/functions/on_startup"), json={},
                             headers={"x-functions-key": MASTER_KEY}, timeout=10)
    assert response.status_code == 202
    wait_for(lambda: len(SEEN.get("on_startup")) > before)


def test_disabled_function_is_not_hosted(host: FunctionsHost) -> None:
    assert "disabled_one" not in host.functions
    assert SEEN.get("disabled") == []


# lifecycle -------------------------------------------------------------------------------------
def test_without_keys_nothing_is_enforced_and_stop_leaves_no_threads(settings: dict[str, str]) -> None:
    open_settings = {k: v for k, v in settings.items() if not k.startswith("DEVHOST_")}
    open_settings["FAIL_QUEUE"] = open_settings["RELAY_QUEUE"] = open_settings["ADMIN_QUEUE"] = _queue("idle")
    open_settings["FAST_SCHEDULE"] = "0 0 0 1 1 *"
    before = {t.ident for t in threading.enumerate()}
    startups = len(SEEN.get("on_startup"))
    host = FunctionsHost(app, open_settings, {"extensions": {"http": {"routePrefix": ""}}}, port=0).start()
    try:
        with requests.Session() as session:  # a keep-alive connection must not block stop()
            assert session.get(host.base_url + "/secure", timeout=10).status_code == 200
            assert session.get(host.base_url + "/adminonly", timeout=10).status_code == 200
            assert session.get(host.base_url + "/admin/host/status", timeout=10).status_code == 200
            wait_for(lambda: len(SEEN.get("on_startup")) > startups)
            host.stop()
    finally:
        host.stop()
    leftovers = [t.name for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert leftovers == []
