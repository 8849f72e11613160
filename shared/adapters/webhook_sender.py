"""``WebhookTransport`` over ``requests``: one POST with short timeouts, redirects never followed, proxies from
the environment ignored; a receiver's failure is an answer (``WebhookAnswer``), never an exception."""
from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any

from shared.ports import WebhookAnswer

#: (connect, read) seconds: a slow receiver costs the worker at most this, never a booking.
TIMEOUTS = (3.05, 10.0)


class WebhookSender:
    """Posts webhook bodies with one ``requests.Session`` (no cookies kept between receivers)."""

    def __init__(self, session: Any | None = None, *, timeouts: tuple[float, float] = TIMEOUTS) -> None:
        if session is None:
            import requests

            session = requests.Session()
            session.trust_env = False  # no proxy from the environment: the address checked is the one reached
        self._session = session
        self._timeouts = timeouts

    def resolve(self, host: str, port: int) -> list[str]:
        """The host's addresses (empty when it does not resolve)."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return []
        return sorted({str(info[4][0]) for info in infos})

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
        """One POST; ``status`` ``None`` with the error's class name when the receiver did not answer."""
        import requests

        started = time.monotonic()
        try:
            response = self._session.post(url, data=body, headers=dict(headers), timeout=self._timeouts,
                                          allow_redirects=False, stream=True)
            response.close()  # the body is never read: a receiver cannot make us download anything
        except requests.Timeout:
            return WebhookAnswer(None, "timeout", _ms(started))
        except requests.RequestException as exc:
            return WebhookAnswer(None, type(exc).__name__, _ms(started))
        return WebhookAnswer(int(response.status_code), None, _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
