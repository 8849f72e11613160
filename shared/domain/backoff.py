"""The one back-off curve of bookbridge: exponential, with jitter, capped.

Attempt 1 waits ``first`` to ``2*first`` seconds, attempt 2 twice that, ... never more than ``cap``.
The jitter spreads retries of many messages that failed together; ``uniform`` is injectable for tests.
"""
from __future__ import annotations

import random
from collections.abc import Callable


def default_backoff(attempt: int, *, first: float = 1.0, cap: float = 300.0,
                    uniform: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait after ``attempt`` (1-based) failed: ``first * 2**(attempt-1)`` to twice that, at most ``cap``."""
    top = min(cap, 2.0 * first * 2.0 ** max(0, attempt - 1))
    return top / 2 + uniform(0, top / 2)
