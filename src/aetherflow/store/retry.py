"""Retry SQLite work that another process's lock got in the way of.

SQLite's busy timeout makes a connection wait for a lock, but some conflicts return
``SQLITE_BUSY`` / ``database is locked`` at once (a WAL recovery in progress, a journal-mode
change, a checkpoint racing a writer). :func:`retry_busy` re-runs the whole unit of work
after a jittered exponential backoff until it succeeds or a deadline passes; every other
error propagates unchanged.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["BusyPolicy", "is_busy", "retry_busy"]

_T = TypeVar("_T")

_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


@dataclass
class BusyPolicy:
    """How long SQLite waits for a lock itself (``timeout_ms``, its busy timeout), how long
    to keep retrying a whole transaction after that (``deadline_s``), and the backoff shape.

    The n-th wait is uniform in ``[0, min(max_delay, first_delay * 2**n)]`` ("full
    jitter"), so processes that collided once do not collide again in lock step.
    ``retries`` counts the retries made so far (for tests and diagnostics).
    """

    timeout_ms: int = 5000
    deadline_s: float = 60.0
    first_delay_s: float = 0.005
    max_delay_s: float = 0.5
    retries: int = 0

    def delay(self, attempt: int) -> float:
        """The jittered wait before retry number ``attempt`` (0-based)."""
        cap = min(self.max_delay_s, self.first_delay_s * (2 ** min(attempt, 30)))
        return random.uniform(0.0, cap)


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying another connection holds a lock it needs."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and (code & 0xFF) in _BUSY_CODES:
        return True
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text


def retry_busy(work: Callable[[], _T], policy: BusyPolicy) -> _T:
    """Run ``work`` until it does not fail with a busy/locked error, or the deadline passes.

    ``work`` must be safe to run again from the start (a whole transaction, rolled back on
    failure). The last busy error is raised when the deadline is over.
    """
    deadline = time.monotonic() + policy.deadline_s
    attempt = 0
    while True:
        try:
            return work()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(policy.delay(attempt))
        attempt += 1
        policy.retries += 1
