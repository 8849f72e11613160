"""Read, change, write if the ETag still matches, retry: the one optimistic-concurrency loop.

Every ETag-guarded write in bookbridge goes through :func:`optimistic_update`: ``read()`` the entity,
``write(current)`` the change (a conditional insert, replace, merge or transaction), and when the write
lost a race (one of ``races``: the ETag changed, the row was inserted or deleted meanwhile, or
:class:`ReadAgain`) read again and retry, at most :data:`WRITE_ATTEMPTS` times. A ``write`` that finds
nothing to change returns without writing. Reads are not guarded: an error there ends the loop.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from shared.errors import ConcurrencyConflict

T = TypeVar("T")
R = TypeVar("R")

#: Lost races tolerated on one write before giving up with ``ConcurrencyConflict`` (a transient error).
WRITE_ATTEMPTS = 8


class ReadAgain(Exception):
    """Raised by a ``write`` that found the state it read already gone (read again and retry)."""


def optimistic_update(read: Callable[[], T], write: Callable[[T], R], *, what: str,
                      races: tuple[type[Exception], ...] = (ConcurrencyConflict,),
                      attempts: int = WRITE_ATTEMPTS, retry_after: float | None = None) -> R:
    """``write(read())``, read again and retried while the write loses a race; ``ConcurrencyConflict``
    (``"{what} kept changing"``, with ``retry_after``) after ``attempts`` lost races."""
    for _ in range(attempts):
        current = read()
        try:
            return write(current)
        except ReadAgain:
            continue
        except races:
            continue
    raise ConcurrencyConflict(f"{what} kept changing; try again", retry_after=retry_after)


def starting_with(value: T, read: Callable[[], T]) -> Callable[[], T]:
    """A ``read`` that returns ``value`` first (what the caller already holds, or ``None`` to try an insert
    before any read), then calls ``read``."""
    pending = [value]

    def reader() -> T:
        return pending.pop() if pending else read()

    return reader
