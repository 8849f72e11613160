"""Start and stop Azurite (the local Azure Storage emulator) for development and tests.

Azurite comes from ``node_modules/.bin/azurite`` in the repository root (``npm install``). Each
instance gets its own data folder and, with port 0, free ports chosen by the operating system
(read back from Azurite's own start-up lines), so several test sessions can run side by side.

``python -m devhost.azurite [--location .azurite] [--blob-port 10000 ...]`` runs one in the
foreground and prints its connection string.
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from devhost.settings_loader import repo_root

ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
LOOPBACK = "127.0.0.1"
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at https?://[^:/\s]+:(\d+)")


class AzuriteError(RuntimeError):
    """Azurite could not be started."""


def connection_string(blob_port: int, queue_port: int, table_port: int, host: str = LOOPBACK) -> str:
    """The well-known development account's connection string with explicit endpoints."""
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://{host}:{blob_port}/{ACCOUNT_NAME};"
        f"QueueEndpoint=http://{host}:{queue_port}/{ACCOUNT_NAME};"
        f"TableEndpoint=http://{host}:{table_port}/{ACCOUNT_NAME};"
    )


def azurite_binary(root: Path | None = None) -> Path:
    """Path of the Azurite launcher installed by npm in the repository root."""
    return (root or repo_root()) / "node_modules" / ".bin" / "azurite"


@dataclass(eq=False)
class Azurite:
    """A running Azurite process (started by :func:`start_azurite`)."""

    process: subprocess.Popen[bytes]
    blob_port: int
    queue_port: int
    table_port: int
    location: Path
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        """Process id (also the process group id)."""
        return self.process.pid

    @property
    def connection_string(self) -> str:
        """Connection string for the blob, queue and table endpoints of this instance."""
        return connection_string(self.blob_port, self.queue_port, self.table_port)

    @property
    def ports(self) -> dict[str, int]:
        """``{"blob": ..., "queue": ..., "table": ...}``."""
        return {"blob": self.blob_port, "queue": self.queue_port, "table": self.table_port}

    def is_running(self) -> bool:
        """True while the process has not exited."""
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the whole process group (SIGTERM, then SIGKILL) and reap it. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        _RUNNING.discard(self)
        _kill_group(self.process, timeout)

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class ExternalStorage:
    """Storage that somebody else runs (for example ``BOOKBRIDGE_TEST_STORAGE``): stop() does nothing."""

    connection_string: str

    def stop(self) -> None:
        """Nothing to stop."""


_RUNNING: set[Azurite] = set()


def _kill_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    # children may outlive the leader: always sweep the group we created
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:  # pragma: no cover - the kernel reaps SIGKILLed processes
        pass


@atexit.register
def _stop_all() -> None:
    for instance in list(_RUNNING):
        instance.stop()


def _answers(port: int, timeout: float = 1.0) -> bool:
    """True when an HTTP request to the port gets any HTTP answer."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def start_azurite(
    location: Path | str,
    *,
    blob_port: int = 0,
    queue_port: int = 0,
    table_port: int = 0,
    root: Path | None = None,
    timeout: float = 60.0,
    in_memory: bool = False,
) -> Azurite:
    """Start Azurite on loopback with its data in ``location``; port 0 means a free port.

    Returns once every service answers HTTP; raises :class:`AzuriteError` otherwise.
    """
    binary = azurite_binary(root)
    if not binary.exists():
        raise AzuriteError(f"Azurite is not installed ({binary.name} missing): run `npm install` in the repo root")
    data = Path(location)
    data.mkdir(parents=True, exist_ok=True)
    log_path = data / "azurite.log"  # truncated below: start-up lines are always this run's
    args = [
        str(binary),
        "--blobHost", LOOPBACK, "--blobPort", str(blob_port),
        "--queueHost", LOOPBACK, "--queuePort", str(queue_port),
        "--tableHost", LOOPBACK, "--tablePort", str(table_port),
        "--location", str(data),
        "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent",
    ]
    if in_memory:
        args.append("--inMemoryPersistence")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=str(data), start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    ports: dict[str, int] = {}
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AzuriteError(f"Azurite exited with code {process.returncode}: {_tail(log_path)}")
            ports = {m.group(1).lower(): int(m.group(2)) for m in _LISTENING.finditer(_read(log_path))}
            if len(ports) == 3 and all(_answers(p) for p in ports.values()):
                break
            time.sleep(0.1)
        else:
            raise AzuriteError(f"Azurite did not answer within {timeout:.0f}s: {_tail(log_path)}")
    except BaseException:
        _kill_group(process, 5.0)
        raise
    instance = Azurite(process, ports["blob"], ports["queue"], ports["table"], data, log_path)
    _RUNNING.add(instance)
    return instance


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _tail(path: Path, lines: int = 10) -> str:
    return " | ".join(_read(path).strip().splitlines()[-lines:])


def main(argv: list[str] | None = None) -> int:
    """Run Azurite in the foreground until SIGINT/SIGTERM, printing its connection string."""
    parser = argparse.ArgumentParser(prog="python -m devhost.azurite", description=__doc__)
    parser.add_argument("--location", default=str(repo_root() / ".azurite"), help="data folder")
    parser.add_argument("--blob-port", type=int, default=10000)
    parser.add_argument("--queue-port", type=int, default=10001)
    parser.add_argument("--table-port", type=int, default=10002)
    ns = parser.parse_args(argv)
    instance = start_azurite(ns.location, blob_port=ns.blob_port, queue_port=ns.queue_port, table_port=ns.table_port)
    print(f"Azurite running (pid {instance.pid}); AzureWebJobsStorage={instance.connection_string}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set() and instance.is_running():
        stop.wait(0.5)
    instance.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
