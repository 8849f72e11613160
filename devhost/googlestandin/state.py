"""The Google stand-in's live state: accounts, grants, tokens, events, injected failures, the request log."""
from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ACCOUNTS = (
    {"email": "gina@example.com", "name": "Gina Google"},
    {"email": "gus@example.com", "name": "Gus Google"},
)


@dataclass
class Account:
    """A Google account of the stand-in (``sub`` is Google's stable account id)."""

    email: str
    name: str
    sub: str = field(default_factory=lambda: str(secrets.randbelow(10**20) + 10**20))
    hd: str = ""


@dataclass
class Grant:
    """What a consent gave a client: the account and the scopes; the refresh token lives while not revoked."""

    email: str
    client_id: str
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass
class Code:
    """A one-time authorization code and what it was issued for (PKCE challenge included)."""

    email: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    challenge: str
    challenge_method: str
    nonce: str
    offline: bool
    used: bool = False


@dataclass
class Failure:
    """Fail the next ``count`` requests whose path matches ``path_regex`` (and method, when given)."""

    path_regex: str
    status: int
    count: int = 1
    method: str | None = None
    retry_after: int | None = None
    reason: str | None = None


class State:
    """Everything the stand-in remembers; every method takes the lock."""

    def __init__(self, accounts: list[Account], clients: dict[str, str]) -> None:
        self.lock = threading.RLock()
        self.accounts = {a.email.lower(): a for a in accounts}
        self.clients = dict(clients)
        self.codes: dict[str, Code] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.access_tokens: dict[str, tuple[Grant, float]] = {}
        self.events: dict[str, dict[str, dict[str, Any]]] = {}   # email -> event id -> event
        self.conferences: dict[str, dict[str, Any]] = {}         # email|requestId -> conferenceData
        self.invitations: list[dict[str, Any]] = []
        self.failures: list[Failure] = []
        self.log: list[dict[str, Any]] = []

    def account(self, email: str) -> Account | None:
        with self.lock:
            return self.accounts.get(email.lower())

    def add_account(self, email: str, name: str) -> Account:
        with self.lock:
            account = self.accounts.get(email.lower()) or Account(email, name)
            self.accounts[email.lower()] = account
            self.events.setdefault(email.lower(), {})
            return account

    def issue_access_token(self, grant: Grant, now: float, lifetime: int = 3599) -> str:
        token = "ya29.standin-" + secrets.token_urlsafe(24)
        with self.lock:
            self.access_tokens[token] = (grant, now + lifetime)
        return token

    def grant_of(self, access_token: str, now: float) -> Grant | None:
        with self.lock:
            found = self.access_tokens.get(access_token)
        if found is None or found[1] <= now or found[0].revoked:
            return None
        return found[0]

    def revoke(self, email: str) -> int:
        """Revoke every grant of an account (refresh and access tokens stop working); how many."""
        with self.lock:
            grants = [g for g in self.refresh_tokens.values() if g.email.lower() == email.lower() and not g.revoked]
            for grant in grants:
                grant.revoked = True
            return len(grants)

    def take_failure(self, method: str, path: str) -> Failure | None:
        with self.lock:
            for rule in self.failures:
                if rule.count > 0 and re.search(rule.path_regex, path) and rule.method in (None, method):
                    rule.count -= 1
                    return rule
            return None

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.log.append(entry)
            del self.log[:-2000]

    def calendar(self, email: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return self.events.setdefault(email.lower(), {})

    def reset(self) -> None:
        with self.lock:
            self.codes.clear()
            self.refresh_tokens.clear()
            self.access_tokens.clear()
            self.conferences.clear()
            self.invitations.clear()
            self.failures.clear()
            self.log.clear()
            for email in self.events:
                self.events[email] = {}
