"""Call a user function as the Python worker does: bind arguments, run sync or async, collect outputs."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

import azure.functions as func
from azure.functions import _abc as azf_abc

from devhost.host_index import RETURN, FunctionInfo

log = logging.getLogger("devhost.host")
T = TypeVar("T")


class Out(func.Out[T]):
    """The value holder passed for an output binding parameter."""

    def __init__(self) -> None:
        self._value: T | None = None

    def set(self, val: T) -> None:
        """Set the output value (the last call wins)."""
        self._value = val

    def get(self) -> T | None:  # type: ignore[override]
        """The value set so far (None when unset)."""
        return self._value


class _TraceContext(azf_abc.TraceContext):
    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return ""

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(azf_abc.RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class Context(func.Context):
    """``func.Context`` for one invocation."""

    def __init__(self, function_name: str, function_directory: str) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._tls = threading.local()
        self._tls.invocation_id = self._invocation_id

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._tls

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> azf_abc.TraceContext:
        return _TraceContext()

    @property
    def retry_context(self) -> azf_abc.RetryContext:
        return _RetryContext()


@dataclass
class Invocation:
    """The outcome of one call: the return value, output binding values, or the exception raised."""

    function: str
    error: BaseException | None = None
    value: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    invocation_id: str = ""

    @property
    def ok(self) -> bool:
        """True when the function returned normally."""
        return self.error is None


class Invoker:
    """Runs functions: sync ones on the calling thread, async ones on one shared event loop thread."""

    def __init__(self, function_directory: str) -> None:
        self._directory = function_directory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="devhost-asyncio", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def call(self, fn: FunctionInfo, trigger_value: Any) -> Invocation:
        """Invoke ``fn`` with its trigger argument; never raises for errors of the function."""
        context = Context(fn.name, self._directory)
        kwargs: dict[str, Any] = {fn.trigger.param: trigger_value}
        holders: dict[str, Out[Any]] = {}
        for output in fn.outputs:
            if output.param != RETURN:
                holders[output.param] = kwargs[output.param] = Out()
        if fn.wants_context:
            kwargs["context"] = context
        result = Invocation(function=fn.name, invocation_id=context.invocation_id)
        started = time.perf_counter()
        try:
            if fn.is_async:
                future = asyncio.run_coroutine_threadsafe(fn.func(**kwargs), self._event_loop())
                value = future.result()
            else:
                value = fn.func(**kwargs)
            returns = fn.http_return or any(o.param == RETURN for o in fn.outputs)
            if value is not None and not returns:
                raise TypeError(f"function {fn.name} without a $return binding returned a non-None value")
            result.value = value
            result.outputs = {name: holder.get() for name, holder in holders.items()}
            if any(o.param == RETURN for o in fn.outputs):
                result.outputs[RETURN] = value
        except Exception as exc:  # noqa: BLE001 - the host reports function failures, it does not crash
            result.error = exc
        result.duration_ms = (time.perf_counter() - started) * 1000.0
        return result

    def close(self) -> None:
        """Stop the event loop thread, if one was started."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()


def log_invocation(fn: FunctionInfo, invocation: Invocation, **extra: Any) -> None:
    """One line per invocation: name, trigger, duration, outcome (+ ids). Never bodies or secrets."""
    outcome = "Succeeded" if invocation.ok else "Failed"
    details = "".join(f", {k}={v}" for k, v in extra.items() if v is not None)
    line = (f"Executed 'Functions.{fn.name}' ({outcome}, trigger={fn.trigger_type}, "
            f"Id={invocation.invocation_id}, Duration={invocation.duration_ms:.0f}ms{details})")
    if invocation.ok:
        log.info(line)
    else:
        log.error(line, exc_info=invocation.error)
