"""A small in-process cache of Graph access tokens (one per process, owned by the bootstrap container).

``shared.usecases.connections.get_access_token`` uses it to skip the token-cache row read, the Fernet
decryption and the MSAL lookup when it already holds a token for the slot. It is only a shortcut: the
use case still point-reads the connection row on every call and takes a cached token ONLY when that row
is ``connected`` with the same ``connected_generation`` and account (oid, tid) as when the token was
obtained, and the token has more than :data:`MIN_REMAINING` left. A disconnect, ``needs_reauth`` or a
reconnect (any account) is therefore noticed at once by every instance.

Bounded (LRU, :data:`MAX_ENTRIES`), thread-safe, never persisted, never logged (no ``repr`` shows a token).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

MAX_ENTRIES = 2048
MIN_REMAINING = timedelta(minutes=5)
"""A cached token is used only while it has more than this left (MSAL's own refresh margin)."""

Key = tuple[str, str, str]
"""``(workspace, user, kind)``."""


@dataclass(frozen=True)
class CachedToken:
    """One slot's access token and the connection identity it was obtained for."""

    access_token: str = field(repr=False)
    expires_at: datetime
    generation: int
    account_oid: str
    account_tid: str
    refresh_on: datetime | None = None
    """When Microsoft asked for an early refresh (``refresh_in``); the entry is not used past it."""

    def usable(self, *, generation: int, account_oid: str, account_tid: str, now: datetime) -> bool:
        """Same connection identity, and more than :data:`MIN_REMAINING` left."""
        if (generation, account_oid, account_tid) != (self.generation, self.account_oid, self.account_tid):
            return False
        if self.refresh_on is not None and now >= self.refresh_on:
            return False
        return self.expires_at - now > MIN_REMAINING


class AccessTokenCache:
    """An LRU of :class:`CachedToken` keyed by ``(workspace, user, kind)``; safe to share between threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._entries: OrderedDict[Key, CachedToken] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows a token
        return f"AccessTokenCache(entries={len(self)}, max_entries={self._max})"

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, key: Key) -> CachedToken | None:
        """The entry of ``key`` (marked recently used), or ``None``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def lookup(self, key: Key, *, generation: int, account_oid: str, account_tid: str,
               now: datetime) -> str | None:
        """The cached token when :meth:`CachedToken.usable` for this identity and time; else ``None``
        (an unusable entry is evicted)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if not entry.usable(generation=generation, account_oid=account_oid, account_tid=account_tid, now=now):
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.access_token

    def put(self, key: Key, entry: CachedToken) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def remember(self, key: Key, access_token: str, *, expires_at: datetime, generation: int, account_oid: str,
                 account_tid: str, refresh_on: datetime | None = None) -> None:
        """Keep ``access_token`` for the connection identity it was obtained for."""
        self.put(key, CachedToken(access_token, expires_at, generation, account_oid, account_tid, refresh_on))

    def evict(self, key: Key) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
