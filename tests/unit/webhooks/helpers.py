"""Builders of the webhook unit tests: deps over the fakes of our ports, a real cipher, a resolver."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.adapters.token_cipher import TokenCipher
from shared.adapters.webhook_sender import WebhookSender
from shared.ports import WebhookAnswer
from shared.repositories.workspaces import put_workspace
from shared.usecases.webhooks import WebhookDeps
from tests.fakes import FixedClock, InMemoryEntityStore, InMemoryMessageQueue

SECRET = "whsec-0123456789abcdef"
RECEIVER = "https://hooks.example.com/bookbridge"


@dataclass
class Resolving:
    """The real sender with DNS answered by the test (``addresses`` per host; public by default)."""

    addresses: dict[str, list[str]] = field(default_factory=dict)
    sender: WebhookSender = field(default_factory=WebhookSender)

    def resolve(self, host: str, port: int) -> list[str]:
        return self.addresses.get(host, ["93.184.215.14"])

    posted_to: list[str | None] = field(default_factory=list)

    def post(self, url: str, body: bytes, headers: Any, address: str | None = None) -> WebhookAnswer:
        self.posted_to.append(address)
        return self.sender.post(url, body, headers, address)


def make_deps(*, local: bool = False) -> WebhookDeps:
    store = InMemoryEntityStore()
    put_workspace(store, "acme", "Acme", "2026-11-23T08:00:00Z")
    return WebhookDeps(store=store, queue=InMemoryMessageQueue(), clock=FixedClock(),
                       cipher=TokenCipher([TokenCipher.generate_key()]), transport=Resolving(),
                       local_development=local)
