"""Browser tests: Debian's Chromium driven by Playwright against the local Functions host on Azurite.

The stack is started by the tests themselves (package scope), all on free loopback ports:
Azurite (``azurite`` fixture of tests/conftest.py), the SMTP sink, a static server playing "another
site" for the widget (its origin goes into ``CORS_ALLOWED_ORIGINS``) and ``devhost.FunctionsHost``
running ``function_app.app``. The meeting worker is disabled so that a Teams booking stays
``pending`` until a test writes its link (the page's polling is what is tested here).

Chromium is never downloaded: ``/usr/bin/chromium`` from Debian (``make browser``) or
``BOOKBRIDGE_CHROMIUM``. When it is missing the tests FAIL with a message saying how to install it.
Screenshots go to ``tests/artifacts/screenshots/`` (ignored by git) for a person to look at.
"""
from __future__ import annotations

import base64
import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
CHROMIUM_ENV = "BOOKBRIDGE_CHROMIUM"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


# ------------------------------------------------------------------------------------ the stack
@dataclass
class Calendar:
    """A calendar made through the management API for one test."""

    workspace: str
    calendar: str
    slug: str
    users: list[str]
    timezone: str
    duration_minutes: int
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stack:
    """The running host and its companions."""

    host: Any
    site: Any
    smtp: Any
    store: Any
    google: Any = None  # the Google stand-in (devhost.googlestandin), for Google members (issue 20)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the app."""
        return self.host.base_url

    @property
    def api(self) -> str:
        """``http://127.0.0.1:<port>/api``."""
        return f"{self.host.base_url}/api"

    def page_url(self, slug: str) -> str:
        """The public booking page of a calendar."""
        return f"{self.api}/book/{slug}"

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """An HTTP call to the app (``requests.Response``)."""
        import requests

        return requests.request(method, f"{self.api}/{path.lstrip('/')}", json=body, timeout=30, **kwargs)

    def make_calendar(self, *, location: str = "custom", tz: str = "Europe/London", duration: int = 30,
                      hours: tuple[str, str] | None = ("09:00", "17:00"), name: str = "Intro call",
                      host_name: str = "Dana Whitfield", max_days_ahead: int = 60,
                      minimum_notice_minutes: int = 60) -> Calendar:
        """A workspace, one host and a personal calendar open every day (``hours`` in ``tz``)."""
        tag = uuid.uuid4().hex[:8]
        ws, user, cal, slug = f"ws-{tag}", f"dana-{tag}", f"cal-{tag}", f"intro-{tag}"
        assert self.call("PUT", f"workspaces/{ws}", {"name": "Acme Consulting"}).status_code in (200, 201)
        user_body = {"name": host_name, "email": f"dana-{tag}@acme.example", "timezone": tz}
        assert self.call("PUT", f"workspaces/{ws}/users/{user}", user_body).status_code in (200, 201)
        member: dict[str, Any] = {"user": user, "meeting_location": location}
        if location == "custom":
            member["custom_url"] = f"https://meet.acme.example/room/{tag}"
        days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        weekly = {d: [{"start": hours[0], "end": hours[1]}] for d in days} if hours else {}
        body = {
            "slug": slug, "name": name, "type": "personal", "timezone": tz, "duration_minutes": duration,
            "weekly_hours": weekly, "minimum_notice_minutes": minimum_notice_minutes,
            "max_days_ahead": max_days_ahead, "members": [member],
        }
        res = self.call("PUT", f"workspaces/{ws}/calendars/{cal}", body)
        assert res.status_code in (200, 201), res.text
        return Calendar(ws, cal, slug, [user], tz, duration, body)

    def slots(self, slug: str, start: str, end: str, tz: str = "UTC") -> list[dict[str, str]]:
        """The free slots the public API lists."""
        res = self.call("GET", f"calendars/{slug}/slots", params={"start": start, "end": end, "timezone": tz})
        assert res.status_code == 200, res.text
        return list(res.json()["slots"])

    def work_create(self, cal: Calendar, booking_id: str) -> None:
        """The meeting worker's handling of intake's ``create`` (the worker is off in these tests): it decides
        the link state and puts the confirmation (custom and no location: no Graph call)."""
        from shared import bootstrap
        from shared.usecases.meetings import handle_meeting_message

        handle_meeting_message(bootstrap.container().meeting_deps(), {
            "op": "create", "workspace": cal.workspace, "host": cal.users[0], "booking_id": booking_id,
            "revision": 1})

    def bookings_of(self, cal: Calendar, user: str | None = None) -> list[dict[str, Any]]:
        """Booking rows stored in a host's ``schedule`` partition."""
        pk = f"{cal.workspace}|{user or cal.users[0]}"
        return list(self.store.query("schedule", pk, row_key_from="booking|", row_key_to="booking}"))


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


@pytest.fixture(scope="package")
def stack(azurite: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The local host on Azurite with the SMTP sink and the widget's "other site", torn down after the package."""
    from devhost.functions_host import FunctionsHost, private_app
    from devhost.googlestandin import GoogleStandIn
    from devhost.settings_loader import load_host_json
    from devhost.smoke import RAISED_RATE_LIMITS
    from devhost.smtp_sink import SmtpSink
    from devhost.static_server import StaticServer
    from shared import bootstrap

    smtp = SmtpSink(tmp_path_factory.mktemp("outbox"), port=0).start()
    site = StaticServer("http://127.0.0.1:1/api/widget.js").start()
    google = GoogleStandIn().start()
    env = {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "AzureWebJobsStorage": azurite.connection_string,
        "LINK_SIGNING_KEY": secrets.token_urlsafe(32),
        "TOKEN_ENCRYPTION_KEYS": _fernet_key(),
        "CORS_ALLOWED_ORIGINS": site.origin,
        "MAIL_TRANSPORT": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_STARTTLS": "false",
        **RAISED_RATE_LIMITS,
        "BOOKING_FORM_MIN_FILL_MS": "0",  # the tests fill the form faster than a person
        "GOOGLE_CLIENT_ID": google.client_id, "GOOGLE_CLIENT_SECRET": google.client_secret,
        "GOOGLE_AUTHORIZATION_ENDPOINT": google.authorization_endpoint,
        "GOOGLE_TOKEN_ENDPOINT": google.token_endpoint, "GOOGLE_CALENDAR_BASE_URL": google.calendar_base_url,
    }
    saved = {name: os.environ.get(name) for name in [*env, "PUBLIC_BASE_URL"]}
    os.environ.update(env)
    bootstrap.install(None)
    settings = {**os.environ, "AzureWebJobs.meetings_worker.Disabled": "true",
                "AzureWebJobs.meetings_poison.Disabled": "true"}
    host = FunctionsHost(private_app(ROOT), settings, load_host_json(ROOT), port=0, function_directory=ROOT)
    try:
        host.start()
        os.environ["PUBLIC_BASE_URL"] = host.base_url
        site.widget_src = f"{host.base_url}/api/widget.js"
        yield Stack(host, site, smtp, bootstrap.container().store, google)
    finally:
        host.stop()
        google.stop()
        site.stop()
        smtp.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        bootstrap.install(None)


# ------------------------------------------------------------------------------------ the browser
def chromium_executable() -> str:
    """Debian's Chromium (or ``BOOKBRIDGE_CHROMIUM``); a failure, never a skip, when it is missing."""
    given = os.environ.get(CHROMIUM_ENV)
    path = given or shutil.which("chromium")
    if not path or not os.access(path, os.X_OK):
        what = f"{CHROMIUM_ENV}={given} is not an executable file" if given else "Chromium is not installed"
        pytest.fail(
            f"{what}, so the browser tests cannot run. Install Debian's package with `make browser` "
            f"(as root: apt-get install chromium) or point {CHROMIUM_ENV} at a Chromium binary. "
            "Playwright's own browser downloads are not used.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), launched by Playwright with ``executable_path``."""
    executable = chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - requirements-dev.txt pins playwright
        pytest.fail("the playwright Python package is missing: run `make setup`", pytrace=False)
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """A factory of pages, each in a fresh context (``timezone_id``, ``locale``, viewport options)."""
    contexts: list[Any] = []

    def make(*, timezone_id: str = "Europe/London", locale: str = "en-GB", width: int = 1100,
             height: int = 900, **options: Any) -> Any:
        context = browser.new_context(timezone_id=timezone_id, locale=locale,
                                      viewport={"width": width, "height": height}, **options)
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.console_errors = []  # type: ignore[attr-defined]
        page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """The folder screenshots are written to (ignored by git)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
