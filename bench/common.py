"""Helpers shared by the figures: storage request counting, Azurite, statistics, the connect flow."""
from __future__ import annotations

import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- counting storage requests
class RequestCounter:
    """Counts every HTTP request the storage SDKs put on the wire (retries included), by kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_kind: Counter[str] = Counter()

    def add(self, method: str, url: str, service: str = "table") -> None:
        key = f"{method} {resource_of(url, service)}"
        with self._lock:
            self.by_kind[key] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.by_kind.values())

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.by_kind)

    def reset(self) -> None:
        with self._lock:
            self.by_kind.clear()


def resource_of(url: str, service: str = "table") -> str:
    """``calendarslugs`` / ``$batch`` / ``queue:meetings`` ... from a storage URL (keys left out)."""
    parts = [p for p in unquote(urlsplit(url).path).split("/") if p]
    if parts and parts[0] == "devstoreaccount1":  # Azurite puts the account in the path
        parts = parts[1:]
    if not parts:
        return "account" if service == "table" else "queue:account"
    head = parts[0].split("(", 1)[0]
    return f"queue:{head}" if service == "queue" else head


def counting_transport(counter: RequestCounter, service: str = "table", **kwargs: Any) -> Any:
    """An azure-core ``RequestsTransport`` that tells ``counter`` about every request it sends."""
    from azure.core.pipeline.transport import RequestsTransport

    class CountingTransport(RequestsTransport):  # type: ignore[misc]
        def send(self, request: Any, **kw: Any) -> Any:  # noqa: D401 - azure-core signature
            counter.add(request.method, request.url, service)
            return super().send(request, **kw)

    return CountingTransport(**kwargs)


def storage_services(connection_string: str, counter: RequestCounter | None = None) -> tuple[Any, Any]:
    """Table and queue service clients with the app's client options (and counting, when asked)."""
    from azure.data.tables import TableServiceClient
    from azure.storage.queue import QueueServiceClient

    from shared.adapters.storage_account import DEFAULT_CLIENT_OPTIONS

    t_opts: dict[str, Any] = dict(DEFAULT_CLIENT_OPTIONS)
    q_opts: dict[str, Any] = dict(DEFAULT_CLIENT_OPTIONS)
    if counter is not None:
        t_opts["transport"] = counting_transport(counter)
        q_opts["transport"] = counting_transport(counter, "queue")
    return (TableServiceClient.from_connection_string(connection_string, **t_opts),
            QueueServiceClient.from_connection_string(connection_string, **q_opts))


def app_ports(connection_string: str, counter: RequestCounter | None = None) -> tuple[Any, Any]:
    """The app's own ``TableEntityStore`` and ``StorageMessageQueue`` on these clients."""
    from shared.adapters.queue_store import StorageMessageQueue
    from shared.adapters.table_store import TableEntityStore

    tables, queues = storage_services(connection_string, counter)
    return TableEntityStore(tables), StorageMessageQueue(queues)


# ----------------------------------------------------------------------------- Azurite
@contextmanager
def azurite(location: Path, *, in_memory: bool = False) -> Iterator[Any]:
    """A private Azurite on free ports, stopped afterwards."""
    from devhost.azurite import start_azurite

    instance = start_azurite(location, in_memory=in_memory)
    try:
        yield instance
    finally:
        instance.stop()


# ----------------------------------------------------------------------------- statistics
def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank-interpolated percentile (``q`` in 0..100)."""
    if not values:
        return float("nan")
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return float(data[lo] + (data[hi] - data[lo]) * (pos - lo))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def log(message: str) -> None:
    """Progress for a person (stderr, so stdout keeps only the BENCH lines and the summary)."""
    import sys

    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- the stand-in's sign-in
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')
_ACTION = re.compile(r'<form method="post" action="([^"]*)"')


def sign_in_at_standin(authorize_url: str, upn: str, ca_bundle: str, timeout: float = 30) -> tuple[str, dict[str, str]]:
    """The browser's part at the stand-in: authorize with ``login_hint`` (consent is immediate).

    Returns the callback URL and the fields of the ``form_post`` answer (``code``, ``state``, ...).
    """
    import requests

    with requests.Session() as s:
        s.trust_env = False
        s.verify = ca_bundle
        page = s.get(authorize_url, params={"login_hint": upn}, timeout=timeout)
    if page.status_code != 200:
        raise RuntimeError(f"stand-in authorize answered {page.status_code}")
    fields = {unescape(k): unescape(v) for k, v in _HIDDEN.findall(page.text)}
    action = _ACTION.search(page.text)
    if not fields.get("code") or action is None:
        raise RuntimeError("stand-in authorize gave no code (form_post page expected)")
    return unescape(action.group(1)), fields
