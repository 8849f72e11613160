"""Thread-safe in-memory state of the stand-in: accounts, codes, tokens, mailboxes, knobs, log."""
from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

PERSONAL_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
ACCOUNT_KINDS = ("work", "work_no_teams", "personal")
DEFAULT_ACCOUNTS_PATH = Path(__file__).with_name("accounts.json")


@dataclass(frozen=True)
class CalendarInfo:
    """One calendar of a mailbox."""

    id: str
    name: str
    is_default: bool
    allows_teams: bool = True
    """Whether the calendar lists ``teamsForBusiness`` in ``allowedOnlineMeetingProviders`` (an administrator
    can set a calendar up without it; the account must also have Teams)."""


@dataclass(frozen=True)
class Account:
    """A test account: identity claims, kind and calendars."""

    upn: str
    display_name: str
    given_name: str
    surname: str
    oid: str
    tid: str
    kind: str
    time_zone: str
    calendars: tuple[CalendarInfo, ...]
    mail: str = ""
    """The mailbox's SMTP address when it differs from the sign-in name (``user.mail``; default: the UPN)."""

    @property
    def mailbox(self) -> str:
        """The SMTP address free/busy resolves (``mail``, else the UPN)."""
        return (self.mail or self.upn).lower()

    @property
    def calendar_id(self) -> str:
        """The primary calendar's id."""
        return next(c.id for c in self.calendars if c.is_default)

    @property
    def has_teams(self) -> bool:
        """Whether Teams meetings can be created (work accounts with Teams only)."""
        return self.kind == "work"

    @property
    def is_personal(self) -> bool:
        """A personal Microsoft account (consumer tenant, idp live.com)."""
        return self.kind == "personal"

    def public(self) -> dict[str, Any]:
        """The ``/_sandbox/accounts`` view."""
        return {"upn": self.upn, "mail": self.mailbox, "tenant_id": self.tid, "oid": self.oid, "kind": self.kind,
                "display_name": self.display_name, "time_zone": self.time_zone,
                "calendar_id": self.calendar_id,
                "calendars": [{"id": c.id, "name": c.name, "is_default": c.is_default,
                               "allows_teams": self.has_teams and c.allows_teams} for c in self.calendars]}

    def calendar(self, cid: str) -> CalendarInfo | None:
        """One of the account's calendars by id."""
        return next((c for c in self.calendars if c.id == cid), None)

    def calendar_allows_teams(self, cid: str) -> bool:
        """Whether an event of calendar ``cid`` can get a Teams meeting (Teams licence and the calendar's providers)."""
        info = self.calendar(cid)
        return self.has_teams and info is not None and info.allows_teams


def load_accounts(path: str | Path | None = None) -> list[Account]:
    """Read the accounts fixture (default: ``accounts.json`` beside this module)."""
    with open(path or DEFAULT_ACCOUNTS_PATH, encoding="utf-8") as fh:
        raw = json.load(fh)
    return [account_from_dict(a) for a in raw["accounts"]]


def account_from_dict(a: dict[str, Any]) -> Account:
    """One fixture entry -> :class:`Account` (validates ``kind``)."""
    if a.get("kind") not in ACCOUNT_KINDS:
        raise ValueError(f"account {a.get('upn')!r}: kind must be one of {ACCOUNT_KINDS}")
    cals = [CalendarInfo(a["calendar_id"], "Calendar", True)]
    cals += [CalendarInfo(c["id"], c.get("name", "Calendar"), False,
                          "teamsForBusiness" in c.get("allowedOnlineMeetingProviders", ["teamsForBusiness"]))
             for c in a.get("extra_calendars", [])]
    return Account(a["upn"], a["display_name"], a.get("given_name", ""), a.get("surname", ""), a["oid"],
                   a["tid"], a["kind"], a.get("time_zone", "UTC"), tuple(cals), str(a.get("mail") or ""))


@dataclass
class AuthCode:
    """An issued authorization code and what it was issued for."""

    code: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    nonce: str | None
    challenge: str | None
    challenge_method: str | None
    upn: str
    expires_at: float
    used: bool = False


@dataclass
class TokenRecord:
    """An access or refresh token (opaque strings) and its grant."""

    token: str
    kind: str
    upn: str
    client_id: str
    scopes: tuple[str, ...]
    issued_at: float
    expires_at: float
    revoked: str | None = None


@dataclass
class StoredEvent:
    """An event in a mailbox: its Graph body plus indexes the stand-in needs."""

    id: str
    calendar_id: str
    data: dict[str, Any]
    start: datetime
    end: datetime
    origin: str = "app"


@dataclass
class Mailbox:
    """One account's calendars, meetings and de-duplication indexes."""

    events: dict[str, StoredEvent] = field(default_factory=dict)
    transactions: dict[str, str] = field(default_factory=dict)
    meetings: dict[str, dict[str, Any]] = field(default_factory=dict)
    external_ids: dict[str, str] = field(default_factory=dict)
    removed: list[dict[str, Any]] = field(default_factory=list)
    #: ``(seq, event id)`` of every create, update and removal, in order (``calendarView/delta`` reads it).
    changes: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class FailureRule:
    """Inject ``remaining`` failures with ``status`` on requests matching method and path."""

    id: str
    pattern: str
    method: str | None
    status: int
    remaining: int
    retry_after: int | None = None
    code: str | None = None
    message: str | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to the request."""
        if self.remaining <= 0 or (self.method and self.method.upper() != method.upper()):
            return False
        return re.search(self.pattern, path) is not None

    def public(self) -> dict[str, Any]:
        """JSON view."""
        return asdict(self)


@dataclass
class Config:
    """Realism knobs, changeable at run time through ``/_sandbox/config``."""

    latency_ms: int = 0
    max_concurrent_per_mailbox: int = 4
    admin_consent: str = "grant"
    access_token_lifetime_s: int = 3599
    refresh_token_lifetime_s: int = 90 * 24 * 3600
    single_use_refresh_tokens: bool = False
    #: A tenant meeting policy: the lobby scope every online meeting keeps whatever a PATCH asks ("" = none).
    lobby_bypass_policy: str = ""

    def update(self, values: dict[str, Any]) -> list[str]:
        """Apply known keys; returns the problems (nothing is applied if there are any)."""
        problems = [f"unknown key {k!r}" for k in values if k not in self.__dataclass_fields__]
        for k, v in values.items():
            if k not in self.__dataclass_fields__:
                continue
            current = getattr(self, k)
            if isinstance(current, bool) != isinstance(v, bool) or not isinstance(v, type(current)):
                problems.append(f"{k} must be a {type(current).__name__}")
            elif isinstance(v, int) and not isinstance(v, bool) and v < 0:
                problems.append(f"{k} must not be negative")
        if values.get("admin_consent", "grant") not in ("grant", "deny"):
            problems.append("admin_consent must be 'grant' or 'deny'")
        if values.get("lobby_bypass_policy", "") not in ("", "organizer", "organization", "everyone"):
            problems.append("lobby_bypass_policy must be '', 'organizer', 'organization' or 'everyone'")
        if not problems:
            for k, v in values.items():
                setattr(self, k, v)
        return problems


def new_id(prefix: str = "", nbytes: int = 24) -> str:
    """A random URL-safe id (Graph-looking when given an ``AAMk`` style prefix)."""
    return prefix + secrets.token_urlsafe(nbytes).replace("-", "A").replace("_", "B")


class State:
    """All mutable state behind one re-entrant lock (``with state.lock:``)."""

    def __init__(self, accounts: Iterable[Account], clients: Mapping[str, str | None], config: Config) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {a.upn.lower(): a for a in accounts}
        self.initial_accounts = dict(self.accounts)
        self.clients: dict[str, str | None] = dict(clients)
        self.initial_config = Config(**asdict(config))
        self.config = config
        self.codes: dict[str, AuthCode] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.mailboxes: dict[str, Mailbox] = {}
        self.failures: list[FailureRule] = []
        self.log: list[dict[str, Any]] = []
        self.inflight: dict[tuple[str, str], int] = {}
        self.join_links: dict[str, dict[str, Any]] = {}
        self.consents: list[dict[str, Any]] = []
        #: Graph change-notification subscriptions by id (``graph_subscriptions.py``).
        self.subscriptions: dict[str, dict[str, Any]] = {}
        #: Every notification (validation, change, lifecycle) the stand-in delivered, and its answer.
        self.deliveries: list[dict[str, Any]] = []
        self.change_seq = 0
        self._seq = 0

    def reset(self) -> None:
        """Forget everything except accounts and clients; knobs back to their start values."""
        with self.lock:
            self.config = Config(**asdict(self.initial_config))
            self.accounts = dict(self.initial_accounts)  # calendars added through the sandbox go
            for store in (self.codes, self.tokens, self.mailboxes, self.join_links, self.subscriptions):
                store.clear()
            self.failures.clear()
            self.log.clear()
            self.consents.clear()
            self.deliveries.clear()

    # -- accounts --------------------------------------------------------------------------------
    def account(self, key: str | None) -> Account | None:
        """An account by UPN (case-insensitive) or object id."""
        if not key:
            return None
        with self.lock:
            found = self.accounts.get(key.lower())
            return found or next((a for a in self.accounts.values() if a.oid == key.lower()), None)

    def by_mailbox(self, address: str | None) -> Account | None:
        """The account whose mailbox (``mail``, else UPN) is ``address`` (case-insensitive)."""
        if not address:
            return None
        with self.lock:
            return next((a for a in self.accounts.values() if a.mailbox == address.strip().lower()), None)

    def add_calendar(self, upn: str, name: str, allows_teams: bool) -> CalendarInfo:
        """Add a (non-default) calendar to an account; it allows Teams meetings only when ``allows_teams``."""
        with self.lock:
            account = self.accounts[upn.lower()]
            info = CalendarInfo(new_id("AAMkAD", 30), name, False, allows_teams)
            self.accounts[upn.lower()] = replace(account, calendars=(*account.calendars, info))
            return info

    def tenant_ids(self) -> set[str]:
        """Tenant ids of all accounts."""
        return {a.tid for a in self.accounts.values()}

    # -- codes and tokens ------------------------------------------------------------------------
    def add_code(self, **fields: Any) -> AuthCode:
        """Issue an authorization code valid for 10 minutes."""
        code = AuthCode(code="1.A" + new_id(nbytes=48), expires_at=time.time() + 600, **fields)
        with self.lock:
            self.codes[code.code] = code
        return code

    def redeem_code(self, code: str) -> tuple[AuthCode | None, bool]:
        """``(record, first_use)``: marks the code used."""
        with self.lock:
            rec = self.codes.get(code)
            if rec is None:
                return None, False
            first = not rec.used
            rec.used = True
            return rec, first

    def issue(self, kind: str, upn: str, client_id: str, scopes: Iterable[str]) -> TokenRecord:
        """Issue an opaque access (``kind="access"``) or refresh token."""
        now = time.time()
        with self.lock:
            life = (self.config.access_token_lifetime_s if kind == "access"
                    else self.config.refresh_token_lifetime_s)
            prefix = "EwA" if kind == "access" else "1.AXkA"
            rec = TokenRecord(prefix + new_id(nbytes=48), kind, upn.lower(), client_id, tuple(scopes), now, now + life)
            self.tokens[rec.token] = rec
            return rec

    def token(self, token: str, kind: str) -> TokenRecord | None:
        """A token record of ``kind`` (valid or not)."""
        with self.lock:
            rec = self.tokens.get(token)
            return rec if rec is not None and rec.kind == kind else None

    def revoke(self, upn: str, reason: str) -> int:
        """Revoke every token of an account; returns how many."""
        count = 0
        with self.lock:
            for rec in self.tokens.values():
                if rec.upn == upn.lower() and rec.revoked is None:
                    rec.revoked = reason
                    count += 1
        return count

    # -- mailboxes ---------------------------------------------------------------------------------
    def mailbox(self, upn: str) -> Mailbox:
        """The mailbox of an account (created on first use)."""
        with self.lock:
            return self.mailboxes.setdefault(upn.lower(), Mailbox())

    def add_join_link(self, base_url: str, upn: str, subject: str | None, kind: str, ref: str) -> str:
        """A new unique join URL served by the stand-in."""
        token = new_id(nbytes=18)
        with self.lock:
            self.join_links[token] = {"upn": upn.lower(), "subject": subject, "kind": kind, "ref": ref,
                                      "alive": True}
        return f"{base_url}/meet/{token}"

    def kill_join_link(self, url: str | None) -> None:
        """Mark a join URL dead (its meeting was deleted)."""
        if not url:
            return
        with self.lock:
            link = self.join_links.get(url.rstrip("/").rsplit("/", 1)[-1])
            if link:
                link["alive"] = False

    # -- failures, concurrency, log ------------------------------------------------------------------
    def add_failure(self, pattern: str, method: str | None, status: int, count: int,
                    retry_after: int | None, code: str | None, message: str | None) -> FailureRule:
        """Add a failure-injection rule (``pattern`` is validated as a regex)."""
        re.compile(pattern)
        rule = FailureRule(new_id(nbytes=6), pattern, method, status, count, retry_after, code, message)
        with self.lock:
            self.failures.append(rule)
        return rule

    def take_failure(self, method: str, path: str) -> FailureRule | None:
        """The first matching rule, with one use consumed."""
        with self.lock:
            for rule in self.failures:
                if rule.matches(method, path):
                    rule.remaining -= 1
                    return rule
        return None

    def enter(self, key: tuple[str, str]) -> bool:
        """Take a concurrency slot for (client, mailbox); False when all are in use."""
        with self.lock:
            current = self.inflight.get(key, 0)
            if current >= self.config.max_concurrent_per_mailbox:
                return False
            self.inflight[key] = current + 1
            return True

    def leave(self, key: tuple[str, str]) -> None:
        """Give a concurrency slot back."""
        with self.lock:
            self.inflight[key] = max(0, self.inflight.get(key, 0) - 1)

    def record(self, entry: dict[str, Any]) -> None:
        """Append to the request log (capped at 5,000 entries)."""
        with self.lock:
            self._seq += 1
            self.log.append({"seq": self._seq, **entry})
            del self.log[:-5000]


def b64url_json(data: dict[str, Any]) -> str:
    """Padding-less base64url of compact JSON (``client_info``)."""
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
