"""A local Azure Functions host for a Python v2 ``FunctionApp`` (Core Tools cannot run here).

It indexes the app like the Python worker, serves HTTP triggers under the route prefix, runs queue
triggers against Azure Storage (Azurite) and timer triggers on their NCRONTAB schedules, writes
queue output bindings, and offers the admin API (``POST /admin/functions/{name}``,
``GET /admin/host/status``). Settings are looked up in the ``settings`` mapping given to the host
(the functions themselves read ``os.environ``: export the settings there, as the CLI does).

CLI: ``python -m devhost.functions_host [--port 7071] [--app function_app:app]`` from the repo root
loads ``local.settings.json`` (or the sample) and ``host.json`` and runs until SIGINT/SIGTERM.
"""
from __future__ import annotations

import argparse
import importlib
import itertools
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from pathlib import Path
from typing import Any

from devhost.host_config import (
    ConfigError,
    HostKeys,
    QueueOptions,
    is_disabled,
    resolve_connection,
    resolve_placeholders,
    route_prefix,
)
from devhost.host_http import HttpDispatcher, HttpRoute, HttpServer
from devhost.host_index import (
    FunctionInfo,
    HttpTriggerInfo,
    QueueTriggerInfo,
    TimerTriggerInfo,
    function_metadata,
    index_app,
)
from devhost.host_invoke import Invocation, Invoker, log_invocation
from devhost.host_queues import QueueGateway, QueueListener, adhoc_message, encode_body, output_messages, trigger_value
from devhost.host_routes import RouteError, RouteTemplate
from devhost.host_timers import Schedule, TimerRunner
from devhost.settings_loader import apply_to_environ, effective_settings, load_host_json, load_local_settings, repo_root

log = logging.getLogger("devhost.host")
_PRIVATE_APPS = itertools.count(1)
DEFAULT_PORT = 7071


class HostError(RuntimeError):
    """The host cannot start."""


class FunctionsHost:
    """Hosts the functions of ``app``; ``start()`` runs everything in background threads."""

    def __init__(self, app: Any, settings: Mapping[str, str] | None = None, host_json: Mapping[str, Any] | None = None,
                 port: int = DEFAULT_PORT, *, cors: tuple[str, ...] = (), cors_credentials: bool = False,
                 function_directory: str | Path | None = None) -> None:
        self.settings: dict[str, str] = dict(os.environ if settings is None else settings)
        self.host_json: dict[str, Any] = dict(host_json or {})
        self.queue_options = QueueOptions.from_host_json(self.host_json)
        self._port, self._cors, self._cors_credentials = port, tuple(cors), cors_credentials
        self._invoker = Invoker(str(function_directory or repo_root()))
        self._gateway = QueueGateway()
        functions, errors = index_app(app)
        for name, reason in errors.items():
            log.error("function %s cannot be hosted: %s", name, reason)
        self.errors: dict[str, str] = dict(errors)
        self.functions: dict[str, FunctionInfo] = {}
        for fn in functions:
            if is_disabled(fn.name, self.settings):
                log.info("function %s is disabled", fn.name)
            else:
                self.functions[fn.name] = fn
        self._outputs: dict[str, list[tuple[str, str, str]]] = {}
        self._listeners: list[QueueListener] = []
        self._timers: dict[str, TimerRunner] = {}
        self._queue_triggers: dict[str, tuple[str, str]] = {}
        self._routes: list[HttpRoute] = []
        self._server: HttpServer | None = None
        self._admin_pool: ThreadPoolExecutor | None = None
        self._started = self._stopped = False
        self._resolve_all()

    # configuration ------------------------------------------------------------------------------
    def _resolve_all(self) -> None:
        """Resolve %SETTING% placeholders, connections, routes and schedules; drop failing functions."""
        zone = self.settings.get("WEBSITE_TIME_ZONE") or None
        for name, fn in list(self.functions.items()):
            try:
                self._outputs[name] = [
                    (o.param, resolve_placeholders(o.queue_name, self.settings),
                     resolve_connection(o.connection, self.settings)) for o in fn.outputs]
                trigger = fn.trigger
                if isinstance(trigger, HttpTriggerInfo):
                    template = RouteTemplate(resolve_placeholders(trigger.route, self.settings))
                    self._routes.append(HttpRoute(fn, template))
                elif isinstance(trigger, QueueTriggerInfo):
                    self._queue_triggers[name] = (resolve_placeholders(trigger.queue_name, self.settings),
                                                  resolve_connection(trigger.connection, self.settings))
                elif isinstance(trigger, TimerTriggerInfo):
                    schedule = Schedule.parse(resolve_placeholders(trigger.schedule, self.settings), zone)
                    self._timers[name] = TimerRunner(fn, schedule, trigger.run_on_startup, self._timer_invoke)
            except (ConfigError, RouteError) as exc:
                log.error("function %s cannot be hosted: %s", name, exc)
                self.errors[name] = str(exc)
                del self.functions[name]

    @property
    def port(self) -> int:
        """The HTTP port (the bound one once started)."""
        return self._server.port if self._server else self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def _function_list(self) -> list[dict[str, Any]]:
        prefix = route_prefix(self.host_json)
        return [function_metadata(fn, self.base_url, prefix) for fn in self.functions.values()]

    # lifecycle ----------------------------------------------------------------------------------
    def start(self) -> FunctionsHost:
        """Bind the HTTP port, start queue listeners and timers. Returns self."""
        if self._started or self._stopped:
            raise HostError("a host starts once: create a new one")
        dispatcher = HttpDispatcher(self._routes, route_prefix(self.host_json), HostKeys.from_settings(self.settings),
                                    self._execute, self._admin_invoke, self._cors,
                                    self._cors_credentials, self._function_list)
        try:
            self._server = HttpServer(dispatcher, self._port)
        except OSError as exc:
            raise HostError(f"cannot listen on 127.0.0.1:{self._port}: {exc.strerror}") from exc
        self._started = True
        self._admin_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="devhost-admin")
        self._server.start()
        for name, (queue, connection) in self._queue_triggers.items():
            listener = QueueListener(self.functions[name], queue, connection, self.queue_options, self._gateway,
                                     self._execute)
            listener.start()
            self._listeners.append(listener)
        for runner in self._timers.values():
            runner.start()
        log.info("devhost listening on %s with %d functions", self.base_url, len(self.functions))
        return self

    def stop(self) -> None:
        """Stop serving and polling, wait for running invocations, release every thread. Idempotent."""
        if self._stopped or not self._started:
            self._stopped = True
            self._invoker.close()
            return
        self._stopped = True
        if self._server is not None:
            self._server.stop()
        for listener in self._listeners:  # all at once: a poll in flight must not delay the others
            listener.request_stop()
        for listener in self._listeners:
            listener.stop()
        for runner in self._timers.values():
            runner.stop()
        if self._admin_pool is not None:
            self._admin_pool.shutdown(wait=True)
        self._invoker.close()
        self._gateway.close()
        log.info("devhost stopped")

    def __enter__(self) -> FunctionsHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # invocation ---------------------------------------------------------------------------------
    def write_outputs(self, fn: FunctionInfo, invocation: Invocation) -> None:
        """Write the queue output bindings of a successful invocation (encoded per messageEncoding)."""
        encoding = self.queue_options.message_encoding
        for param, queue, connection in self._outputs.get(fn.name, []):
            bodies = output_messages(invocation.outputs.get(param))
            if bodies:
                self._gateway.send(connection, queue, [encode_body(b, encoding) for b in bodies])

    def _execute(self, fn: FunctionInfo, argument: Any) -> Invocation:
        """Invoke, then write the output bindings; an output failure fails the invocation."""
        invocation = self._invoker.call(fn, argument)
        if invocation.ok:
            try:
                self.write_outputs(fn, invocation)
            except Exception as exc:  # noqa: BLE001 - reported as the invocation's failure
                invocation.error = exc
        return invocation

    def _timer_invoke(self, fn: FunctionInfo, request: Any) -> Invocation:
        invocation = self._execute(fn, request)
        log_invocation(fn, invocation, past_due=request.past_due)
        return invocation

    def run_timer_now(self, name: str) -> Invocation:
        """Run a timer function at once on the calling thread and return its outcome."""
        runner = self._timers.get(name)
        if runner is None:
            raise KeyError(f"no timer function named {name!r}")
        return runner.run_now()

    def invoke(self, name: str, input: str = "") -> Invocation:  # noqa: A002 - the admin API's field name
        """Invoke a non-HTTP function now (queue: ``input`` is the message body; timer: ignored)."""
        fn = self.functions.get(name)
        if fn is None or isinstance(fn.trigger, HttpTriggerInfo):
            raise KeyError(f"no non-HTTP function named {name!r}")
        if isinstance(fn.trigger, TimerTriggerInfo):
            return self.run_timer_now(name)
        message = adhoc_message(input)
        invocation = self._execute(fn, trigger_value(fn.trigger, message))
        log_invocation(fn, invocation, message_id=message.id, dequeue_count=message.dequeue_count, admin=True)
        return invocation

    def _admin_invoke(self, name: str, input_text: str) -> int:
        fn = self.functions.get(name)
        if fn is None:
            return HTTPStatus.NOT_FOUND
        if isinstance(fn.trigger, HttpTriggerInfo):
            return HTTPStatus.BAD_REQUEST
        pool = self._admin_pool
        if pool is None or self._stopped:
            return HTTPStatus.SERVICE_UNAVAILABLE
        pool.submit(self.invoke, name, input_text)
        return HTTPStatus.ACCEPTED


def load_app(spec: str) -> Any:
    """Import ``module:attribute`` (default attribute ``app``)."""
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr or "app")


def private_app(root: Path | None = None, attribute: str = "app") -> Any:
    """A FunctionApp of its own: ``function_app.py`` of ``root`` executed again under a private name.

    ``FunctionApp.get_functions()`` works once per app object, so an in-process host (tests, the
    stack) indexes its own copy and leaves ``function_app.app`` untouched for others.
    """
    import importlib.util

    path = Path(root or repo_root()) / "function_app.py"
    name = f"_function_app_private_{next(_PRIVATE_APPS)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise HostError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, attribute)


def main(argv: list[str] | None = None) -> int:
    """Run the host for the repository's function app until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m devhost.functions_host", description="Local Functions host")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: Host.LocalHttpPort or 7071)")
    parser.add_argument("--app", default="function_app:app", help="module:attribute of the FunctionApp")
    parser.add_argument("--root", default=str(repo_root()), help="folder with function_app.py and host.json")
    parser.add_argument("--log-level", default="INFO")
    ns = parser.parse_args(argv)
    logging.basicConfig(level=ns.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # the SDKs log every request at INFO
    root = Path(ns.root).resolve()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    local = load_local_settings(root)
    apply_to_environ(local.values)
    settings = effective_settings(local)
    port = ns.port if ns.port is not None else (local.local_http_port or DEFAULT_PORT)
    app = load_app(ns.app)
    host = FunctionsHost(app, settings, load_host_json(root), port, cors=local.cors,
                         cors_credentials=local.cors_credentials, function_directory=root)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        host.start()
    except HostError as exc:
        log.error("%s", exc)
        return 1
    print(f"devhost: listening on {host.base_url}", flush=True)
    for fn in sorted(host.functions.values(), key=lambda f: f.name):
        trigger = fn.trigger
        if isinstance(trigger, HttpTriggerInfo):
            prefix = route_prefix(host.host_json)
            route = "/".join(p for p in (prefix, trigger.route) if p)
            print(f"  {fn.name}: [{','.join(trigger.methods)}] {host.base_url}/{route}", flush=True)
        else:
            print(f"  {fn.name}: {fn.trigger_type}Trigger", flush=True)
    while not stop.is_set():
        stop.wait(1.0)
    host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
