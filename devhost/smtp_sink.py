"""A real SMTP server on loopback that keeps every message it receives as an ``.eml`` file.

Local runs and tests point ``SMTP_HOST``/``SMTP_PORT`` at it. Each accepted message is
written atomically (temporary file + rename) to ``outbox_dir`` as
``<UTC timestamp>-<sequence>-<short id>.eml``, so file names sort by arrival. Recipients
matching ``reject_pattern`` (default: any address at ``bounce.invalid``) get
``550 5.1.1`` and those matching ``tempfail_pattern`` (default: ``tempfail.invalid``)
get ``451 4.3.0``, so permanent and transient failures can be exercised.

Python::

    sink = SmtpSink(tmp_path, port=0).start()
    ... sink.port ... sink.messages() ...
    sink.stop()

Command line::

    python -m devhost.smtp_sink --port 8025 --outbox .local/outbox
"""
from __future__ import annotations

import argparse
import email
import email.policy
import itertools
import os
import re
import signal
import tempfile
import threading
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

#: Recipients refused with 550 unless told otherwise.
DEFAULT_REJECT_PATTERN = r"@bounce\.invalid$"
#: Recipients refused with 451 unless told otherwise.
DEFAULT_TEMPFAIL_PATTERN = r"@tempfail\.invalid$"


class _SinkHandler:
    """aiosmtpd handler: checks recipients, stores message data."""

    def __init__(self, outbox: Path, reject: re.Pattern[str] | None, tempfail: re.Pattern[str] | None) -> None:
        self._outbox = outbox
        self._reject = reject
        self._tempfail = tempfail
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if self._reject is not None and self._reject.search(address):
            return "550 5.1.1 Recipient address rejected (sink reject pattern)"
        if self._tempfail is not None and self._tempfail.search(address):
            return "451 4.3.0 Temporary failure (sink tempfail pattern)"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or envelope.content
        if isinstance(data, str):  # pragma: no cover - decode_data=False gives bytes
            data = data.encode("utf-8", "surrogateescape")
        trace = (f"X-Sink-MailFrom: {envelope.mail_from}\r\n"
                 f"X-Sink-RcptTo: {', '.join(envelope.rcpt_tos)}\r\n").encode("utf-8", "replace")
        self.store(trace + data)
        return "250 Message accepted for delivery"

    def store(self, data: bytes) -> Path:
        """Write ``data`` atomically as the next ``.eml`` file and return its path."""
        with self._lock:
            seq = next(self._sequence)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            name = f"{stamp}-{seq:06d}-{uuid.uuid4().hex[:8]}.eml"
            fd, tmp = tempfile.mkstemp(prefix=".incoming-", suffix=".tmp", dir=self._outbox)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                target = self._outbox / name
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            return target


class _Controller(Controller):
    """A Controller that learns the real port when asked to listen on port 0."""

    def _trigger_server(self) -> None:
        sockets = getattr(self.server, "sockets", None)
        if self.port == 0 and sockets:
            self.port = int(sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpSink:
    """The sink: a threaded aiosmtpd server on ``host`` (loopback) storing into ``outbox_dir``."""

    def __init__(
        self,
        outbox_dir: str | os.PathLike[str],
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        reject_pattern: str | None = DEFAULT_REJECT_PATTERN,
        tempfail_pattern: str | None = DEFAULT_TEMPFAIL_PATTERN,
    ) -> None:
        self.outbox_dir = Path(outbox_dir)
        self.host = host
        self._requested_port = port
        self._handler = _SinkHandler(
            self.outbox_dir,
            re.compile(reject_pattern, re.IGNORECASE) if reject_pattern else None,
            re.compile(tempfail_pattern, re.IGNORECASE) if tempfail_pattern else None,
        )
        self._controller: _Controller | None = None

    @property
    def port(self) -> int:
        """The port the sink listens on (the real one once started with ``port=0``)."""
        return self._controller.port if self._controller is not None else self._requested_port

    def start(self) -> SmtpSink:
        """Start listening; returns ``self``."""
        if self._controller is not None:
            raise RuntimeError("the SMTP sink is already running")
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        controller = _Controller(
            self._handler, hostname=self.host, port=self._requested_port,
            server_hostname="bookbridge-smtp-sink", enable_SMTPUTF8=True,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening (no-op when not running)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def paths(self) -> list[Path]:
        """Stored ``.eml`` files, oldest first."""
        if not self.outbox_dir.is_dir():
            return []
        return sorted(self.outbox_dir.glob("*.eml"), key=lambda p: p.name)

    def messages(self) -> list[EmailMessage]:
        """Stored messages, parsed, oldest first."""
        result: list[EmailMessage] = []
        for path in self.paths():
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            result.append(msg)
        return result


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: run the sink until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8025, help="port to listen on (0: any free port)")
    parser.add_argument("--outbox", required=True, help="folder the .eml files are written to")
    parser.add_argument("--reject-pattern", default=DEFAULT_REJECT_PATTERN,
                        help="regex of recipients refused with 550 ('' for none)")
    parser.add_argument("--tempfail-pattern", default=DEFAULT_TEMPFAIL_PATTERN,
                        help="regex of recipients refused with 451 ('' for none)")
    args = parser.parse_args(argv)

    sink = SmtpSink(args.outbox, args.port, host=args.host,
                    reject_pattern=args.reject_pattern or None,
                    tempfail_pattern=args.tempfail_pattern or None)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sink.start()
    print(f"SMTP sink listening on {sink.host}:{sink.port}, writing to {sink.outbox_dir}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sink.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
