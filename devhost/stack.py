"""The whole local stack: Azurite, the SMTP sink, the Microsoft stand-in and the Functions host.

``make run`` runs ``python -m devhost.stack``: it prints what runs where, writes the same to
``.run/stack.json`` and stops every child on Ctrl-C. End-to-end tests and ``make smoke`` build the
same :class:`Stack` with free ports and a temporary run folder.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.settings_loader import load_host_json, repo_root

log = logging.getLogger("devhost.stack")

GENERATED_SECRETS = ("TOKEN_ENCRYPTION_KEYS", "LINK_SIGNING_KEY", "DEVHOST_FUNCTION_KEY", "DEVHOST_MASTER_KEY")


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def generate_secrets(values: dict[str, str]) -> dict[str, str]:
    """Fill every empty local secret with a fresh random value (never committed anywhere)."""
    out = dict(values)
    makers = {
        "TOKEN_ENCRYPTION_KEYS": _fernet_key,
        "LINK_SIGNING_KEY": lambda: secrets.token_urlsafe(32),
        "DEVHOST_FUNCTION_KEY": lambda: secrets.token_urlsafe(24),
        "DEVHOST_MASTER_KEY": lambda: secrets.token_urlsafe(24),
    }
    for name in GENERATED_SECRETS:
        if not out.get(name):
            out[name] = makers[name]()
    return out


def ensure_local_settings(root: Path) -> Path:
    """Create ``local.settings.json`` from the sample with generated secrets, once; return its path."""
    path = root / "local.settings.json"
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        values = generate_secrets({k: str(v) for k, v in data.get("Values", {}).items()})
        if values != data.get("Values"):
            data["Values"] = values
            path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return path
    data = json.loads((root / "local.settings.sample.json").read_text(encoding="utf-8"))
    data["Values"] = generate_secrets({k: str(v) for k, v in data.get("Values", {}).items()})
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def _is_loopback_url(url: str) -> bool:
    """True for an empty URL or one on 127.0.0.1 / localhost (then the host's own URL is used)."""
    from urllib.parse import urlsplit

    if not url:
        return True
    try:
        return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")
    except ValueError:
        return False


def _with_port(url: str, port: int) -> str:
    """``url`` (scheme and host kept: an Entra redirect URI may name ``localhost``) with ``port``; "" if empty."""
    from urllib.parse import urlsplit, urlunsplit

    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme or "http", f"{host}:{port}", parts.path.rstrip("/"), "", ""))


def uses_real_microsoft(values: dict[str, str]) -> bool:
    """True when the settings name a real Entra app (then the stand-in is not used)."""
    return bool(values.get("MICROSOFT_CLIENT_ID")) and bool(values.get("MICROSOFT_CLIENT_SECRET"))


@dataclass
class StackConfig:
    """Where and how the stack runs."""

    root: Path = field(default_factory=repo_root)
    run_dir: Path | None = None
    http_port: int = 7071
    blob_port: int = 10000
    queue_port: int = 10001
    table_port: int = 10002
    smtp_port: int = 8025
    standin_port: int = 0
    azurite_location: Path | None = None
    values: dict[str, str] | None = None  # None: local.settings.json (created from the sample)
    standin: bool | None = None  # None: use it unless real Microsoft settings are given
    standin_latency_ms: int = 0
    cert_dir: Path | None = None  # None: <root>/.devcerts, or <run_dir>/devcerts when run_dir is given
    host_json_overrides: dict[str, Any] = field(default_factory=dict)
    separate_queue_service: bool = False  # queues on an Azurite of their own, which a test may stop alone


class Stack:
    """Starts and stops the local stack; ``describe()`` is what ``.run/stack.json`` holds."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        root = self.config.root
        self.run_dir = self.config.run_dir or root / ".run"
        self.outbox_dir = self.run_dir / "outbox"
        self.azurite: Any = None
        self.queue_azurite: Any = None  # config.separate_queue_service: the Azurite whose queue service is used
        self.smtp: Any = None
        self.standin: Any = None
        self.google_standin: Any = None
        self.host: Any = None
        self.values: dict[str, str] = {}
        self._saved_environ: dict[str, str] | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> Stack:
        """Start every part; on failure, stop what was started and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from devhost.azurite import connection_string, start_azurite
        from devhost.smtp_sink import SmtpSink

        cfg = self.config
        root = cfg.root
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if cfg.values is None:
            settings_path = ensure_local_settings(root)
            values = json.loads(settings_path.read_text(encoding="utf-8")).get("Values", {})
            values.update({k: os.environ[k] for k in values if os.environ.get(k)})  # the environment wins
        else:
            values = dict(cfg.values)
        values = generate_secrets({k: str(v) for k, v in values.items()})

        self.azurite = start_azurite(
            str(cfg.azurite_location or root / ".azurite"),
            blob_port=cfg.blob_port, queue_port=cfg.queue_port, table_port=cfg.table_port,
        )
        values["AzureWebJobsStorage"] = self.azurite.connection_string
        if cfg.separate_queue_service:
            self.start_queue_service()
            values["AzureWebJobsStorage"] = connection_string(self.azurite.blob_port, self.queue_azurite.queue_port,
                                                              self.azurite.table_port)

        self.smtp = SmtpSink(self.outbox_dir, port=cfg.smtp_port).start()
        values["SMTP_HOST"] = "127.0.0.1"
        values["SMTP_PORT"] = str(self.smtp.port)
        values["MAIL_TRANSPORT"] = "smtp"

        use_standin = cfg.standin if cfg.standin is not None else not uses_real_microsoft(values)
        if use_standin:
            from devhost.msstandin.server import StandIn

            # Each stack gets its own CA file: the stand-in makes a new CA on every start, and a shared
            # bundle would be replaced under a stack that is still running (make run + make smoke/tests).
            cert_dir = cfg.cert_dir or (self.run_dir / "devcerts" if cfg.run_dir else root / ".devcerts")
            self.standin = StandIn(port=cfg.standin_port, cert_dir=cert_dir,
                                   latency_ms=cfg.standin_latency_ms).start()
            values.update({
                "MICROSOFT_CLIENT_ID": self.standin.client_id,
                "MICROSOFT_CLIENT_SECRET": self.standin.client_secret or "",
                "MICROSOFT_AUTHORITY_HOST": self.standin.authority_host,
                "GRAPH_BASE_URL": self.standin.graph_base_url,
                "MICROSOFT_CA_BUNDLE": str(self.standin.ca_bundle_path),
            })
        if use_standin and not values.get("GOOGLE_CLIENT_ID"):
            self._start_google_standin(values)

        from devhost.functions_host import FunctionsHost, private_app

        host_json = load_host_json(root)
        for key, value in cfg.host_json_overrides.items():
            host_json.setdefault("extensions", {}).setdefault(key, {}).update(value)
        port = cfg.http_port
        configured_url = values.get("PUBLIC_BASE_URL", "")
        if not port or _is_loopback_url(configured_url):
            # a loopback base URL (the sample's http://127.0.0.1:7071) follows the port really bound
            values["PUBLIC_BASE_URL"] = ""  # known once the host has bound its port
        self.values = values
        self._saved_environ = dict(os.environ)
        os.environ.update(values)  # the functions read os.environ; the stack's own values win
        from shared import bootstrap

        bootstrap.install(None)  # forget adapters built for other settings
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))

        self.host = FunctionsHost(private_app(root), values, host_json, port=port, function_directory=root)
        self.host.start()
        if not values["PUBLIC_BASE_URL"]:
            public = _with_port(configured_url, self.host.port) if _is_loopback_url(configured_url) else ""
            public = public or self.host.base_url
            values["PUBLIC_BASE_URL"] = public
            os.environ["PUBLIC_BASE_URL"] = public
            self.host.settings["PUBLIC_BASE_URL"] = public

    def start_queue_service(self) -> None:
        """(Re)start the queue-only Azurite of ``separate_queue_service`` on its port, with its data kept."""
        from devhost.azurite import start_azurite

        port = self.queue_azurite.queue_port if self.queue_azurite is not None else 0
        self.queue_azurite = start_azurite(str(self.azurite.location / "queues"), queue_port=port)

    def stop_queue_service(self) -> None:
        """Stop the queue service alone (``separate_queue_service``): tables and the rest keep answering."""
        if self.queue_azurite is None:
            raise RuntimeError("this stack runs no separate queue service (StackConfig.separate_queue_service)")
        self.queue_azurite.stop()

    def _start_google_standin(self, values: dict[str, str]) -> None:
        """Google's OAuth endpoints and Calendar v3, locally (``devhost/googlestandin``)."""
        from devhost.googlestandin import GoogleStandIn

        self.google_standin = GoogleStandIn().start()
        values.update({
            "GOOGLE_CLIENT_ID": self.google_standin.client_id,
            "GOOGLE_CLIENT_SECRET": self.google_standin.client_secret,
            "GOOGLE_AUTHORIZATION_ENDPOINT": self.google_standin.authorization_endpoint,
            "GOOGLE_TOKEN_ENDPOINT": self.google_standin.token_endpoint,
            "GOOGLE_CALENDAR_BASE_URL": self.google_standin.calendar_base_url,
        })

    def stop(self) -> None:
        """Stop every part that was started (safe to call twice)."""
        for part in ("host", "standin", "google_standin", "smtp", "queue_azurite", "azurite"):
            obj = getattr(self, part)
            if obj is not None:
                try:
                    obj.stop()
                except Exception:  # noqa: BLE001 - keep stopping the others
                    log.exception("stopping %s failed", part)
                setattr(self, part, None)
        if self._saved_environ is not None:  # leave the process as it was (tests run stacks in-process)
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None
            from shared import bootstrap

            bootstrap.install(None)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- facts
    @property
    def base_url(self) -> str:
        """The Functions host's base URL."""
        return str(self.host.base_url)

    @property
    def function_key(self) -> str:
        """The function key in use."""
        return self.values.get("DEVHOST_FUNCTION_KEY", "")

    @property
    def master_key(self) -> str:
        """The master key in use."""
        return self.values.get("DEVHOST_MASTER_KEY", "")

    def describe(self) -> dict[str, Any]:
        """What runs where (the content of ``.run/stack.json``)."""
        pids = {"stack": os.getpid()}
        if self.azurite is not None:
            pids["azurite"] = self.azurite.pid
        info: dict[str, Any] = {
            "functions_host": {"base_url": self.base_url, "port": self.host.port if self.host else None},
            "keys": {"function": self.function_key, "master": self.master_key},
            "azurite": {"connection_string": self.values.get("AzureWebJobsStorage"),
                        "ports": self.azurite.ports if self.azurite else None},
            "smtp": {"host": "127.0.0.1", "port": self.smtp.port if self.smtp else None},
            "outbox_dir": str(self.outbox_dir),
            "microsoft": {
                "mode": "stand-in" if self.standin else "microsoft",
                "authority_host": self.values.get("MICROSOFT_AUTHORITY_HOST"),
                "graph_base_url": self.values.get("GRAPH_BASE_URL"),
                "standin_base_url": self.standin.base_url if self.standin else None,
                "ca_bundle": self.values.get("MICROSOFT_CA_BUNDLE") or None,
            },
            "google": {
                "mode": "stand-in" if self.google_standin else ("google" if self.values.get("GOOGLE_CLIENT_ID")
                                                                else "not configured"),
                "standin_base_url": self.google_standin.base_url if self.google_standin else None,
                "authorization_endpoint": self.values.get("GOOGLE_AUTHORIZATION_ENDPOINT") or None,
                "token_endpoint": self.values.get("GOOGLE_TOKEN_ENDPOINT") or None,
                "calendar_base_url": self.values.get("GOOGLE_CALENDAR_BASE_URL") or None,
            },
            "pids": pids,
        }
        return info

    def write_description(self, extra: dict[str, Any] | None = None) -> Path:
        """Write ``stack.json`` into the run folder."""
        path = self.run_dir / "stack.json"
        path.write_text(json.dumps({**self.describe(), **(extra or {})}, indent=2) + "\n", encoding="utf-8")
        return path


def main(argv: list[str] | None = None) -> int:
    """``make run``: start the stack, seed the demo, print where everything is, wait for Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m devhost.stack", description=__doc__)
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--no-seed", action="store_true", help="do not seed the demo workspace")
    parser.add_argument("--free-ports", action="store_true", help="bind every service to a free port")
    parser.add_argument("--run-dir", type=Path, default=None, help="folder of stack.json and the outbox")
    parser.add_argument("--azurite-location", type=Path, default=None, help="Azurite's data folder")
    parser.add_argument("--sample-settings", action="store_true",
                        help="use local.settings.sample.json as is (do not create local.settings.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("azure", "urllib3", "msal"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    config = StackConfig(http_port=args.port, run_dir=args.run_dir, azurite_location=args.azurite_location)
    if args.free_ports:
        config.http_port = config.blob_port = config.queue_port = config.table_port = config.smtp_port = 0
    if args.sample_settings:
        sample = json.loads((config.root / "local.settings.sample.json").read_text(encoding="utf-8"))
        config.values = {k: str(v) for k, v in sample.get("Values", {}).items()}
    stack = Stack(config)
    try:
        stack.start()
        demo: dict[str, Any] = {}
        if not args.no_seed:
            from devhost.demo import seed_demo

            demo = seed_demo(stack)
        path = stack.write_description({"demo": demo})
        print_banner(stack, demo, path)
        stop.wait()
    finally:
        print("\nstopping ...", flush=True)
        stack.stop()
        (stack.run_dir / "stack.json").unlink(missing_ok=True)  # make smoke must not find a dead stack
    return 0


def print_banner(stack: Stack, demo: dict[str, Any], path: Path) -> None:
    """What is running and where, for a person."""
    info = stack.describe()
    lines = [
        "",
        "bookbridge is running locally",
        f"  functions host   {info['functions_host']['base_url']}   (try: curl {stack.base_url}/api/health)",
        f"  azurite          ports {info['azurite']['ports']}",
        f"  smtp sink        127.0.0.1:{info['smtp']['port']}   received mail -> {info['outbox_dir']}",
        f"  microsoft        {info['microsoft']['mode']}"
        + (f"   {info['microsoft']['standin_base_url']}" if stack.standin else ""),
        f"  google           {info['google']['mode']}"
        + (f"   {info['google']['standin_base_url']}" if stack.google_standin else ""),
        f"  function key     {stack.function_key}",
        f"  described in     {path}",
    ]
    for line in demo.get("instructions", []):
        lines.append(f"  {line}")
    lines.append("Press Ctrl-C to stop everything.")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
