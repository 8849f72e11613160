"""Discover the functions of a Python v2 ``FunctionApp`` the way the worker indexes them.

``app.get_functions()`` validates names into state kept on the app, so a second call on the same
app object fails: the result is cached here per app object.
"""
from __future__ import annotations

import enum
import inspect
import logging
import threading
import typing
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("devhost.index")

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
CONTEXT_PARAM = "context"
RETURN = "$return"

_CACHE: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def app_functions(app: Any) -> list[Any]:
    """``app.get_functions()``, called at most once per app object."""
    with _CACHE_LOCK:
        try:
            cached = _CACHE.get(app)
        except TypeError:  # an unhashable or non-weakrefable app: no cache possible
            return list(app.get_functions())
        if cached is None:
            cached = list(app.get_functions())
            _CACHE[app] = cached
        return list(cached)


@dataclass(frozen=True)
class HttpTriggerInfo:
    """An ``httpTrigger`` binding."""

    param: str
    route: str
    methods: tuple[str, ...]
    auth_level: str


@dataclass(frozen=True)
class QueueTriggerInfo:
    """A ``queueTrigger`` binding (queue name and connection still unresolved)."""

    param: str
    queue_name: str
    connection: str
    annotation: Any = None


@dataclass(frozen=True)
class TimerTriggerInfo:
    """A ``timerTrigger`` binding (schedule still unresolved)."""

    param: str
    schedule: str
    run_on_startup: bool
    use_monitor: bool


@dataclass(frozen=True)
class QueueOutputInfo:
    """A ``queue`` output binding; ``param`` is ``$return`` for the return value."""

    param: str
    queue_name: str
    connection: str


TriggerInfo = HttpTriggerInfo | QueueTriggerInfo | TimerTriggerInfo


@dataclass(frozen=True)
class FunctionInfo:
    """One indexed function: its trigger, queue outputs and how to call it."""

    name: str
    func: Callable[..., Any]
    trigger: TriggerInfo
    outputs: tuple[QueueOutputInfo, ...] = ()
    http_return: bool = False
    wants_context: bool = False
    is_async: bool = False
    params: tuple[str, ...] = field(default_factory=tuple)

    @property
    def trigger_type(self) -> str:
        """``http``, ``queue`` or ``timer``."""
        return {HttpTriggerInfo: "http", QueueTriggerInfo: "queue", TimerTriggerInfo: "timer"}[type(self.trigger)]


class FunctionIndexError(ValueError):
    """A function the worker would refuse to index."""


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _binding_dict(binding: Any) -> dict[str, Any]:
    return {k: _plain(v) for k, v in binding.get_dict_repr().items()}


def _hints(func: Callable[..., Any]) -> Mapping[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - unresolvable forward references: fall back to raw annotations
        return getattr(func, "__annotations__", {})


def _trigger_info(data: Mapping[str, Any], name: str, annotation: Any) -> TriggerInfo:
    kind = data.get("type")
    param = str(data["name"])
    if kind == "httpTrigger":
        methods = tuple(str(m).upper() for m in (data.get("methods") or HTTP_METHODS))
        return HttpTriggerInfo(param, str(data.get("route") or name), methods,
                               str(data.get("authLevel") or "function").lower())
    if kind == "queueTrigger":
        return QueueTriggerInfo(param, str(data["queueName"]), str(data.get("connection") or ""), annotation)
    if kind == "timerTrigger":
        return TimerTriggerInfo(param, str(data["schedule"]), bool(data.get("runOnStartup") or False),
                                bool(data.get("useMonitor") or False))
    raise FunctionIndexError(f"trigger type '{kind}' is not supported by devhost")


def describe(function: Any) -> FunctionInfo:
    """Build a :class:`FunctionInfo` from an ``azure.functions`` ``Function``; raises FunctionIndexError."""
    name = function.get_function_name()
    func = function.get_user_function()
    trigger = function.get_trigger()
    if trigger is None:
        raise FunctionIndexError(f"function {name} has no trigger")
    hints = _hints(func)
    params = tuple(inspect.signature(func).parameters)
    trigger_data = _binding_dict(trigger)
    info = _trigger_info(trigger_data, name, hints.get(str(trigger_data["name"])))
    outputs: list[QueueOutputInfo] = []
    http_return = False
    names = {info.param}
    for binding in function.get_bindings():
        if binding is trigger:
            continue
        data = _binding_dict(binding)
        kind, param = data.get("type"), str(data.get("name"))
        names.add(param)
        if kind == "http" and param == RETURN:
            http_return = True
        elif kind == "queue" and data.get("direction") == 1:
            outputs.append(QueueOutputInfo(param, str(data["queueName"]), str(data.get("connection") or "")))
        else:
            raise FunctionIndexError(f"binding '{param}' of type '{kind}' is not supported by devhost")
    missing = [p for p in params if p not in names and p != CONTEXT_PARAM]
    if missing:
        raise FunctionIndexError(f"function {name}: parameters {missing} are not bound to any binding")
    unbound = [n for n in names if n != RETURN and n not in params]
    if unbound:
        raise FunctionIndexError(f"function {name}: bindings {sorted(unbound)} have no function parameter")
    return FunctionInfo(
        name=name,
        func=func,
        trigger=info,
        outputs=tuple(outputs),
        http_return=http_return,
        wants_context=CONTEXT_PARAM in params and CONTEXT_PARAM not in names,
        is_async=inspect.iscoroutinefunction(func),
        params=params,
    )


def index_app(app: Any) -> tuple[list[FunctionInfo], dict[str, str]]:
    """All functions the host can run, and the errors of those it cannot (name -> reason)."""
    found: list[FunctionInfo] = []
    errors: dict[str, str] = {}
    for function in app_functions(app):
        try:
            found.append(describe(function))
        except (FunctionIndexError, KeyError) as exc:
            errors[function.get_function_name()] = str(exc)
    return found, errors


def function_metadata(fn: FunctionInfo, base_url: str, route_prefix: str) -> dict[str, Any]:
    """One entry of the host's ``GET /admin/functions`` (the fields of the real host's function metadata)."""
    trigger = fn.trigger
    binding: dict[str, Any] = {"name": trigger.param, "direction": "in"}
    invoke_url = ""
    if isinstance(trigger, HttpTriggerInfo):
        binding.update(type="httpTrigger", route=trigger.route, methods=[m.lower() for m in trigger.methods],
                       authLevel=trigger.auth_level)
        prefix = f"/{route_prefix}" if route_prefix else ""
        invoke_url = f"{base_url}{prefix}/{trigger.route}"
    elif isinstance(trigger, QueueTriggerInfo):
        binding.update(type="queueTrigger", queueName=trigger.queue_name, connection=trigger.connection)
    else:
        binding.update(type="timerTrigger", schedule=trigger.schedule, runOnStartup=trigger.run_on_startup,
                       useMonitor=trigger.use_monitor)
    bindings = [binding] + [{"name": o.param, "direction": "out", "type": "queue", "queueName": o.queue_name,
                             "connection": o.connection} for o in fn.outputs]
    return {"name": fn.name, "href": f"{base_url}/admin/functions/{fn.name}", "invoke_url_template": invoke_url,
            "language": "python", "config": {"bindings": bindings}, "isDisabled": False, "isDirect": True,
            "isProxy": False}
