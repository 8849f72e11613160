"""``WebhookTransport`` over ``requests``: one POST with short timeouts, redirects never followed, proxies from
the environment ignored; a receiver's failure is an answer (``WebhookAnswer``), never an exception.

A POST given the ``address`` the caller checked connects to that address and no other (the name is not
resolved again: a DNS answer that changes between the check and the connection, "DNS rebinding", cannot
turn a webhook towards a private address). The request still names the receiver's host: the ``Host``
header, and for https the TLS server name (SNI) and the certificate's host name check."""
from __future__ import annotations

import functools
import socket
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from shared.ports import WebhookAnswer

#: (connect, read) seconds: a slow receiver costs the worker at most this, never a booking.
TIMEOUTS = (3.05, 10.0)


class WebhookSender:
    """Posts webhook bodies with one ``requests.Session`` (no cookies kept between receivers)."""

    def __init__(self, session: Any | None = None, *, timeouts: tuple[float, float] = TIMEOUTS,
                 verify: str | bool = True) -> None:
        self._session = session or _session()
        self._timeouts = timeouts
        self._verify = verify  # a CA bundle path (tests), else the default trust store

    def resolve(self, host: str, port: int) -> list[str]:
        """The host's addresses (empty when it does not resolve)."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return []
        return sorted({str(info[4][0]) for info in infos})

    def post(self, url: str, body: bytes, headers: Mapping[str, str], address: str | None = None) -> WebhookAnswer:
        """One POST (to ``address`` when given); ``status`` ``None`` with the error's class name when the
        receiver did not answer."""
        import requests

        started = time.monotonic()
        session, sent = self._session, dict(headers)
        if address is not None:
            session = _session(_pinned_adapter(address))
            sent["Host"] = str(urlsplit(url).netloc.rpartition("@")[2])
        try:
            response = session.post(url, data=body, headers=sent, timeout=self._timeouts, allow_redirects=False,
                                    stream=True, verify=self._verify)
            response.close()  # the body is never read: a receiver cannot make us download anything
        except requests.Timeout:
            return WebhookAnswer(None, "timeout", _ms(started))
        except requests.RequestException as exc:
            return WebhookAnswer(None, type(exc).__name__, _ms(started))
        finally:
            if session is not self._session:
                session.close()
        return WebhookAnswer(int(response.status_code), None, _ms(started))


def _session(adapter: Any | None = None) -> Any:
    import requests

    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: the address checked is the one reached
    if adapter is not None:
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


@functools.cache
def _pinned_adapter_class() -> type:
    from requests.adapters import HTTPAdapter

    class PinnedAdapter(HTTPAdapter):
        """Connects to one address whatever the URL's host resolves to; TLS still checks the URL's host."""

        def __init__(self, address: str) -> None:
            super().__init__(max_retries=0)
            self.address = address

        def get_connection_with_tls_context(self, request: Any, verify: Any, proxies: Any = None,
                                            cert: Any = None) -> Any:
            host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
            if host_params["scheme"] == "https":
                pool_kwargs = {**pool_kwargs, "server_hostname": host_params["host"],
                               "assert_hostname": host_params["host"]}
            return self.poolmanager.connection_from_host(self.address, port=host_params["port"],
                                                         scheme=host_params["scheme"], pool_kwargs=pool_kwargs)

    return PinnedAdapter


def _pinned_adapter(address: str) -> Any:
    """An adapter connecting to ``address`` (its class is built on first use: requests is imported lazily)."""
    return _pinned_adapter_class()(address)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
